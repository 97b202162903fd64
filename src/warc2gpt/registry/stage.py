"""The register stage: log the model, register it as `challenger`, apply the promotion gate.

Writes metrics/register.json (version, decision, figures) for DVC and the pipeline.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from warc2gpt.config import ConfigError, Params, to_dict
from warc2gpt.tracking import numeric_metrics, stage_run, tracking_uri, write_metrics


def read_eval_metrics(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run the evaluate stage first")
    metrics = json.loads(path.read_text(encoding="utf-8"))
    if "val_bpb" not in metrics:
        raise ValueError(f"{path} has no val_bpb: rerun the evaluate stage")
    return metrics


def registry_client(params: Params):
    """An MLflow client on the configured tracking store, which also holds the registry."""
    from mlflow import MlflowClient

    from warc2gpt.offline import apply_offline_defaults

    apply_offline_defaults()
    uri = tracking_uri(params.tracking)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def run_register(params: Params) -> dict[str, Any]:
    """Log, register and gate the trained model; returns what metrics/register.json holds."""
    from warc2gpt.registry.lineage import lineage_tags
    from warc2gpt.registry.promotion import promote_if_better, register_challenger
    from warc2gpt.registry.pyfunc import log_gpt_model

    settings = params.register
    if not params.tracking.enabled:
        raise ConfigError("register needs MLflow: set tracking.enabled: true")
    eval_metrics = read_eval_metrics(settings.eval_metrics)
    tags = {
        "val_bpb": f"{eval_metrics['val_bpb']:.6f}",
        **lineage_tags(settings.dvc_lock, settings.data_metrics),
    }
    generation = to_dict(params.evaluate.generation)
    with stage_run("register", params.tracking, to_dict(settings)) as mlflow:
        mlflow.log_metrics(numeric_metrics(eval_metrics))
        mlflow.set_tags(tags)
        info = log_gpt_model(
            settings.model_dir,
            settings.tokenizer_dir,
            params.evaluate.generation,
            tags=tags,
            params=generation,
        )
        run_id = mlflow.active_run().info.run_id
    client = registry_client(params)
    version = register_challenger(
        client,
        settings.model_name,
        info.model_uri,
        run_id,
        tags,
        model_id=info.model_id,
        description=f"val bpb {eval_metrics['val_bpb']:.4f}; "
        f"git {tags.get('git.revision', 'unknown')}",
    )
    decision = promote_if_better(client, settings.model_name, version, settings.promotion)
    result = {
        "model_name": settings.model_name,
        "model_uri": f"models:/{settings.model_name}/{version}",
        "run_id": run_id,
        **decision.as_dict(),
    }
    write_metrics(settings.output, result)
    return result


def format_decision(result: dict[str, Any]) -> str:
    verdict = "promoted to champion" if result["promoted"] else "not promoted"
    return (
        f"{result['model_name']} version {result['challenger_version']} (challenger): "
        f"{verdict}: {result['reason']}"
    )
