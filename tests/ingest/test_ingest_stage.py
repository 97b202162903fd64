"""The ingest stage end to end: crawl id -> files on disk + metrics, on a faulty loopback server."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from warc2gpt.cli import main
from warc2gpt.config import Params
from warc2gpt.ingest.stage import MANIFEST, STATS, IngestError, summary
from warc2gpt.stages import run_local

CRAWL = "CC-MAIN-2024-22"


def run_ingest(settings, metrics_path) -> list[Path]:
    """The stage on `settings`, metrics to `metrics_path`; the files it holds, in source order."""
    params = Params(ingest=dataclasses.replace(settings, metrics=str(metrics_path)))
    metrics = run_local("ingest", params)
    return [Path(settings.output) / f["name"] for f in metrics["per_file"]]


def _details(settings) -> dict:
    return json.loads((Path(settings.output) / STATS).read_text())


def _records(path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for _ in ArchiveIterator(fh))


def test_crawl_segments_arrive_complete_despite_faults(fast_settings, crawl_server, tmp_path):
    crawl_server.faults.fail_503 = 1
    crawl_server.faults.cuts = 2
    crawl_server.faults.cut_after = 5_000
    crawl_server.faults.paths = "/part-"  # the WARC files, not the listing
    settings = dataclasses.replace(fast_settings, sources=[CRAWL], segments=3)
    metrics_path = tmp_path / "metrics" / "ingest.json"
    paths = run_ingest(settings, metrics_path)

    listed = crawl_server.listed[:3]
    assert [p.name for p in paths] == listed
    for path, rel in zip(paths, listed, strict=True):
        assert path.read_bytes() == crawl_server.content_of("/" + rel)
        assert _records(path) > 0  # a real WARC, readable end to end
    metrics = json.loads(metrics_path.read_text())
    assert metrics["files"] == 3 and metrics["downloaded"] == 3
    assert metrics["retries"] == 3  # one 503 and two cuts, each cost one attempt
    assert metrics["bytes"] == sum(p.stat().st_size for p in paths)
    assert sorted(f.name for f in (tmp_path / "raw").iterdir()) == sorted(
        [*listed, MANIFEST, STATS]
    )


def test_rerun_skips_complete_files_and_prunes_what_is_no_longer_named(
    fast_settings, crawl_server, tmp_path
):
    settings = dataclasses.replace(fast_settings, sources=[CRAWL], segments=3)
    metrics_path = tmp_path / "ingest.json"
    run_ingest(settings, metrics_path)
    own_file = tmp_path / "raw" / "notes.txt"  # not written by ingest: never pruned
    own_file.write_text("keep me")

    crawl_server.reset()
    run_ingest(settings, metrics_path)
    assert json.loads(metrics_path.read_text())["skipped"] == 3
    assert [r.path for r in crawl_server.file_requests()] == [f"/crawl-data/{CRAWL}/warc.paths.gz"]

    paths = run_ingest(dataclasses.replace(settings, segments=1), metrics_path)
    assert json.loads(metrics_path.read_text())["pruned"] == 2
    remaining = sorted(f.name for f in (tmp_path / "raw").iterdir())
    assert remaining == sorted([paths[0].name, MANIFEST, STATS, "notes.txt"])


def test_a_failed_run_prunes_nothing_and_a_successful_one_reports_what_it_pruned(
    fast_settings, crawl_server, tmp_path
):
    settings = dataclasses.replace(fast_settings, sources=[CRAWL], segments=3)
    metrics_path = tmp_path / "ingest.json"
    paths = run_ingest(settings, metrics_path)
    raw = tmp_path / "raw"

    def files() -> dict[str, bytes]:  # the manifest names what a run may write: it only grows
        return {p.name: p.read_bytes() for p in raw.iterdir() if p.name != MANIFEST}

    before = files()
    headline = metrics_path.read_bytes()
    # The next run names one segment and a file the server lacks: it fails, and keeps all.
    bad = crawl_server.url + "/files/dolma/missing.warc.gz"
    failing = dataclasses.replace(settings, sources=[CRAWL, bad], segments=1)
    with pytest.raises(IngestError, match="1 of 2 sources failed"):
        run_ingest(failing, metrics_path)
    assert files() == before
    assert metrics_path.read_bytes() == headline

    params = Params(ingest=dataclasses.replace(settings, segments=1, metrics=str(metrics_path)))
    metrics = run_local("ingest", params)
    gone = sorted(p.name for p in paths[1:])
    assert metrics["pruned"] == 2 and sorted(metrics["pruned_files"]) == gone
    assert _details(settings)["pruned_files"] == metrics["pruned_files"]
    assert sorted(p.name for p in raw.iterdir()) == sorted([paths[0].name, MANIFEST, STATS])
    assert f"pruned: {', '.join(metrics['pruned_files'])}" in summary(metrics)


def test_local_files_are_copied(fast_settings, shared_data, tmp_path):
    src = shared_data / "warc" / "ukwa" / "IAH-urls-wget.warc.gz"
    settings = dataclasses.replace(fast_settings, sources=[str(src)])
    (path,) = run_ingest(settings, tmp_path / "ingest.json")
    assert path.read_bytes() == src.read_bytes()
    assert _details(settings)["copied"] == 1


def test_one_failing_source_is_reported_and_the_others_complete(
    fast_settings, crawl_server, tmp_path
):
    good = crawl_server.file_url("dolma/sample-0001.warc.gz")
    bad = crawl_server.url + "/files/dolma/missing.warc.gz"
    settings = dataclasses.replace(fast_settings, sources=[bad, good])
    with pytest.raises(IngestError, match=r"1 of 2 sources failed:\n  missing.warc.gz .*HTTP 404"):
        run_ingest(settings, tmp_path / "ingest.json")
    raw = tmp_path / "raw"
    assert (raw / "sample-0001.warc.gz").read_bytes() == crawl_server.content_of(
        "/files/dolma/sample-0001.warc.gz"
    )
    assert not (raw / "missing.warc.gz").exists()
    assert not (tmp_path / "ingest.json").exists()  # a failed stage writes no metrics


def test_no_sources_writes_the_sample_crawl(fast_settings, tmp_path):
    pytest.importorskip("warc2gpt.ingest.sample", reason="the sample crawl module is not built")
    paths = run_ingest(fast_settings, tmp_path / "ingest.json")
    assert paths and all(_records(p) > 0 for p in paths)
    assert _details(fast_settings)["sample"] == len(paths)


def test_command_line(crawl_server, tmp_path, capsys):
    out = tmp_path / "raw"
    args = f"--source {CRAWL} --segments 2 --base-url {crawl_server.url} --output {out}"
    args += f" --metrics {tmp_path / 'ingest.json'} --params {os.devnull}"
    code = main(["ingest", *args.split(), "--no-progress", "--no-tracking"])
    assert code == 0
    assert sorted(p.name for p in out.glob("part-*")) == crawl_server.listed[:2]
    assert "ingest: 2 files" in capsys.readouterr().out


def test_command_line_failure_is_one_clear_line(crawl_server, tmp_path, capsys):
    args = f"--source CC-MAIN-1999-01 --base-url {crawl_server.url} --output {tmp_path / 'raw'}"
    args += f" --set ingest.retries=0 --params {os.devnull}"
    code = main(["ingest", *args.split(), "--no-progress", "--no-tracking"])
    assert code == 2
    err = capsys.readouterr().err
    assert "CC-MAIN-1999-01" in err and "HTTP 404" in err and "Traceback" not in err
