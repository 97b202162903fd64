"""Prefect flow for the ingest stage: one download task per file, on a thread pool."""

from __future__ import annotations

import time

from prefect import flow, get_run_logger, task

from flows.common import run_flow_cli
from flows.runners import task_runner_for
from warc2gpt.config import IngestSettings, load_params, to_dict
from warc2gpt.ingest.download import DownloadResult
from warc2gpt.ingest.sources import Source
from warc2gpt.ingest.stage import (
    DEFAULT_METRICS,
    IngestError,
    fetch_source,
    finish_ingest,
    format_summary,
    ingest_sample,
    plan_ingest,
)
from warc2gpt.tracking import log_stage_metrics


# No Prefect retries: the download itself retries with backoff and resumes from its .part file.
@task(name="ingest-file", task_run_name="fetch {source.name}")
def fetch_task(source: Source, settings: IngestSettings, position: int) -> DownloadResult:
    result = fetch_source(source, settings, position=position, progress=False)
    get_run_logger().info(
        "%s: %s, %d bytes, %d attempts", source.name, result.status, result.size, result.attempts
    )
    return result


@flow(name="ingest", log_prints=True)
def ingest_files(params_path: str = "params.yaml", overrides: list[str] | None = None) -> dict:
    """ingest.sources -> files in ingest.output and metrics/ingest.json."""
    params = load_params(params_path, overrides or [])
    settings = params.ingest
    started = time.perf_counter()
    if not settings.sources:
        results = ingest_sample(settings)
    else:
        plan = plan_ingest(settings)
        futures = [fetch_task.submit(s, settings, i % settings.workers) for i, s in enumerate(plan)]
        results, failures = [], []
        for source, future in zip(plan, futures, strict=True):
            try:
                results.append(future.result())
            except Exception as exc:  # noqa: BLE001 - gather every failure before raising
                failures.append(f"  {source.name} from {source.origin!r}: {exc}")
        if failures:
            raise IngestError(
                f"{len(failures)} of {len(plan)} sources failed:\n" + "\n".join(failures)
            )
    metrics = finish_ingest(settings, results, time.perf_counter() - started, DEFAULT_METRICS)
    print(format_summary(metrics, settings.output))
    log_stage_metrics(
        "ingest", params.tracking, to_dict(settings), metrics, artifacts=[DEFAULT_METRICS]
    )
    return metrics


def ingest_flow(params_path: str = "params.yaml", overrides: list[str] | None = None) -> dict:
    """Run the ingest flow with `ingest.workers` download threads."""
    settings = load_params(params_path, overrides or []).ingest
    runner = task_runner_for("threads", settings.workers)
    return ingest_files.with_options(task_runner=runner)(params_path, overrides)


if __name__ == "__main__":
    raise SystemExit(run_flow_cli(ingest_flow, "Run the ingest stage as a Prefect flow."))
