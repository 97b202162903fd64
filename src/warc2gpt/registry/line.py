"""The model line: one MLflow run per registered model, where its versions' val bpb is a curve.

MLflow charts a metric against its step, so the line run logs `val_bpb` at step = version
number for each version registered, and `champion_val_bpb`, the champion's after the gate: the
run's chart shows how successive versions fare and which one is served. The run is found again
by its tag `warc2gpt.model_line` (the registered model's name); it stays finished between
registrations.
"""

from __future__ import annotations

from mlflow import MlflowClient

from warc2gpt.registry.promotion import Decision

LINE_TAG = "warc2gpt.model_line"


def line_run_id(client: MlflowClient, experiment_id: str, name: str) -> str:
    """The model line run of registered model `name` in the experiment, made when missing."""
    found = client.search_runs(
        [experiment_id], filter_string=f"tags.`{LINE_TAG}` = '{name}'", max_results=1
    )
    if found:
        return found[0].info.run_id
    run = client.create_run(experiment_id, run_name=f"model line {name}", tags={LINE_TAG: name})
    return run.info.run_id


def log_version(
    client: MlflowClient, experiment_id: str, name: str, decision: Decision
) -> str | None:
    """The challenger's val bpb, and the champion's after the gate, as the points of version
    `decision.challenger_version` on the line; returns the line run's id (None: nothing to
    draw, the challenger has no val bpb)."""
    if decision.challenger_bpb is None:
        return None
    run_id = line_run_id(client, experiment_id, name)
    step = int(decision.challenger_version)
    client.log_metric(run_id, "val_bpb", decision.challenger_bpb, step=step)
    champion = decision.challenger_bpb if decision.promoted else decision.champion_bpb
    if champion is not None:
        client.log_metric(run_id, "champion_val_bpb", champion, step=step)
    client.set_terminated(run_id)
    return run_id
