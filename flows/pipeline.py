"""The scheduled end-to-end flow: DVC rebuilds what changed, MLflow records the run.

ingest -> curate -> dedup -> tokenizer -> tokenize -> train -> evaluate -> register. Every stage
is a DVC stage whose command runs its own Prefect flow; this flow drives `dvc repro` (or `dvc
exp run -S key=value` for overrides), so a rerun with nothing changed does no work and a changed
param reruns exactly the stages that depend on it. Stage flows report to the same Prefect API
as subflows of this flow's run (flows/linking.py) and nest their MLflow runs under this flow's
run, which carries only the headline figures, the eval report and the registered model.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.context import get_run_context

from flows.linking import PARENT_FLOW_RUN_ENV
from warc2gpt.config import load_params
from warc2gpt.offline import apply_offline_defaults, share_prefect_api
from warc2gpt.pipeline_report import (
    collect_metrics,
    headline_metrics,
    key_params,
    run_name,
    stale_stages,
    where_to_look,
)
from warc2gpt.tracking import tracking_uri

apply_offline_defaults()

STAGES = ["ingest", "curate", "dedup", "tokenizer", "tokenize", "train", "evaluate", "register"]
RAN = re.compile(r"Running stage '([\w-]+)'")
SKIPPED = re.compile(r"Stage '([\w-]+)' didn't change, skipping")


class StageFailed(RuntimeError):
    """A DVC stage exited with an error; the message carries that stage's own last lines."""


def _prefect_api_url() -> str:
    """The API this flow reports to (the temporary server too), for the stage subprocesses."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return str(client.api_url).rstrip("/")


def _prefect_ui_url() -> str | None:
    """The UI of a server the user named; None for the temporary server, which dies with the
    run (its history stays in PREFECT_HOME for `prefect server start`)."""
    if not os.environ.get("PREFECT_API_URL"):
        return None  # `prefect server start` serves the history on 4200
    from prefect.settings import PREFECT_UI_URL

    return PREFECT_UI_URL.value()


def _git_revision() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def dvc_command(overrides: list[str], force: bool, targets: list[str]) -> list[str]:
    """`dvc repro`, or `dvc exp run -S ++k=v ...` when params are overridden.

    `++` adds the key to params.yaml or replaces it there: params.yaml holds only what differs
    from the defaults, so an override usually names a key the file does not have yet.
    """
    if overrides:
        cmd = ["dvc", "exp", "run"]
        for item in overrides:
            cmd += ["-S", item if item.startswith("+") else f"++{item}"]
    else:
        cmd = ["dvc", "repro"]
    if force:
        cmd.append("--force")
    return cmd + targets


@task(name="dvc-repro", retries=0)
def run_dvc(cmd: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run DVC, streaming its output; returns which stages ran and which were up to date."""
    logger = get_run_logger()
    logger.info("running %s", " ".join(cmd))
    started = time.perf_counter()
    lines: list[str] = []
    process = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, bufsize=1
    )
    assert process.stdout is not None
    for line in process.stdout:
        sys.stdout.write(line)
        lines.append(line.rstrip("\n"))
    code = process.wait()
    output = "\n".join(lines)
    ran = RAN.findall(output)
    if code != 0:
        stage = ran[-1] if ran else "dvc"
        tail = "\n".join(lines[-25:])
        raise StageFailed(f"stage {stage} failed (exit {code}); its last output:\n{tail}")
    return {
        "ran": ran,
        "skipped": SKIPPED.findall(output),
        "seconds": round(time.perf_counter() - started, 2),
    }


@contextmanager
def pipeline_mlflow_run(params, overrides: list[str]) -> Iterator[Any]:
    """The pipeline's MLflow run (None when tracking is off), named by its start time and
    overrides; a failed stage leaves it FAILED."""
    if not params.tracking.enabled:
        yield None
        return
    import mlflow

    mlflow.set_tracking_uri(tracking_uri(params.tracking))
    mlflow.set_experiment(params.tracking.experiment)
    started = datetime.now().strftime("%Y-%m-%d %H:%M")
    with mlflow.start_run(run_name=run_name(started, overrides)) as run:
        mlflow.set_tags(
            {
                "warc2gpt.stage": "pipeline",
                "git_revision": _git_revision(),
                "overrides": " ".join(overrides),
            }
        )
        mlflow.log_params(key_params(params, overrides))
        yield run


