"""Resolving ingest.sources: local globs, fsspec URLs, crawl ids through a real listing."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import importlib.util

import fsspec
import pytest

from warc2gpt.ingest.sources import SourceError, resolve_sources, select_paths

CRAWL = "CC-MAIN-2024-22"


def _listing(shared_data) -> list[str]:
    path = shared_data / "warc/commoncrawl_whirlwind/CC-MAIN-2024-22.warc.paths.gz"
    with gzip.open(path, "rt") as fh:
        return [line.strip() for line in fh if line.strip()]


def test_crawl_id_takes_the_first_segments_of_the_listing(fast_settings, crawl_server, shared_data):
    settings = dataclasses.replace(fast_settings, sources=[CRAWL], segments=3)
    sources = resolve_sources(settings)
    listing = _listing(shared_data)
    assert [s.url for s in sources] == [f"{crawl_server.url}/{p}" for p in listing[:3]]
    assert [s.name for s in sources] == listing[:3]
    assert crawl_server.file_requests()[0].path == f"/crawl-data/{CRAWL}/warc.paths.gz"


def test_crawl_id_with_its_own_count(fast_settings):
    settings = dataclasses.replace(fast_settings, sources=[f"{CRAWL}:5"], segments=1)
    assert len(resolve_sources(settings)) == 5


def test_sample_is_deterministic_spread_and_in_listing_order(fast_settings, shared_data):
    settings = dataclasses.replace(fast_settings, sources=[CRAWL], segments=10, sample=True)
    first = [s.name for s in resolve_sources(settings)]
    again = [s.name for s in resolve_sources(settings)]
    other = [s.name for s in resolve_sources(dataclasses.replace(settings, seed=1))]
    listing = _listing(shared_data)
    assert first == again and len(first) == 10 and first != other
    assert first != listing[:10]
    assert [listing.index(n) for n in first] == sorted(listing.index(n) for n in first)


def test_select_paths_takes_everything_when_asked_for_more():
    assert select_paths(["a", "b"], 5, sample=True, seed=0, crawl=CRAWL) == ["a", "b"]


def test_unknown_crawl_fails_with_the_listing_url(fast_settings):
    settings = dataclasses.replace(fast_settings, sources=["CC-MAIN-1999-01"], retries=0)
    with pytest.raises(SourceError, match=r"crawl-data/CC-MAIN-1999-01/warc.paths.gz.*HTTP 404"):
        resolve_sources(settings)


def test_listing_survives_503s(fast_settings, crawl_server):
    crawl_server.faults.fail_503 = 2
    settings = dataclasses.replace(fast_settings, sources=[CRAWL], segments=2)
    assert len(resolve_sources(settings)) == 2


def test_local_glob_and_directory(fast_settings, shared_data):
    warc = shared_data / "warc"
    settings = dataclasses.replace(
        fast_settings,
        sources=[str(warc / "resiliparse" / "*.warc.gz"), str(warc / "commoncrawl_whirlwind")],
    )
    sources = resolve_sources(settings)
    # The directory yields its WARC and WET files, not the WAT file or the paths listing.
    assert [s.name for s in sources] == [
        "clipped.warc.gz",
        "clueweb-quirk.warc.gz",
        "warcfile.warc.gz",
        "whirlwind.warc.gz",
        "whirlwind.warc.wet.gz",
    ]
    assert sources[0].size == (warc / "resiliparse" / "clipped.warc.gz").stat().st_size


def test_local_path_that_matches_nothing(fast_settings, tmp_path):
    settings = dataclasses.replace(fast_settings, sources=[str(tmp_path / "*.warc.gz")])
    with pytest.raises(SourceError, match=r"ingest.sources\[0\].*matches no WARC file"):
        resolve_sources(settings)
    settings = dataclasses.replace(fast_settings, sources=[str(tmp_path / "missing.warc.gz")])
    with pytest.raises(SourceError, match="no such file"):
        resolve_sources(settings)


def test_two_files_with_one_name_are_refused(fast_settings, shared_data, tmp_path):
    copy = tmp_path / "clipped.warc.gz"
    copy.write_bytes(b"x")
    settings = dataclasses.replace(
        fast_settings,
        sources=[str(shared_data / "warc/resiliparse/clipped.warc.gz"), str(copy)],
    )
    with pytest.raises(SourceError, match="would both be saved as clipped.warc.gz"):
        resolve_sources(settings)


def test_url_digest_fragment(fast_settings, crawl_server):
    hexdigest = hashlib.sha256(b"x").hexdigest()
    url = crawl_server.file_url("dolma/sample-0000.warc.gz")
    settings = dataclasses.replace(fast_settings, sources=[f"{url}#sha256={hexdigest}"])
    (source,) = resolve_sources(settings)
    assert source.url == url and source.name == "sample-0000.warc.gz"
    assert source.digest == ("sha256", hexdigest)
    bad = dataclasses.replace(fast_settings, sources=[f"{url}#sha256=abc"])
    with pytest.raises(SourceError, match="64 hex digits"):
        resolve_sources(bad)


def test_fsspec_urls_with_globs(fast_settings, shared_data):
    fs = fsspec.filesystem("memory")
    for path in sorted((shared_data / "warc/dolma").glob("*.warc.gz")):
        fs.pipe(f"/ingest-test/{path.name}", path.read_bytes())
    try:
        settings = dataclasses.replace(fast_settings, sources=["memory://ingest-test/*.warc.gz"])
        sources = resolve_sources(settings)
        assert [s.name for s in sources] == ["sample-0000.warc.gz", "sample-0001.warc.gz"]
        assert sources[0].url == "memory:///ingest-test/sample-0000.warc.gz"
        assert sources[1].size == (shared_data / "warc/dolma/sample-0001.warc.gz").stat().st_size
    finally:
        fs.rm("/ingest-test", recursive=True)


@pytest.mark.skipif(importlib.util.find_spec("s3fs") is not None, reason="s3fs is installed")
def test_s3_without_s3fs_says_what_to_install(fast_settings):
    settings = dataclasses.replace(fast_settings, sources=["s3://commoncrawl/crawl-data/x.warc.gz"])
    with pytest.raises(SourceError, match=r"pip install s3fs"):
        resolve_sources(settings)
