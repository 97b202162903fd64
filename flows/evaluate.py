"""Prefect flow for the evaluate stage: val loss and bpb, tasks, samples, the report."""

from __future__ import annotations

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from flows.common import run_flow_cli
from warc2gpt.config import Params, load_params, to_dict
from warc2gpt.evaluate.stage import format_summary, run_evaluate
from warc2gpt.tracking import log_stage_metrics


@task(name="evaluate-model")
def evaluate_task(params: Params) -> tuple[dict, list[str]]:
    metrics, files = run_evaluate(params)
    return metrics, [str(f) for f in files]


@flow(name="evaluate", log_prints=True)
def evaluate_flow(params_path: str = "params.yaml", overrides: list[str] | None = None) -> dict:
    """Model + val shards -> metrics/eval.json and reports/, logged to MLflow and Prefect."""
    params = load_params(params_path, overrides or [])
    metrics, files = evaluate_task(params)
    print(format_summary(metrics))
    report = next(f for f in files if f.endswith(".md"))
    with open(report, encoding="utf-8") as fh:
        create_markdown_artifact(
            key="evaluation-report",
            markdown=fh.read(),
            description="val bits-per-byte, benchmark tasks and samples",
        )
    log_stage_metrics(
        "evaluate",
        params.tracking,
        to_dict(params.evaluate),
        metrics,
        artifacts=[params.evaluate.metrics, *files],
    )
    return metrics


if __name__ == "__main__":
    raise SystemExit(run_flow_cli(evaluate_flow, "Run the evaluate stage as a Prefect flow."))