def log_outcome(params, result: dict, metrics: dict, report: str) -> None:
    """The headline figures, the eval report and loss plot, the model version, dvc.lock."""
    import mlflow

    mlflow.log_metrics(headline_metrics(metrics))
    mlflow.set_tag("stages_ran", ",".join(result["ran"]) or "none")
    register = metrics.get("register", {})
    if register.get("challenger_version"):
        name, version = register.get("model_name", "warc2gpt"), register["challenger_version"]
        mlflow.set_tags(
            {
                "model_version": str(version),
                "model_uri": register.get("model_uri", f"models:/{name}/{version}"),
                "model_promoted": str(register.get("promoted", False)).lower(),
                # the run page's description, with a link to the version in the MLflow UI
                "mlflow.note.content": f"Registered [{name} version {version}]"
                f"(#/models/{name}/versions/{version}).\n\n{report}",
            }
        )
    report_dir = Path(params.evaluate.report_dir)
    for path in [Path("dvc.lock"), report_dir / "eval.md", *sorted(report_dir.glob("*.png"))]:
        if path.is_file():
            mlflow.log_artifact(str(path))
    mlflow.log_text(report, "pipeline.md")


def increment_commands(stale: list[str], then: list[str]) -> list[list[str]]:
    """What one increment runs: ingest forced (it takes the next `ingest.per_run` files, or
    changes nothing when none is new), then `then` (`dvc repro`: what that made stale). When
    the last increment did not finish (some stage is stale), `then` finishes it first, on the
    files it took, and no new files are taken."""
    if stale:
        return [then]
    return [["dvc", "repro", "--force", "--single-item", "ingest"], then]


@flow(name="warc2gpt-pipeline", log_prints=True)
def pipeline(
    overrides: list[str] | None = None,
    force: bool = False,
    targets: list[str] | None = None,
    params_path: str = "params.yaml",
    increment: bool = False,
) -> dict:
    """Run the stages that are stale (all with force), record the run, report where to look.

    With `increment` and `ingest.mode: increment`, take the next WARC files first and build on
    them; a run with nothing new trains nothing. In full mode it is a plain run.
    """
    overrides = list(overrides or [])
    params = load_params(params_path, overrides)  # a bad key fails here, before any work
    flow_run_id = str(get_run_context().flow_run.id)
    ui_url = _prefect_ui_url()
    env = dict(os.environ)
    share_prefect_api(env, _prefect_api_url())
    env[PARENT_FLOW_RUN_ENV] = flow_run_id  # stage flows become subflows of this run
    env.setdefault("PYTHONUNBUFFERED", "1")

    started = time.perf_counter()
    with pipeline_mlflow_run(params, overrides) as run:
        if run is not None:
            env["WARC2GPT_PARENT_RUN_ID"] = run.info.run_id
            env["MLFLOW_TRACKING_URI"] = tracking_uri(params.tracking)
        command = dvc_command(overrides, force, list(targets or []))
        if increment and params.ingest.mode == "increment":
            results = [run_dvc(cmd, env) for cmd in increment_commands(stale_stages(), command)]
            result = {
                "ran": list(dict.fromkeys(s for r in results for s in r["ran"])),
                "skipped": [s for s in results[-1]["skipped"] if s not in results[0]["ran"]],
                "seconds": round(sum(r["seconds"] for r in results), 2),
            }
        else:
            result = run_dvc(command, env)
        metrics = collect_metrics(params)
        result["wall_seconds"] = round(time.perf_counter() - started, 2)
        mlflow_run = (run.info.experiment_id, run.info.run_id) if run is not None else None
        report = where_to_look(
            params, result, metrics, tracking_uri(params.tracking), flow_run_id, ui_url, mlflow_run
        )
        if run is not None:
            log_outcome(params, result, metrics, report)
    print(report)
    create_markdown_artifact(
        key="pipeline-summary", markdown=report, description="what ran and where to look"
    )
    return result


def main(argv: list[str] | None = None) -> int:
    """`python -m flows.pipeline [--set k=v] [--force] [stages]`: the same as `warc2gpt pipeline`."""
    from warc2gpt.cli import main as cli_main

    return cli_main(["pipeline", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
