"""Shared fixtures: the real data in ../shared/data, and an isolated working directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from warc2gpt.offline import apply_offline_defaults

apply_offline_defaults()

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("WARC2GPT_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data: skipped where it is absent (a user's clone), required in CI."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("WARC2GPT_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(f"{SHARED_DATA} is missing but WARC2GPT_REQUIRE_SHARED_DATA=1")
        pytest.skip(f"real data not found at {SHARED_DATA} (set WARC2GPT_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory) -> Path:
    """The built-in sample crawl's WARC files, written once per session."""
    from warc2gpt.ingest.sample import write_sample_crawl

    raw = tmp_path_factory.mktemp("sample-raw")
    write_sample_crawl(raw)
    return raw
