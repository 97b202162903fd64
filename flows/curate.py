"""Prefect flow for the curate stage: one task per WARC file, on the configured task runner."""

from __future__ import annotations

import time
from pathlib import Path

from prefect import flow, get_run_logger, task, unmapped
from prefect.artifacts import create_markdown_artifact

from flows.common import (
    api_shared_with_workers,
    retry_on_io_error,
    run_flow_cli,
    with_configured_runner,
)
from warc2gpt.config import CurateSettings, load_params, to_dict
from warc2gpt.curate.stage import (
    CurationChain,
    curate_file,
    format_summary,
    output_name,
    prune_stale_outputs,
    resolve_inputs,
    summarize,
)
from warc2gpt.tracking import log_stage_metrics, write_metrics

_CHAINS: dict[str, CurationChain] = {}


def _chain(settings: CurateSettings) -> CurationChain:
    """One chain per worker process and settings: the language model and blocklists load once."""
    key = repr(settings)
    if key not in _CHAINS:
        _CHAINS.clear()
        _CHAINS[key] = CurationChain(settings)
    return _CHAINS[key]


@task(
    name="curate-file",
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=retry_on_io_error,
    task_run_name="curate {path}",
)
def curate_file_task(path: str, settings: CurateSettings) -> dict:
    stats = curate_file(path, settings, chain=_chain(settings))
    get_run_logger().info(
        "%s: %d pages, %d kept, %d removed, %d unreadable records",
        path,
        stats["pages"],
        stats["kept"],
        stats["removed"],
        len(stats["read_problems"]),
    )
    return stats


@flow(name="curate", log_prints=True)
def curate_files(params_path: str = "params.yaml", overrides: list[str] | None = None) -> dict:
    """WARC files -> curated Parquet shards, removed documents and metrics/curate.json."""
    params = load_params(params_path, overrides or [])
    settings = params.curate
    files = [str(f) for f in resolve_inputs(settings.input, params.ingest.output)]
    prune_stale_outputs(settings.output, [output_name(f) for f in files])
    started = time.perf_counter()
    with api_shared_with_workers():
        futures = curate_file_task.map(files, settings=unmapped(settings))
        file_stats = [future.result() for future in futures]
    metrics = summarize(file_stats, time.perf_counter() - started, settings.workers)
    write_metrics(Path(settings.output) / "stats.json", metrics)
    write_metrics(settings.metrics, metrics)
    summary = format_summary(metrics)
    print(summary)
    create_markdown_artifact(
        key="curate-summary",
        markdown=f"```\n{summary}\n```",
        description="per-filter counts of the curate stage",
    )
    log_stage_metrics(
        "curate", params.tracking, to_dict(settings), metrics, artifacts=[settings.metrics]
    )
    return metrics


def curate_flow(params_path: str = "params.yaml", overrides: list[str] | None = None) -> dict:
    """Run the curate flow on the task runner that params choose (threads, processes, Dask, Ray)."""
    return with_configured_runner(curate_files, "curate", params_path, overrides)


if __name__ == "__main__":
    raise SystemExit(run_flow_cli(curate_flow, "Run the curate stage as a Prefect flow."))
