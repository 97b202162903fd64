"""Prefect flows: thin orchestration over warc2gpt's stage functions."""

from warc2gpt.offline import apply_offline_defaults

# Before any flow module imports Prefect, MLflow or DVC: offline, no telemetry.
apply_offline_defaults()
