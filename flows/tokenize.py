"""Prefect flow for the tokenize stage: one task per Parquet shard, on the configured runner."""

from __future__ import annotations

import time

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.common import (
    api_shared_with_workers,
    retry_on_io_error,
    run_flow_cli,
    with_configured_runner,
)
from warc2gpt.config import load_params, to_dict
from warc2gpt.tokenizer.bpe import Tokenizer
from warc2gpt.tokenizer.tokenize import (
    clear_shards,
    format_summary,
    summarize,
    tokenize_file,
    tokenize_inputs,
)
from warc2gpt.tracking import log_stage_metrics, write_metrics


@task(
    name="tokenize-shard",
    cache_policy=NO_CACHE,  # DVC decides what is stale
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=retry_on_io_error,
    task_run_name="tokenize {path}",
)
def tokenize_shard_task(
    path: str, index: int, tokenizer_dir: str, output: str, val_fraction: float
) -> dict:
    stats = tokenize_file(path, index, tokenizer_dir, output, val_fraction)
    get_run_logger().info(
        "%s: train %d docs / %d tokens, val %d docs / %d tokens",
        path,
        stats["train"]["documents"],
        stats["train"]["tokens"],
        stats["val"]["documents"],
        stats["val"]["tokens"],
    )
    return stats


@flow(name="tokenize", log_prints=True)
def tokenize_shards(params_path: str = "params.yaml", overrides: list[str] | None = None) -> dict:
    """Parquet shards -> data/tokens/{train,val}_NNNNNN.bin + metrics/tokenize.json."""
    params = load_params(params_path, overrides or [])
    settings = params.tokenize
    tokenizer_dir = params.tokenizer.output
    vocab_size = Tokenizer.load(tokenizer_dir).vocab_size  # fails early on a missing tokenizer
    inputs = [str(path) for path in tokenize_inputs(params)]
    clear_shards(settings.output)
    started = time.perf_counter()
    with api_shared_with_workers():
        futures = [
            tokenize_shard_task.submit(
                path, index, tokenizer_dir, settings.output, settings.val_fraction
            )
            for index, path in enumerate(inputs)
        ]
        file_stats = [future.result() for future in futures]
    metrics = summarize(file_stats, time.perf_counter() - started, vocab_size, settings.workers)
    write_metrics(settings.metrics, metrics)
    print(format_summary(metrics))
    log_stage_metrics(
        "tokenize", params.tracking, to_dict(settings), metrics, artifacts=[settings.metrics]
    )
    return metrics


def tokenize_flow(params_path: str = "params.yaml", overrides: list[str] | None = None) -> dict:
    """Run the tokenize flow on the task runner that params choose (threads, processes, Dask, Ray)."""
    return with_configured_runner(tokenize_shards, "tokenize", params_path, overrides)


if __name__ == "__main__":
    raise SystemExit(run_flow_cli(tokenize_flow, "Run the tokenize stage as a Prefect flow."))
