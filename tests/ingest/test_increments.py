"""Increment mode: each run takes the next `per_run` files no earlier run took, in source order,
records them in the state file once they are in, and changes nothing when none is left."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from warc2gpt.config import IngestSettings, Params
from warc2gpt.ingest.increments import IncrementStateError, read_increments
from warc2gpt.ingest.sample import sample_file_names
from warc2gpt.ingest.stage import MANIFEST, STATS, IngestError, summary
from warc2gpt.stages import run_local

CRAWL = "CC-MAIN-2024-22"


def increment_settings(tmp_path: Path, **changes) -> IngestSettings:
    settings = IngestSettings(
        output=str(tmp_path / "raw"),
        metrics=str(tmp_path / "metrics" / "ingest.json"),
        state=str(tmp_path / "increments" / "state.json"),
        mode="increment",
    )
    return dataclasses.replace(settings, **changes)


def run_ingest(settings: IngestSettings) -> dict:
    return run_local("ingest", Params(ingest=settings))


def warc_files(settings: IngestSettings) -> list[str]:
    """The fetched files in the output folder (not the stage's own records)."""
    return sorted(
        p.name for p in Path(settings.output).iterdir() if p.name not in (MANIFEST, STATS)
    )


def folder_state(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and modification time."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def test_sample_increments_take_one_file_each_then_nothing(tmp_path, sample_dir):
    settings = increment_settings(tmp_path)
    names = sample_file_names()
    assert len(names) == 3
    for number, name in enumerate(names, start=1):
        metrics = run_ingest(settings)
        assert warc_files(settings) == [name]  # earlier increments' files are pruned
        # Each file has the bytes it has in the whole sample crawl (full mode's).
        assert (Path(settings.output) / name).read_bytes() == (sample_dir / name).read_bytes()
        assert metrics["increment"] == number and metrics["new_files"] == 1
        assert summary(metrics).startswith(f"ingest: increment {number}: 1 files")
        headline = json.loads(Path(settings.metrics).read_text())
        assert headline["increment"] == number and headline["new_files"] == 1

    entries = read_increments(settings.state)
    assert [e["id"] for e in entries] == [1, 2, 3]
    assert [e["files"] for e in entries] == [[n] for n in names]
    assert all(e["sources"] == ["sample"] for e in entries)
    assert entries[1]["sha256"] == hashlib.sha256(names[1].encode()).hexdigest()
    assert all(e["taken_at"].endswith("+00:00") for e in entries)

    # A fourth run has nothing left: the folder and the state stay exactly as they were.
    raw, state = folder_state(Path(settings.output)), Path(settings.state).read_bytes()
    metrics = run_ingest(settings)
    assert folder_state(Path(settings.output)) == raw
    assert Path(settings.state).read_bytes() == state
    assert metrics["new_files"] == 0 and metrics["increment"] == 3 and metrics["files"] == 0
    assert summary(metrics).startswith("ingest: no new WARC files: nothing to do")
    assert json.loads(Path(settings.metrics).read_text())["new_files"] == 0


def test_per_run_two_takes_two_files_then_the_rest(tmp_path):
    settings = increment_settings(tmp_path, per_run=2)
    names = sample_file_names()
    assert run_ingest(settings)["new_files"] == 2
    assert warc_files(settings) == names[:2]
    metrics = run_ingest(settings)
    assert metrics["new_files"] == 1 and metrics["pruned_files"] == names[:2]
    assert warc_files(settings) == names[2:]
    assert run_ingest(settings)["new_files"] == 0
    assert [e["files"] for e in read_increments(settings.state)] == [names[:2], names[2:]]


def test_a_failed_download_records_nothing_and_the_next_run_takes_the_same_files(
    fast_settings, crawl_server, tmp_path
):
    settings = dataclasses.replace(
        fast_settings,
        sources=[CRAWL],
        segments=3,
        mode="increment",
        per_run=2,
        state=str(tmp_path / "state.json"),
        metrics=str(tmp_path / "ingest.json"),
    )
    first_two = crawl_server.listed[:2]
    crawl_server.faults.fail_503 = 100  # every attempt at the WARC files fails
    crawl_server.faults.paths = "/part-"
    with pytest.raises(IngestError, match="2 of 2 sources failed"):
        run_ingest(settings)
    assert read_increments(settings.state) == []
    assert not Path(settings.state).exists()

    crawl_server.reset()
    metrics = run_ingest(settings)
    assert metrics["increment"] == 1 and warc_files(settings) == sorted(first_two)
    (entry,) = read_increments(settings.state)
    assert entry["files"] == first_two  # the listing's order
    assert entry["sources"] == [crawl_server.url + "/" + rel for rel in first_two]

    run_ingest(settings)  # the listing's third file
    assert [e["files"] for e in read_increments(settings.state)][1] == crawl_server.listed[2:3]


def test_a_local_folder_is_taken_in_name_order_and_new_files_come_later(tmp_path, sample_dir):
    folder = tmp_path / "crawl"
    folder.mkdir()
    first = sample_file_names()[0]
    for name in ("c.warc.gz", "a.warc.gz", "b.warc.gz"):
        shutil.copy(sample_dir / first, folder / name)
    settings = increment_settings(tmp_path, sources=[str(folder)])
    taken = [run_ingest(settings) and warc_files(settings) for _ in range(3)]
    assert taken == [["a.warc.gz"], ["b.warc.gz"], ["c.warc.gz"]]
    assert read_increments(settings.state)[0]["sources"] == [str(folder / "a.warc.gz")]
    assert run_ingest(settings)["new_files"] == 0

    shutil.copy(sample_dir / first, folder / "0-new.warc.gz")  # sorts first, yet is new
    metrics = run_ingest(settings)
    assert metrics["increment"] == 4 and warc_files(settings) == ["0-new.warc.gz"]
    assert sorted(p.name for p in Path(settings.output).iterdir()) == sorted(
        ["0-new.warc.gz", MANIFEST, STATS]
    )


def test_an_unreadable_state_file_stops_the_run_with_what_to_do(tmp_path):
    settings = increment_settings(tmp_path)
    Path(settings.state).parent.mkdir()
    Path(settings.state).write_text("[1, 2")
    with pytest.raises(IncrementStateError, match=r"state.json: not an increments state file"):
        run_ingest(settings)
    assert not Path(settings.output).exists()


def test_full_mode_leaves_the_state_file_alone(tmp_path):
    settings = increment_settings(tmp_path, mode="full")
    metrics = run_ingest(settings)
    assert warc_files(settings) == sample_file_names()
    assert "increment" not in metrics and "new_files" not in metrics
    assert not Path(settings.state).exists()
