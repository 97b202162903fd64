"""The register stage: log the model, register it as `challenger`, apply the promotion gate.

Writes metrics/register.json (challenger_version, champion_version, promoted, reason) for DVC
and the pipeline. The model, its lineage tags, lineage.json and the list of WARC files it has
seen go to the active MLflow run, the stage run the caller opened (or one opened here when
called on its own); the version's val bpb goes to the model line run (line.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient

from warc2gpt.config import ConfigError, Params, to_dict
from warc2gpt.model.store import SUMMARY_FILE
from warc2gpt.offline import apply_offline_defaults
from warc2gpt.registry import line
from warc2gpt.registry.lineage import (
    LINEAGE_ARTIFACT,
    WARC_FILES_ARTIFACT,
    lineage_record,
    lineage_tags,
    warc_files_seen,
)
from warc2gpt.registry.promotion import promote_if_better, register_challenger
from warc2gpt.registry.pyfunc import log_gpt_model
from warc2gpt.stages import figures
from warc2gpt.tracking import numeric_metrics, stage_run, tracking_uri, write_metrics

# The stages whose figures a model version's lineage records.
LINEAGE_STAGES = ("ingest", "curate", "dedup", "tokenizer", "tokenize", "train", "evaluate")


def read_eval_metrics(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run the evaluate stage first")
    metrics = json.loads(path.read_text(encoding="utf-8"))
    if "val_bpb" not in metrics:
        raise ValueError(f"{path} has no val_bpb: rerun the evaluate stage")
    return metrics


def read_train_summary(model_dir: str | Path) -> dict[str, Any]:
    """The training summary beside the model to register ({} when it has none)."""
    path = Path(model_dir) / SUMMARY_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return {}


def registry_client(params: Params) -> MlflowClient:
    """An MLflow client on the configured tracking store, which also holds the registry."""
    apply_offline_defaults()
    uri = tracking_uri(params.tracking)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def run(params: Params, mapper: Any = None) -> dict[str, Any]:
    """Log, register and gate the trained model; returns what metrics/register.json holds.

    Nothing fans out here, so `mapper` is unused.
    """
    if not params.tracking.enabled:
        raise ConfigError("register needs MLflow: set tracking.enabled: true")
    if mlflow.active_run() is not None:
        return _register(params, mlflow.active_run().info.run_id)
    with stage_run("register", params.tracking, to_dict(params.register)) as tracked:
        if tracked is None:
            raise RuntimeError(
                f"register could not open an MLflow run at {tracking_uri(params.tracking)} "
                "(see the warning above): start the server or fix tracking.tracking_uri"
            )
        return _register(params, mlflow.active_run().info.run_id)


def _register(params: Params, run_id: str) -> dict[str, Any]:
    settings = params.register
    eval_metrics = read_eval_metrics(settings.eval_metrics)
    trained = read_train_summary(settings.model_dir)
    seen = warc_files_seen(params.ingest.state, trained.get("increment"))
    record = lineage_record(
        settings.dvc_lock,
        {s: figures(s, params) for s in LINEAGE_STAGES},
        increments=seen,
        parent=trained.get("parent"),
    )
    tags = {
        **lineage_tags(record, settings.model_name),
        "val_bpb": f"{eval_metrics['val_bpb']:.6f}",
    }
    mlflow.log_metrics(numeric_metrics(eval_metrics))
    mlflow.set_tags(tags)
    mlflow.log_dict(record, LINEAGE_ARTIFACT)
    if seen:
        mlflow.log_text("".join(f"{name}\n" for name in seen["files"]), WARC_FILES_ARTIFACT)
    info = log_gpt_model(
        settings.model_dir,
        settings.tokenizer_dir,
        params.evaluate.generation,
        tags=tags,
        params=to_dict(params.evaluate.generation),
    )
    client = registry_client(params)
    version = register_challenger(
        client,
        settings.model_name,
        info.model_uri,
        run_id,
        tags,
        model_id=info.model_id,
        description=f"val bpb {eval_metrics['val_bpb']:.4f}; "
        f"git {tags.get('git.revision', 'unknown')}; lineage in {LINEAGE_ARTIFACT} of its run",
    )
    decision = promote_if_better(client, settings.model_name, version, settings.promotion)
    experiment_id = client.get_run(run_id).info.experiment_id
    line.log_version(client, experiment_id, settings.model_name, decision)
    metrics = {
        "challenger_version": decision.challenger_version,
        "champion_version": decision.champion_version,
        "promoted": decision.promoted,
        "reason": decision.reason,
    }
    write_metrics(settings.output, metrics)
    return metrics


def summary(metrics: dict[str, Any]) -> str:
    """One line: the new version and the gate's decision."""
    verdict = "promoted to champion" if metrics["promoted"] else "not promoted"
    return f"version {metrics['challenger_version']} (challenger): {verdict}: {metrics['reason']}"
