"""Curate writes documents as it reads a file: parts with checkpoints, flat memory, and a killed
run that resumes inside the file it was on, for every way a WARC can be compressed."""

from __future__ import annotations

import gzip
import json
import multiprocessing
import os
import signal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from warc2gpt.config import load_params
from warc2gpt.curate import stage
from warc2gpt.curate.shards import PARTIAL, partial_dir
from warc2gpt.curate.stage import curate_file, paths_for

ROOT = Path(__file__).resolve().parents[2]
FORMATS = ("gzip-per-record", "one-gzip-stream", "uncompressed")


@pytest.fixture(scope="module")
def warcs(sample_dir, tmp_path_factory) -> dict[str, Path]:
    """The first sample WARC file in each of the three layouts."""
    source = sorted(sample_dir.glob("*.warc.gz"))[0]
    tmp = tmp_path_factory.mktemp("layouts")
    plain = gzip.decompress(source.read_bytes())
    (tmp / "one.warc.gz").write_bytes(gzip.compress(plain))
    (tmp / "plain.warc").write_bytes(plain)
    return dict(zip(FORMATS, [source, tmp / "one.warc.gz", tmp / "plain.warc"], strict=True))


def settings_for(out: Path, flush_docs: int):
    overrides = [
        f"curate.output={json.dumps(str(out))}",
        f"curate.flush_docs={flush_docs}",
        "curate.extraction_timeout=60",  # a loaded machine must not change what is kept
        "tracking.enabled=false",
    ]
    return load_params(ROOT / "params.yaml", overrides).curate


def shards(out: Path, name: str) -> tuple[list[dict], list[dict]]:
    kept, removed, _ = paths_for(out, name)
    return pq.read_table(kept).to_pylist(), pq.read_table(removed).to_pylist()


def comparable(stats: dict) -> dict:
    """A file's stats without what depends on timing or on how the run went."""
    steps = {n: {k: v for k, v in s.items() if k != "seconds"} for n, s in stats["steps"].items()}
    drop = ("seconds", "resumed_docs", "fingerprint", "steps")
    return {**{k: v for k, v in stats.items() if k not in drop}, "steps": steps}


@pytest.fixture(scope="module")
def reference(warcs, tmp_path_factory) -> dict[str, tuple]:
    """Each layout curated in one go, with one flush at the end."""
    results = {}
    for layout, path in warcs.items():
        out = tmp_path_factory.mktemp(f"ref-{layout}")
        stats = curate_file(path, settings_for(out, 100_000))
        results[layout] = (stats, shards(out, stage.output_name(path)))
    return results


@pytest.mark.parametrize("layout", FORMATS)
def test_parts_make_the_same_shards_as_one_write(warcs, reference, tmp_path, layout):
    path = warcs[layout]
    stats = curate_file(path, settings_for(tmp_path, 7))
    expected_stats, expected_rows = reference[layout]
    assert expected_stats["pages"] > 50 and expected_stats["kept"] > 10
    assert shards(tmp_path, stage.output_name(path)) == expected_rows
    assert comparable(stats) == comparable(expected_stats)
    kept = pq.ParquetFile(paths_for(tmp_path, stage.output_name(path))[0])
    assert kept.metadata.num_row_groups > 1, "documents were not written in row groups"
    assert max(kept.metadata.row_group(i).num_rows for i in range(kept.num_row_groups)) <= 7
    assert not (tmp_path / PARTIAL / stage.output_name(path)).exists(), "parts left behind"


def _killed_after(path: Path, settings, pages: int) -> None:
    """Curate `path` in this (forked) process and kill it with SIGKILL after `pages` pages."""
    seen = 0
    real = stage.advance

    def advance(n: int, **counts) -> None:
        nonlocal seen
        real(n, **counts)
        seen += counts.get("docs", 0)
        if seen >= pages:
            os.kill(os.getpid(), signal.SIGKILL)

    stage.advance = advance
    curate_file(path, settings)


@pytest.mark.parametrize("layout", FORMATS)
def test_a_killed_run_resumes_inside_the_file(warcs, reference, tmp_path, layout):
    path, name = warcs[layout], stage.output_name(warcs[layout])
    settings = settings_for(tmp_path, 10)
    child = multiprocessing.get_context("fork").Process(
        target=_killed_after, args=(path, settings, 25)
    )
    child.start()
    child.join(120)
    assert child.exitcode == -signal.SIGKILL
    checkpoint = json.loads((partial_dir(tmp_path, name) / "checkpoint.json").read_text())
    assert checkpoint["kept"] + checkpoint["removed"] == 20  # two flushes of 10 survived
    assert not paths_for(tmp_path, name)[2].exists(), "a killed file must not look done"

    stats = curate_file(path, settings)
    expected_stats, expected_rows = reference[layout]
    assert stats["resumed_docs"] == 20
    assert shards(tmp_path, name) == expected_rows  # nothing lost, nothing written twice
    assert comparable(stats) == comparable(expected_stats)
    assert not partial_dir(tmp_path, name).exists()


def test_parts_from_other_settings_are_discarded(warcs, reference, tmp_path):
    path, name = warcs["gzip-per-record"], stage.output_name(warcs["gzip-per-record"])
    child = multiprocessing.get_context("fork").Process(
        target=_killed_after, args=(path, settings_for(tmp_path, 10), 25)
    )
    child.start()
    child.join(120)
    assert (partial_dir(tmp_path, name) / "checkpoint.json").exists()
    stricter = settings_for(tmp_path, 10)
    stricter.gopher_quality.min_doc_words = 5000
    stats = curate_file(path, stricter)
    assert "resumed_docs" not in stats, "parts made under other settings were reused"
    assert stats["pages"] == reference["gzip-per-record"][0]["pages"]
    assert stats["kept"] < reference["gzip-per-record"][0]["kept"]


def test_a_killed_file_no_longer_among_the_inputs_is_pruned_after_success(warcs, tmp_path):
    from warc2gpt.mapper import LocalMapper

    path, name = warcs["gzip-per-record"], stage.output_name(warcs["gzip-per-record"])
    out = tmp_path / "curated"
    child = multiprocessing.get_context("fork").Process(
        target=_killed_after, args=(path, settings_for(out, 10), 15)
    )
    child.start()
    child.join(120)
    assert partial_dir(out, name).is_dir()
    overrides = [
        f"curate.input={json.dumps([str(warcs['uncompressed'])])}",
        f"curate.output={json.dumps(str(out))}",
        f"curate.metrics={json.dumps(str(tmp_path / 'curate.json'))}",
        "curate.extraction_timeout=60",
        "tracking.enabled=false",
    ]
    metrics = stage.run(load_params(ROOT / "params.yaml", overrides), LocalMapper("threads", 1))
    assert str(partial_dir(out, name)) in metrics["pruned"]
    assert not partial_dir(out, name).exists()
    assert stage.summary(metrics).count("removed stale shard") == len(metrics["pruned"])
