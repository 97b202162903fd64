"""Data flows on a local Dask cluster of 2 worker processes give the local runner's output."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect import flow, task

from warc2gpt.ingest.warc import iter_pages

pytestmark = [pytest.mark.slow, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
WARCS = [
    "dolma/sample-0000.warc.gz",
    "dolma/sample-0001.warc.gz",
    "ukwa/IAH-urls-wget.warc.gz",
    "resiliparse/warcfile.warc.gz",
]


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@task
def page_digest(path: str) -> tuple[str, int, str, int]:
    """Pages of one real WARC file: count, digest of their URLs, and the process that read it."""
    problems: list = []
    urls = [page.url for page in iter_pages(path, problems)]
    return path, len(urls), hashlib.sha256("\n".join(urls).encode()).hexdigest(), os.getpid()


@flow
def digest_warcs(paths: list[str]) -> list[tuple[str, int, str, int]]:
    return [future.result() for future in page_digest.map(paths)]


def test_dask_runner_spreads_tasks_over_two_workers(prefect_server, importable_flows, shared_data):
    from flows.runners import task_runner_for

    paths = [str(shared_data / "warc" / p) for p in WARCS]
    local = digest_warcs.with_options(task_runner=task_runner_for("threads", 2))(paths)
    dask = digest_warcs.with_options(task_runner=task_runner_for("dask", 2))(paths)
    assert [r[:3] for r in dask] == [r[:3] for r in local]
    assert all(r[1] > 0 for r in local)
    pids = {r[3] for r in dask}
    assert os.getpid() not in pids and len(pids) == 2  # really ran in the 2 worker processes


def _curate_params(tmp_path: Path, shared_data: Path, runner: str) -> Path:
    inputs = ", ".join(str(shared_data / "warc" / p) for p in WARCS)
    params = tmp_path / f"params-{runner}.yaml"
    params.write_text(
        "curate:\n"
        f"  input: [{inputs}]\n"
        f"  output: {tmp_path / runner / 'curated'}\n"
        f"  metrics: {tmp_path / runner / 'curate.json'}\n"
        "  extractor: resiliparse\n"
        "  extraction_timeout: 60\n"  # no timeouts: a loaded machine must not change the output
        "  workers: 2\n"
        f"  runner: {runner}\n"
        "tracking:\n"
        "  enabled: false\n"
    )
    return params


def test_curate_on_dask_matches_the_local_runner(
    prefect_server, importable_flows, shared_data, tmp_path, read_shards
):
    from flows.curate import curate_flow

    local = curate_flow(str(_curate_params(tmp_path, shared_data, "threads")))
    dask = curate_flow(str(_curate_params(tmp_path, shared_data, "dask")))
    local_shards = read_shards(tmp_path / "threads" / "curated")
    dask_shards = read_shards(tmp_path / "dask" / "curated")
    assert len(local_shards) >= len(WARCS)  # kept and removed shards per input file
    assert sum(len(rows) for rows in local_shards.values()) > 0
    assert dask_shards == local_shards
    for key in ("files", "pages", "kept", "removed", "pii_replacements", "read_problems"):
        assert dask[key] == local[key], key
