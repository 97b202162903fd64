"""What a pipeline run reports: the headline figures, the closing summary, what is stale.

Plain functions over params and the stages' metrics files, no Prefect import, so the command
line can answer "nothing to do" without starting a server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from warc2gpt.config import Params, flatten, to_dict
from warc2gpt.stages import STAGES, figures

# The params a reader needs to tell two pipeline runs apart; every other one is on a stage run.
KEY_PARAMS = [
    "ingest.sources",
    "tokenizer.vocab_size",
    "train.depth",
    "train.n_embd",
    "train.sequence_len",
    "train.steps",
    "train.optimizer",
    "train.lr",
]
LOCAL_UI = "http://127.0.0.1:4200"


def collect_metrics(params: Params) -> dict[str, Any]:
    """Every figure of each stage's last run, by stage name (stages that never ran are absent)."""
    found = {name: figures(name, params) for name in STAGES}
    return {name: values for name, values in found.items() if values}


def headline_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The few figures that say how a run went; the per-stage detail stays on the stage runs."""
    dedup, curate = metrics.get("dedup", {}), metrics.get("curate", {})
    tokenize, train = metrics.get("tokenize", {}), metrics.get("train", {})
    evaluate = metrics.get("evaluate", {})
    splits = [v for v in tokenize.values() if isinstance(v, dict) and "tokens" in v]
    values = {
        "documents_kept": dedup.get("docs_out", curate.get("kept")),
        "corpus_tokens": sum(s["tokens"] for s in splits) if splits else None,
        "train_loss": train.get("train_loss"),
        "val_loss": evaluate.get("val_loss", train.get("val_loss")),
        "val_bpb": evaluate.get("val_bpb"),
        "hellaswag_acc": evaluate.get("hellaswag_acc"),
        "lambada_acc": evaluate.get("lambada_acc"),
    }
    return {
        k: float(v)
        for k, v in values.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def key_params(params: Params, overrides: list[str]) -> dict[str, str]:
    """The overrides as given, then the key params' values (MLflow caps a value at 500 chars)."""
    flat = flatten(to_dict(params))
    logged = {k: str(flat[k])[:500] for k in KEY_PARAMS if k in flat}
    for item in overrides:
        key, _, value = item.partition("=")
        logged[key.strip()] = value.strip()[:500]
    return logged


def run_name(started: str, overrides: list[str]) -> str:
    """`pipeline 2026-12-01 14:03 train.steps=400`: two runs told apart at a glance."""
    return " ".join(["pipeline", started, *overrides])


def stale_stages(targets: list[str] | None = None) -> list[str]:
    """The DVC stages whose code, data, params or outputs differ from dvc.lock (none: up to
    date). Asks DVC itself, which hashes only files whose size or mtime changed."""
    from dvc.repo import Repo

    with Repo() as repo:
        status = repo.status(targets=targets or None, with_deps=bool(targets))
    return sorted(name.rsplit(":", 1)[-1] for name in status)


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


def first_sample(params: Params) -> str:
    """One of the evaluate stage's fixed-prompt samples, if there are any."""
    path = Path(params.evaluate.report_dir) / "samples.json"
    if not path.exists():
        return ""
    samples = json.loads(path.read_text(encoding="utf-8")).get("samples") or []
    if not samples:
        return ""
    return (samples[0]["prompt"] + samples[0]["completion"]).strip()


def prefect_run_link(flow_run_id: str | None, ui_url: str | None) -> str:
    """Where the pipeline's flow run opens after the run: the UI of the server the user named,
    else `prefect server start`, which serves the project's .prefect/ history on port 4200."""
    path = f"/runs/flow-run/{flow_run_id}" if flow_run_id else ""
    if ui_url:
        return ui_url.rstrip("/") + path
    return f"prefect server start  (then {LOCAL_UI}{path})"


def mlflow_run_link(tracking_uri: str, experiment_id: str | None, run_id: str | None) -> str:
    """The pipeline's MLflow run: `mlflow ui` on a local store, else the tracking server."""
    path = f"/#/experiments/{experiment_id}/runs/{run_id}" if run_id else ""
    if tracking_uri.startswith(("http://", "https://")):
        return tracking_uri.rstrip("/") + path
    return f"mlflow ui --backend-store-uri {tracking_uri}  (then http://127.0.0.1:5000{path})"


def where_to_look(
    params: Params,
    result: dict,
    metrics: dict,
    tracking_uri: str,
    flow_run_id: str | None = None,
    ui_url: str | None = None,
    mlflow_run: tuple[str, str] | None = None,
) -> str:
    """The closing summary: what ran, the headline figures and the commands to look further."""
    if result.get("up_to_date"):
        ran = "nothing to do, all stages up to date"
    else:
        ran = ", ".join(result["ran"]) or "nothing (all stages up to date)"
    lines = ["## warc2gpt pipeline", "", f"- stages run: {ran}"]
    if not result.get("up_to_date"):
        lines.append(f"- up to date: {', '.join(result['skipped']) or 'none'}")
    lines.append(f"- wall time: {result['wall_seconds']} s")
    figures = {
        "ingest": ["files", "bytes"],
        "curate": ["pages", "kept", "removed", "pii_replacements"],
        "dedup": ["docs_in", "exact_duplicates", "near_duplicates", "docs_out"],
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
    lines += [
        "",
        "Where to look:",
        f"- Prefect UI:  {prefect_run_link(flow_run_id, ui_url)}",
        f"- MLflow UI:   {mlflow_run_link(tracking_uri, *(mlflow_run or (None, None)))}",
        "- models:      warc2gpt models list",
        "- generate:    warc2gpt generate --model models:/warc2gpt@champion --prompt 'The'",
        "- plots:       dvc plots show  (then open dvc_plots/index.html)",
        f"- report:      {Path(params.evaluate.report_dir) / 'eval.md'}",
        "- keep it:     git add dvc.lock params.yaml metrics/ plots/ && git commit",
    ]
    return "\n".join(lines)
