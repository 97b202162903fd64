"""The scheduled end-to-end flow: DVC rebuilds what changed, MLflow records the run.

ingest -> curate -> dedup -> tokenizer -> tokenize -> train -> evaluate -> register. Every stage
is a DVC stage whose command runs its own Prefect flow; this flow drives `dvc repro` (or `dvc
exp run -S key=value` for overrides), so a rerun with nothing changed does no work and a changed
param reruns exactly the stages that depend on it. Stage flows report to the same Prefect API
and nest their MLflow runs under this flow's run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from warc2gpt.config import flatten, load_params
from warc2gpt.offline import apply_offline_defaults
from warc2gpt.tracking import numeric_metrics, tracking_uri

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


def _git_revision() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def dvc_command(overrides: list[str], force: bool, targets: list[str]) -> list[str]:
    """`dvc repro`, or `dvc exp run -S k=v ...` when params are overridden."""
    if overrides:
        cmd = ["dvc", "exp", "run"]
        for item in overrides:
            cmd += ["-S", item]
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


def metrics_paths(params) -> dict[str, Path]:
    """Each stage's metrics JSON, as params name it."""
    paths = {"ingest": Path("metrics/ingest.json"), "register": Path(params.register.output)}
    for stage in ("curate", "dedup", "tokenizer", "tokenize", "train", "evaluate"):
        paths[stage] = Path(getattr(params, stage).metrics)
    return paths


def collect_metrics(params) -> dict[str, Any]:
    """Every stage's metrics that exist, by stage name."""
    return {
        stage: json.loads(path.read_text(encoding="utf-8"))
        for stage, path in metrics_paths(params).items()
        if path.exists()
    }


@flow(name="warc2gpt-pipeline", log_prints=True)
def pipeline(
    overrides: list[str] | None = None,
    force: bool = False,
    targets: list[str] | None = None,
    params_path: str = "params.yaml",
) -> dict:
    """Run the stages that are stale (all with force), record the run, report where to look."""
    overrides = list(overrides or [])
    params = load_params(params_path, overrides)  # a bad key fails here, before any work
    env = dict(os.environ)
    env["PREFECT_API_URL"] = _prefect_api_url()
    env.setdefault("PYTHONUNBUFFERED", "1")

    mlflow = None
    if params.tracking.enabled:
        import mlflow

        mlflow.set_tracking_uri(tracking_uri(params.tracking))
        mlflow.set_experiment(params.tracking.experiment)
    started = time.perf_counter()
    run_ctx = mlflow.start_run(run_name="pipeline") if mlflow else None
    try:
        if run_ctx is not None:
            env["WARC2GPT_PARENT_RUN_ID"] = run_ctx.info.run_id
            env["MLFLOW_TRACKING_URI"] = tracking_uri(params.tracking)
            mlflow.set_tag("git_revision", _git_revision())
            mlflow.set_tag("overrides", " ".join(overrides))
            flat = {k: str(v)[:500] for k, v in flatten(_as_dict(params)).items()}
            for i in range(0, len(flat), 100):
                mlflow.log_params(dict(list(flat.items())[i : i + 100]))
        result = run_dvc(dvc_command(overrides, force, list(targets or [])), env)
        metrics = collect_metrics(params)
        if run_ctx is not None:
            for stage, values in metrics.items():
                mlflow.log_metrics(numeric_metrics(values, stage))
            if Path("dvc.lock").exists():
                mlflow.log_artifact("dvc.lock")
            mlflow.set_tag("stages_ran", ",".join(result["ran"]) or "none")
    finally:
        if run_ctx is not None:
            mlflow.end_run()
    result["wall_seconds"] = round(time.perf_counter() - started, 2)
    report = where_to_look(params, result, metrics)
    print(report)
    create_markdown_artifact(
        key="pipeline-summary", markdown=report, description="what ran and where to look"
    )
    return result


def _as_dict(params) -> dict:
    from warc2gpt.config import to_dict

    return to_dict(params)


def _figures(values: dict, keys: list[str]) -> str:
    shown = []
    for key in keys:
        value = values.get(key)
        if isinstance(value, (bool, str)):
            shown.append(f"{key} {str(value).lower()}")
        elif isinstance(value, float):
            shown.append(f"{key} {value:,.0f}" if abs(value) >= 1000 else f"{key} {value:.4g}")
        elif isinstance(value, int):
            shown.append(f"{key} {value:,}")
    return ", ".join(shown)


def first_sample(params) -> str:
    """One of the evaluate stage's fixed-prompt samples, if there are any."""
    path = Path(params.evaluate.report_dir) / "samples.json"
    if not path.exists():
        return ""
    samples = json.loads(path.read_text(encoding="utf-8")).get("samples") or []
    if not samples:
        return ""
    return (samples[0]["prompt"] + samples[0]["completion"]).strip()


def where_to_look(params, result: dict, metrics: dict) -> str:
    """The closing summary: what ran, the headline figures and the commands to look further."""
    ran = ", ".join(result["ran"]) or "nothing (all stages up to date)"
    lines = [
        "## warc2gpt pipeline",
        "",
        f"- stages run: {ran}",
        f"- up to date: {', '.join(result['skipped']) or 'none'}",
        f"- wall time: {result['wall_seconds']} s",
    ]
    figures = {
        "ingest": ["files", "bytes"],
        "curate": ["pages", "kept", "removed", "pii_replacements"],
        "dedup": ["docs_in", "exact_duplicates", "near_duplicates", "docs_out"],
        "tokenize": [],
        "train": ["params", "steps", "tokens", "val_loss", "unigram_entropy", "tokens_per_s"],
        "evaluate": ["val_loss", "val_bpb", "hellaswag_acc", "lambada_acc"],
        "register": ["challenger_version", "champion_version", "promoted"],
    }
    for stage, keys in figures.items():
        if stage in metrics and (text := _figures(metrics[stage], keys)):
            lines.append(f"- {stage}: {text}")
    if "register" in metrics and metrics["register"].get("reason"):
        lines.append(f"- promotion: {metrics['register']['reason']}")
    sample = first_sample(params)
    if sample:
        lines += ["", "A sample from the model:", "", "> " + sample[:400].replace("\n", " ")]
    uri = tracking_uri(params.tracking)
    lines += [
        "",
        "Where to look:",
        "- Prefect UI:  prefect server start  (then http://127.0.0.1:4200)",
        f"- MLflow UI:   mlflow ui --backend-store-uri {uri}  (then http://127.0.0.1:5000)",
        "- models:      warc2gpt models list",
        "- generate:    warc2gpt generate --model models:/warc2gpt@champion --prompt 'The'",
        "- plots:       dvc plots show  (then open dvc_plots/index.html)",
        f"- report:      {Path(params.evaluate.report_dir) / 'eval.md'}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`python -m flows.pipeline [--set k=v] [--force] [stages]`: the same as `warc2gpt pipeline`."""
    from warc2gpt.cli import main as cli_main

    return cli_main(["pipeline", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
