"""Prefect flow for the dedup stage: signatures and filtering per shard, and band buckets per
key range, each as tasks on the configured runner; clustering runs once in between."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.common import (
    api_shared_with_workers,
    retry_on_io_error,
    run_flow_cli,
    with_configured_runner,
)
from warc2gpt.config import load_params, to_dict
from warc2gpt.dedup.buckets import bucket_edges
from warc2gpt.dedup.filter import filter_shard
from warc2gpt.dedup.plan import DedupPlan
from warc2gpt.dedup.signatures import shard_signatures
from warc2gpt.dedup.stage import format_summary, run_dedup
from warc2gpt.tracking import log_stage_metrics

# DVC caches the stage's outputs and the steps resume from their own files: no Prefect cache.
TASK_OPTIONS = dict(
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=retry_on_io_error,
    cache_policy=NO_CACHE,
)


@task(name="dedup-signatures", task_run_name="signatures of shard {shard}", **TASK_OPTIONS)
def signatures_task(plan: DedupPlan, shard: int) -> dict:
    return shard_signatures(plan, shard)


@task(name="dedup-buckets", task_run_name="buckets of key range {part}", **TASK_OPTIONS)
def buckets_task(plan: DedupPlan, part: int) -> dict:
    return bucket_edges(plan, part)


@task(name="dedup-filter", task_run_name="filter shard {shard}", **TASK_OPTIONS)
def filter_task(plan: DedupPlan, shard: int) -> dict:
    return filter_shard(plan, shard)


TASKS = {shard_signatures: signatures_task, bucket_edges: buckets_task, filter_shard: filter_task}


def map_as_tasks(fn: Callable[..., Any], calls: list[tuple[Any, ...]]) -> list[Any]:
    """Submit every call of a step as a Prefect task and wait for all of them."""
    futures = [TASKS[fn].submit(*args) for args in calls]
    return [future.result() for future in futures]


@flow(name="dedup", log_prints=True)
def dedup_shards(params_path: str = "params.yaml", overrides: list[str] | None = None) -> dict:
    """data/curated/*.parquet -> data/dedup/*.parquet + metrics/dedup.json."""
    params = load_params(params_path, overrides or [])
    with api_shared_with_workers():
        metrics = run_dedup(params, map_steps=map_as_tasks)
    print(format_summary(metrics))
    log_stage_metrics(
        "dedup", params.tracking, to_dict(params.dedup), metrics, artifacts=[params.dedup.metrics]
    )
    return metrics


def dedup_flow(params_path: str = "params.yaml", overrides: list[str] | None = None) -> dict:
    """Run the dedup flow on the task runner that params choose (threads, processes, Dask, Ray)."""
    return with_configured_runner(dedup_shards, "dedup", params_path, overrides)


if __name__ == "__main__":
    raise SystemExit(run_flow_cli(dedup_flow, "Run the dedup stage as a Prefect flow."))
