"""`dedup.index`: increments decided against the documents earlier increments kept."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from dedup_corpus import edit_words, make_documents, write_shard

from warc2gpt.config import load_params
from warc2gpt.dedup import index as index_module
from warc2gpt.dedup.index import Documents, open_index
from warc2gpt.stages import run_local


@dataclass
class Increments:
    root: Path
    exact_copy: str  # in increment 2: the copy of an increment-1 document, re-cased
    near_copy: str  # in increment 2: an increment-1 document with 1% of its words changed
    within: str  # in increment 2: a near duplicate of another increment-2 document
    originals: dict[str, str]  # the increment-1 id each copy repeats


@pytest.fixture
def increments(tmp_path: Path, paragraphs: list[str]) -> Increments:
    rng = random.Random(3)
    docs = make_documents(paragraphs, 60)
    first, second = docs[:30], docs[30:56]
    write_shard(tmp_path / "inc1" / "a.parquet", first[:15], "a")
    write_shard(tmp_path / "inc1" / "b.parquet", first[15:], "b")
    exact_copy = "  " + first[4].upper() + " "
    near_copy = edit_words(first[20], 0.01, rng)
    within = edit_words(second[2], 0.01, rng)
    write_shard(tmp_path / "inc2" / "c.parquet", [*second[:13], exact_copy], "c")
    write_shard(tmp_path / "inc2" / "d.parquet", [*second[13:], near_copy, within], "d")
    return Increments(
        root=tmp_path,
        exact_copy="c-13",
        near_copy="d-13",
        within="d-14",
        originals={"c-13": "a-4", "d-13": "b-5"},
    )


def overrides(root: Path, increment: str, *extra: str) -> list[str]:
    return [
        f"dedup.input=[{root}/{increment}/*.parquet]",
        f"dedup.output={root}/dedup",
        f"dedup.work_dir={root}/work",
        f"dedup.metrics={root}/metrics/dedup.json",
        f"dedup.index={root}/index",
        "dedup.workers=1",
        "dedup.runner=threads",
        "dedup.partitions=2",
        "tracking.enabled=false",
        *extra,
    ]


def params_for(root: Path, increment: str, *extra: str):
    return load_params(root / "missing.yaml", overrides(root, increment, *extra))


def kept_ids(folder: Path) -> set[str]:
    return {
        i
        for path in folder.glob("*.parquet")
        for i in pq.read_table(path, columns=["id"]).column(0).to_pylist()
    }


def removed(folder: Path) -> dict[str, tuple[str, str | None]]:
    out = {}
    for path in (folder / "removed").glob("*.parquet"):
        for r in pq.read_table(path, columns=["id", "filter_reason", "duplicate_of"]).to_pylist():
            out[r["id"]] = (r["filter_reason"], r["duplicate_of"])
    return out


def snapshot(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in skip
    }


def test_duplicates_of_earlier_documents_go_and_earlier_ones_are_not_redecided(
    increments: Increments,
):
    root = increments.root
    first = run_local("dedup", params_for(root, "inc1"))
    assert (first["index_docs_before"], first["index_docs_after"]) == (0, 30)
    assert first["removed_against_index"] == {"exact": 0, "near": 0}

    second = run_local("dedup", params_for(root, "inc2"))
    originals = increments.originals
    assert removed(root / "dedup") == {
        increments.exact_copy: ("exact_duplicate_of_earlier", originals[increments.exact_copy]),
        increments.near_copy: ("near_duplicate_of_earlier", originals[increments.near_copy]),
        increments.within: ("near_duplicate", None),
    }
    # Only increment 2's documents are decided: none of increment 1 is kept or removed again.
    inc2 = {f"c-{i}" for i in range(14)} | {f"d-{i}" for i in range(15)}
    assert kept_ids(root / "dedup") == inc2 - {"c-13", "d-13", "d-14"}
    assert second["docs_in"] == 29 and second["docs_out"] == 26
    assert second["removed_against_index"] == {"exact": 1, "near": 1}
    assert (second["exact_duplicates"], second["near_duplicates"], second["removed"]) == (0, 1, 3)
    assert (second["index_docs_before"], second["index_docs_after"]) == (30, 56)
    assert second["index"]["segments_consulted"] == 1 and not second["index"]["replaced"]
    assert "index_lookup" in second["seconds"] and "index_append" in second["seconds"]
    headline = json.loads((root / "metrics" / "dedup.json").read_text())
    assert headline == {"docs_out": 26}
    assert second["removed_earlier"] == 2
    from warc2gpt.dedup.stage import summary

    assert "against the index     1 exact, 1 near" in summary(second)
    # The index grew by the survivors only.
    manifest = json.loads((root / "index" / "manifest.json").read_text())
    assert manifest["increments"] == [
        {"inputs": ["a.parquet", "b.parquet"], "docs": 30},
        {"inputs": ["c.parquet", "d.parquet"], "docs": 26},
    ]


@pytest.mark.parametrize("merge_factor", [8, 2])
def test_rerunning_an_increment_gives_the_same_outputs_and_index(
    increments: Increments, monkeypatch, merge_factor: int
):
    # With 2, the two increments share one merged segment: a rerun reads part of it.
    monkeypatch.setattr(index_module, "MERGE_FACTOR", merge_factor)
    root = increments.root
    run_local("dedup", params_for(root, "inc1"))
    once = run_local("dedup", params_for(root, "inc2"))
    assert once["index"]["segments"] == (1 if merge_factor == 2 else 2)
    outputs = snapshot(root / "dedup", skip=("stats.json",))
    index = snapshot(root / "index")
    # Resumed from the work files, then from scratch: the same.
    for extra in ([], [f"dedup.work_dir={root}/other-work"]):
        again = run_local("dedup", params_for(root, "inc2", *extra))
        assert snapshot(root / "dedup", skip=("stats.json",)) == outputs
        assert snapshot(root / "index") == index
        assert again["index"]["replaced"]
        assert again["removed_against_index"] == once["removed_against_index"]
        assert (again["index_docs_before"], again["index_docs_after"]) == (56, 56)
    # An older increment rerun after a newer one is decided against the ones before it only.
    run_local("dedup", params_for(root, "inc1"))
    assert snapshot(root / "index") == index
    assert kept_ids(root / "dedup") == {f"a-{i}" for i in range(15)} | {f"b-{i}" for i in range(15)}


def test_the_first_increment_is_deduplicated_as_without_an_index(
    increments: Increments, tmp_path: Path
):
    root = increments.root
    (root / "inc1" / "copy.parquet").write_bytes((root / "inc1" / "a.parquet").read_bytes())
    without = run_local(
        "dedup", params_for(root, "inc1", "dedup.index=", f"dedup.output={tmp_path}/plain")
    )
    assert "index" not in without and "removed_against_index" not in without
    with_index = run_local("dedup", params_for(root, "inc1"))
    assert with_index["removed"] == without["removed"] == 15
    for name in ("a.parquet", "b.parquet", "copy.parquet"):
        assert (root / "dedup" / name).read_bytes() == (tmp_path / "plain" / name).read_bytes()


def test_a_killed_run_leaves_the_index_whole(increments: Increments):
    root = increments.root
    run_local("dedup", params_for(root, "inc1"))
    index = snapshot(root / "index")
    outputs = snapshot(root / "dedup")
    # Killed once its segment is written, before the manifest lists it: no cleanup runs.
    script = (
        "import os, sys\n"
        "from warc2gpt.config import load_params\n"
        "from warc2gpt.dedup import index\n"
        "from warc2gpt.stages import run_local\n"
        "index.write_json = lambda *a: os._exit(9)\n"
        "run_local('dedup', load_params(sys.argv[1], sys.argv[2:]))\n"
    )
    killed = subprocess.run(
        [sys.executable, "-c", script, str(root / "missing.yaml"), *overrides(root, "inc2")],
        capture_output=True,
        text=True,
    )
    assert killed.returncode == 9, killed.stderr
    left = sorted(p.name for p in (root / "index" / "segments").iterdir())
    assert len(left) == 2  # increment 1's and the unlisted one the killed run wrote
    assert (root / "index" / "manifest.json").read_bytes() == index["manifest.json"]
    assert snapshot(root / "dedup") == outputs
    # The index reads as before the killed run, and the rerun completes it.
    rerun = run_local("dedup", params_for(root, "inc2"))
    assert rerun["removed_against_index"] == {"exact": 1, "near": 1}
    assert (rerun["index_docs_before"], rerun["index_docs_after"]) == (30, 56)
    assert len(list((root / "index" / "segments").iterdir())) == 2


def test_other_hash_settings_are_refused(increments: Increments):
    run_local("dedup", params_for(increments.root, "inc1"))
    with pytest.raises(ValueError, match="ngram: index 5, now 3"):
        run_local("dedup", params_for(increments.root, "inc2", "dedup.ngram=3"))


def test_inputs_overlapping_an_increment_are_refused(increments: Increments):
    root = increments.root
    run_local("dedup", params_for(root, "inc1"))
    (root / "inc2" / "a.parquet").write_bytes((root / "inc1" / "a.parquet").read_bytes())
    with pytest.raises(ValueError, match="a.parquet already belong to increment 0"):
        run_local("dedup", params_for(root, "inc2"))


def test_an_index_inside_the_output_is_refused(increments: Increments):
    root = increments.root
    with pytest.raises(ValueError, match="overlaps dedup.output"):
        run_local("dedup", params_for(root, "inc1", f"dedup.index={root}/dedup/index"))


def test_two_runs_cannot_share_the_index_at_once(increments: Increments):
    settings = params_for(increments.root, "inc1").dedup
    with open_index(settings), pytest.raises(RuntimeError, match="another dedup run"):
        with open_index(settings):
            pass


def test_segment_lookup_finds_keys_and_rows(tmp_path: Path):
    settings = load_params(tmp_path / "none.yaml", [f"dedup.index={tmp_path}/i"]).dedup
    index = index_module.DedupIndex(tmp_path / "i", settings)
    bands = np.array([[30, 10, 20], [5, 6, 7]] + [[0, 1, 2]] * 12, dtype=np.uint64)
    exact = np.array([9, 3, 7, 1], np.uint64)
    index.put(
        ["x.parquet"], Documents(np.array(["p", "q", "r", "s"]), exact, bands, np.array([0, 2, 3]))
    )
    segment = index.segments[0]
    queries = [
        (None, np.array([1, 2, 9], np.uint64)),
        (0, np.array([10, 30, 31], np.uint64)),
        (1, np.array([4, 8], np.uint64)),
    ]
    exact_found, band0, band1 = index.find(segment, queries, rows=4)
    assert exact_found[0].tolist() == [0, 2] and exact_found[1].tolist() == [3, 0]
    assert band0[0].tolist() == [0, 1] and index.ids(segment, band0[1]).tolist() == ["r", "p"]
    assert band1[0].size == 0
    # Rows from the limit on belong to later increments: not found.
    exact_found, band0, _ = index.find(segment, queries, rows=2)
    assert exact_found[0].tolist() == [2] and band0[1].tolist() == [0]


def test_merged_segments_read_back_and_answer_as_separate_ones(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(index_module, "MERGE_FACTOR", 2)
    settings = load_params(tmp_path / "none.yaml", [f"dedup.index={tmp_path}/i"]).dedup
    index = index_module.DedupIndex(tmp_path / "i", settings)
    rng = np.random.default_rng(0)

    def documents(n: int, prefix: str) -> Documents:
        words = np.flatnonzero(rng.random(n) < 0.8)
        return Documents(
            np.array([f"{prefix}{i}" for i in range(n)]),
            rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64),
            rng.integers(0, 2**63, (14, words.size), dtype=np.int64).astype(np.uint64),
            words,
        )

    added = [documents(n, f"i{k}-") for k, n in enumerate([5, 7, 3, 6, 4])]
    for k, part in enumerate(added):
        index.put([f"inc{k}.parquet"], part)
    # 5 increments, merged two by two: [0-3], [4].
    assert [(s.first, s.last, s.docs) for s in index.segments] == [(0, 3, 21), (4, 4, 4)]
    whole = index._read(index.segments[0])
    expected = Documents.joined(added[:4])
    for name in ("ids", "exact", "bands", "with_words"):
        assert np.array_equal(getattr(whole, name), getattr(expected, name))
    # Increment 2, rerun: decided against increments 0 and 1 only.
    (segment, rows), *rest = index.earlier(["inc2.parquet"])
    assert rows == 12 and rest == []
    (exact_found, _), *_ = index.find(segment, [(None, np.sort(added[2].exact))], rows)
    assert exact_found.size == 0
    assert index.increment_ids(2).tolist() == [f"i2-{i}" for i in range(3)]
    # Its documents replaced in place: the same ones leave the folder as it was.
    before = sorted(p.name for p in (tmp_path / "i" / "segments").iterdir())
    manifest = (tmp_path / "i" / "manifest.json").read_bytes()
    assert index.put(["inc2.parquet"], added[2])
    assert sorted(p.name for p in (tmp_path / "i" / "segments").iterdir()) == before
    assert (tmp_path / "i" / "manifest.json").read_bytes() == manifest
    # Other ones: the segment holding it is rewritten, the other increments unchanged.
    assert index.put(["inc2.parquet"], documents(2, "new-"))
    assert index.increment_ids(2).tolist() == ["new-0", "new-1"]
    assert index.increment_ids(3).tolist() == [f"i3-{i}" for i in range(6)]
    assert index.docs == 5 + 7 + 2 + 6 + 4


def test_reused_shard_names_with_other_documents_are_refused(
    increments: Increments, paragraphs: list[str]
):
    root = increments.root
    run_local("dedup", params_for(root, "inc1"))
    others = make_documents(paragraphs, 80)[60:]
    write_shard(root / "inc3" / "a.parquet", others[:10], "z")
    write_shard(root / "inc3" / "b.parquet", others[10:], "y")
    with pytest.raises(ValueError, match="but none of its documents"):
        run_local("dedup", params_for(root, "inc3"))


def test_a_cluster_with_an_earlier_document_loses_all_its_members(monkeypatch):
    from warc2gpt.dedup import earlier

    # Within the run: 7 went for 5, 5 for 2 (an exact duplicate of a near one); 11 for 10.
    removed, keepers = np.array([5, 7, 11], np.uint64), np.array([2, 5, 10], np.uint64)
    monkeypatch.setattr(earlier, "_cluster_removals", lambda plan: (removed, keepers))
    # Only 5 matches the index (near, increment 0, row 3); 10's cluster matches nothing.
    members, reasons, which = earlier._with_clusters(
        None,
        np.array([5], np.uint64),
        np.array([1]),
        np.array([0]),
        np.array([3]),
    )
    assert members.tolist() == [2, 5, 7]
    assert reasons.tolist() == [earlier.NEAR_EARLIER] * 3
    assert which.tolist() == [0, 0, 0]
