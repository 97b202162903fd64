"""Fixtures for the ingest tests: a loopback HTTP server over the real WARC files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from loopback_server import LoopbackCrawlServer

from warc2gpt.config import IngestSettings


@pytest.fixture(scope="module")
def _crawl_server(shared_data: Path) -> Iterator[LoopbackCrawlServer]:
    server = LoopbackCrawlServer(shared_data / "warc").start()
    yield server
    server.stop()


@pytest.fixture
def crawl_server(_crawl_server: LoopbackCrawlServer) -> LoopbackCrawlServer:
    """The server with no faults and an empty request log."""
    _crawl_server.reset()
    return _crawl_server


@pytest.fixture
def fast_settings(tmp_path: Path, crawl_server: LoopbackCrawlServer) -> IngestSettings:
    """Ingest settings aimed at the loopback server, with short waits so faults stay cheap."""
    return IngestSettings(
        output=str(tmp_path / "raw"),
        base_url=crawl_server.url + "/",
        workers=2,
        retries=3,
        backoff=0.01,
        backoff_max=0.05,
        timeout=2.0,
        chunk_bytes=16384,
    )
