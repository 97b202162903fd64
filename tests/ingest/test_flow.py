"""The ingest Prefect flow over the loopback server (starts a temporary Prefect server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_ingest_flow_fetches_a_crawl_and_writes_metrics(crawl_server, tmp_path, monkeypatch):
    from prefect.testing.utilities import prefect_test_harness

    monkeypatch.syspath_prepend(str(ROOT))  # `flows` lives at the project root
    from flows.ingest import ingest_flow

    crawl_server.faults.cuts = 1
    crawl_server.faults.cut_after = 5_000
    crawl_server.faults.paths = "/part-"
    params = tmp_path / "params.yaml"
    params.write_text(
        "ingest:\n"
        "  sources: [CC-MAIN-2024-22]\n"
        "  segments: 2\n"
        f"  base_url: {crawl_server.url}/\n"
        "  output: data/raw\n"
        "  backoff: 0.01\n"
        "tracking:\n"
        "  enabled: false\n"
    )
    monkeypatch.chdir(tmp_path)
    with prefect_test_harness(server_startup_timeout=120):
        metrics = ingest_flow(str(params), ["ingest.workers=2"])
    assert metrics["files"] == 2 and metrics["retries"] == 1
    for rel in crawl_server.listed[:2]:
        assert (tmp_path / "data/raw" / rel).read_bytes() == crawl_server.content_of("/" + rel)
    assert json.loads((tmp_path / "metrics/ingest.json").read_text())["files"] == 2
