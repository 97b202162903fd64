"""Prefect flow for the register stage: log the model, register a challenger, run the gate."""

from __future__ import annotations

import json

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from flows.common import run_flow_cli
from warc2gpt.config import Params, load_params
from warc2gpt.registry.stage import format_decision, run_register


@task(name="register-model")
def register_task(params: Params) -> dict:
    return run_register(params)


@flow(name="register", log_prints=True)
def register_flow(params_path: str = "params.yaml", overrides: list[str] | None = None) -> dict:
    """A new registry version with alias `challenger`; `champion` moves if the gate allows."""
    params = load_params(params_path, overrides or [])
    result = register_task(params)
    summary = format_decision(result)
    print(summary)
    create_markdown_artifact(
        key="registry-decision",
        markdown=f"{summary}\n\n```json\n{json.dumps(result, indent=2)}\n```",
        description="the promotion gate's decision for the new model version",
    )
    return result


if __name__ == "__main__":
    raise SystemExit(run_flow_cli(register_flow, "Run the register stage as a Prefect flow."))
