"""Stage metrics and parameters to MLflow, degrading to local files where MLflow is absent.

Every stage writes its metrics JSON itself (DVC reads those); this module adds the MLflow run.
The default tracking store is a SQLite file in the project (`sqlite:///mlflow.db`), so nothing
needs a server; `MLFLOW_TRACKING_URI` or `tracking.tracking_uri` point it at one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from warc2gpt.atomic import write_json
from warc2gpt.config import TrackingSettings, flatten

log = logging.getLogger(__name__)
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


def tracking_uri(settings: TrackingSettings) -> str:
    return settings.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def _mlflow():
    try:
        import mlflow
    except ImportError:
        return None
    return mlflow


def numeric_metrics(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The numeric leaves of a nested metrics mapping, as `a.b` keys."""
    out = {}
    for key, value in flatten(dict(metrics), prefix).items():
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, (int, float)):
            out[key.replace("/", "_")] = float(value)
    return out


@contextmanager
def stage_run(stage: str, settings: TrackingSettings, params: Mapping[str, Any] | None = None):
    """An MLflow run for one stage (nested under an active pipeline run if there is one).

    Yields the mlflow module (or None when tracking is off, MLflow is not installed or the
    tracking server cannot be reached), so the caller can log more. A tracking failure is
    logged, never raised: the data work counts more. An exception from the work itself ends
    the run as FAILED and propagates.
    """
    mlflow = _mlflow() if settings.enabled else None
    run = None
    if mlflow is not None:
        try:
            run = _start_stage_run(mlflow, stage, settings, params)
        except Exception as exc:  # noqa: BLE001 - an unreachable server must not stop the stage
            log.warning("MLflow run for stage %s not started: %s", stage, exc)
    if run is None:
        yield None
        return
    status = "FAILED"
    try:
        yield mlflow
        status = "FINISHED"
    finally:
        try:
            mlflow.end_run(status=status)
        except Exception as exc:  # noqa: BLE001
            log.warning("MLflow run for stage %s not closed: %s", stage, exc)


def _start_stage_run(mlflow, stage: str, settings: TrackingSettings, params) -> Any:
    from warc2gpt.offline import apply_offline_defaults

    apply_offline_defaults()
    mlflow.set_tracking_uri(tracking_uri(settings))
    mlflow.set_experiment(settings.experiment)
    parent = os.environ.get("WARC2GPT_PARENT_RUN_ID")
    nested = mlflow.active_run() is not None
    kwargs: dict[str, Any] = {"run_name": stage, "nested": nested}
    if parent and not nested:
        kwargs["parent_run_id"] = parent
    run = mlflow.start_run(**kwargs)
    mlflow.set_tag("warc2gpt.stage", stage)
    if params:
        flat = {k: str(v)[:500] for k, v in flatten(dict(params), stage).items()}
        items = list(flat.items())
        for i in range(0, len(items), 100):
            mlflow.log_params(dict(items[i : i + 100]))
    return run


def log_metrics_safely(
    mlflow: Any, stage: str, metrics: Mapping[str, Any], artifacts: list[str | Path] = ()
) -> None:
    """A finished stage's numeric figures and files to the active run; failures only logged."""
    try:
        mlflow.log_metrics(numeric_metrics(metrics))
        for path in artifacts:
            if Path(path).exists():
                mlflow.log_artifact(str(path))
    except Exception as exc:  # tracking must never sink a finished stage
        log.warning("MLflow logging for stage %s failed: %s", stage, exc)


def write_metrics(path: str | Path, metrics: Mapping[str, Any]) -> None:
    """Write a metrics JSON atomically (DVC `metrics:` reads it)."""
    write_json(path, dict(metrics))
