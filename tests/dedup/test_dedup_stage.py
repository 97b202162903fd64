"""The dedup stage end to end on real text with planted exact and near duplicates across shards."""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dedup_corpus import edit_words, make_documents, write_shard

from warc2gpt.cli import main
from warc2gpt.config import load_params
from warc2gpt.dedup import plan, stage
from warc2gpt.dedup.filter import filter_shard
from warc2gpt.dedup.plan import prepare
from warc2gpt.dedup.signatures import shard_signatures
from warc2gpt.stages import run_local


@dataclass
class Corpus:
    root: Path
    originals: set[str]
    exact: set[str]  # copies that must go as exact duplicates
    near: set[str]  # edited copies that must go as near duplicates
    overlapping: str  # shares one paragraph with an original: must stay


@pytest.fixture
def corpus(tmp_path: Path, paragraphs: list[str]) -> Corpus:
    rng = random.Random(7)
    docs = make_documents(paragraphs, 90)
    shards = [docs[0:30], docs[30:60], docs[60:90]]
    extra: list[list[str]] = [[], [], []]
    exact, near = [], []
    for i in range(4):  # shard 0's documents copied into shards 1 and 2, some re-cased/re-spaced
        text = shards[0][i]
        variant = text if i % 2 == 0 else "  " + text.upper().replace(" ", "   ") + " "
        extra[1 + i % 2].append(variant)
        exact.append((1 + i % 2, variant))
    for i in range(6):  # 1% of words edited: Jaccard ~0.9
        src = 1 + i % 2
        text = shards[src][i + 5]
        copy = edit_words(text, 0.01, rng)
        # The earliest copy (by shard, then row) stays: copies go after their original.
        target = 2 if i % 3 else src
        extra[target].append(copy)
        near.append((target, copy))
    # One cluster of three: two more edits of the same original.
    for target in (1, 2):
        copy = edit_words(shards[1][20], 0.01, rng)
        extra[target].append(copy)
        near.append((target, copy))
    first_par = shards[2][3].split("\n\n")[0]
    overlapping = "\n\n".join([first_par, *shards[0][25].split("\n\n")[1:]]) + " tail"
    extra[2].append(overlapping)

    ids: dict[str, str] = {}
    originals: set[str] = set()
    for s in range(3):
        texts = shards[s] + extra[s]
        written = write_shard(tmp_path / "curated" / f"part-{s}.parquet", texts, f"s{s}")
        originals |= set(written[: len(shards[s])])
        for doc_id, text in zip(written[len(shards[s]) :], extra[s], strict=True):
            ids[(s, text)] = doc_id
    return Corpus(
        root=tmp_path,
        originals=originals,
        exact={ids[k] for k in exact},
        near={ids[k] for k in near},
        overlapping=ids[(2, overlapping)],
    )


def params_for(root: Path, *extra: str):
    return load_params(
        root / "missing.yaml",
        [
            f"dedup.input=[{root}/curated/*.parquet]",
            f"dedup.output={root}/dedup",
            f"dedup.work_dir={root}/work",
            f"dedup.metrics={root}/metrics/dedup.json",
            "dedup.workers=1",
            "dedup.partitions=3",
            "tracking.enabled=false",
            *extra,
        ],
    )


def kept_ids(root: Path) -> list[str]:
    return sorted(
        i
        for p in sorted((root / "dedup").glob("*.parquet"))
        for i in pq.read_table(p, columns=["id"]).column(0).to_pylist()
    )


def removed_reasons(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted((root / "dedup" / "removed").glob("*.parquet")):
        table = pq.read_table(path, columns=["id", "filter_reason"]).to_pylist()
        out.update({r["id"]: r["filter_reason"] for r in table})
    return out


def test_removes_planted_duplicates_and_nothing_else(corpus: Corpus):
    metrics = run_local("dedup", params_for(corpus.root))
    kept = set(kept_ids(corpus.root))
    assert kept == corpus.originals | {corpus.overlapping}
    reasons = removed_reasons(corpus.root)
    assert reasons == {
        **{i: "exact_duplicate" for i in corpus.exact},
        **{i: "near_duplicate" for i in corpus.near},
    }
    assert metrics["docs_in"] == len(corpus.originals) + len(corpus.exact) + len(corpus.near) + 1
    assert metrics["exact_duplicates"] == len(corpus.exact)
    assert metrics["near_duplicates"] == len(corpus.near)
    assert metrics["near_duplicate_clusters"] == 7  # six pairs and one cluster of three
    assert metrics["largest_cluster"] == 3
    assert metrics["docs_out"] == len(kept)
    on_disk = json.loads((corpus.root / "dedup" / "stats.json").read_text())
    assert on_disk["removed"] == len(reasons)
    near_samples = [p for p in on_disk["sample_removed_pairs"] if p["reason"] == "near_duplicate"]
    assert near_samples and all(p["estimated_jaccard"] > 0.7 for p in near_samples)
    assert all(
        p["removed"]["id"] in corpus.near and p["kept"]["id"] in corpus.originals
        for p in near_samples
    )
    # Same columns and types as the input.
    source = pq.read_schema(corpus.root / "curated" / "part-0.parquet")
    assert pq.read_schema(corpus.root / "dedup" / "part-0.parquet") == source


def test_exact_only_and_near_only(corpus: Corpus):
    exact_only = run_local("dedup", params_for(corpus.root, "dedup.near=false"))
    assert (exact_only["exact_duplicates"], exact_only["near_duplicates"]) == (4, 0)
    # Changed settings invalidate the work files: this run recomputes everything.
    near_only = run_local("dedup", params_for(corpus.root, "dedup.exact=false"))
    assert near_only["resumed_steps"] == 0
    # Exact copies are near duplicates with Jaccard 1: the same documents go.
    assert near_only["exact_duplicates"] == 0
    assert near_only["near_duplicates"] == len(corpus.exact) + len(corpus.near)
    assert set(kept_ids(corpus.root)) == corpus.originals | {corpus.overlapping}


def test_resumes_after_an_interruption(corpus: Corpus, tmp_path: Path):
    reference = run_local("dedup", params_for(corpus.root))
    expected = kept_ids(corpus.root)
    work = corpus.root / "work"
    # Undo the later steps as if the run had died during them.
    (work / "clusters.json").unlink()
    next((work / "edges").glob("band003_*.npz")).unlink()
    again = run_local("dedup", params_for(corpus.root))
    assert kept_ids(corpus.root) == expected
    # Redone: one key range, the clusters and the filter (it builds a new output folder).
    assert again["resumed_steps"] == 3 + 2
    assert again["removed"] == reference["removed"]
    # A run killed after some signatures resumes from them with the same result.
    params = params_for(
        corpus.root, f"dedup.work_dir={tmp_path}/work2", f"dedup.output={tmp_path}/out2"
    )
    shard_signatures(prepare(params.dedup), 0)
    partial = run_local("dedup", params)
    assert partial["removed"] == reference["removed"] and partial["resumed_steps"] == 1


def test_a_filter_call_repeated_within_a_run_is_not_redone(corpus: Corpus, monkeypatch):
    calls = []

    def twice(plan, shard):  # as after a lost worker: the call runs again
        calls.append(filter_shard(plan, shard)["resumed"])
        calls.append(filter_shard(plan, shard)["resumed"])
        return {**filter_shard(plan, shard), "resumed": False}

    monkeypatch.setattr(stage, "filter_shard", twice)
    run_local("dedup", params_for(corpus.root))
    assert calls == [False, True] * 3
    assert set(kept_ids(corpus.root)) == corpus.originals | {corpus.overlapping}


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def fail_after_one_shard(monkeypatch) -> list[dict]:
    """Make the filter step fail once it has written one shard of the new output."""
    written: list[dict] = []

    def filter_then_fail(plan, shard):
        if written:
            raise OSError("No space left on device")
        written.append(filter_shard(plan, shard))
        return written[-1]

    monkeypatch.setattr(stage, "filter_shard", filter_then_fail)
    return written


def test_a_failed_run_leaves_the_previous_output_whole(corpus: Corpus, monkeypatch):
    root = corpus.root
    run_local("dedup", params_for(root))
    outputs = {**snapshot(root / "dedup"), **snapshot(root / "metrics")}
    expected = kept_ids(root)
    # The next run has other inputs, and fails after writing part of its output.
    (root / "curated" / "part-0.parquet").unlink()
    written = fail_after_one_shard(monkeypatch)
    with pytest.raises(OSError, match="No space left"):
        run_local("dedup", params_for(root))
    assert len(written) == 1
    assert {**snapshot(root / "dedup"), **snapshot(root / "metrics")} == outputs
    assert kept_ids(root) == expected
    assert set(removed_reasons(root)) == corpus.exact | corpus.near
    assert sorted(p.name for p in root.iterdir()) == ["curated", "dedup", "metrics", "work"]


def test_stale_shards_are_pruned_after_a_successful_run_and_reported(corpus: Corpus, monkeypatch):
    root = corpus.root
    run_local("dedup", params_for(root))
    own_file = root / "dedup" / "README.txt"  # not written by dedup: kept
    own_file.write_text("notes")
    (root / "curated" / "part-0.parquet").unlink()
    fail_after_one_shard(monkeypatch)
    with pytest.raises(OSError):
        run_local("dedup", params_for(root))
    assert (root / "dedup" / "part-0.parquet").is_file()  # a failed run prunes nothing
    monkeypatch.undo()
    metrics = run_local("dedup", params_for(root))
    assert metrics["pruned"] == ["part-0.parquet", "removed/part-0.parquet"]
    assert sorted(p.name for p in (root / "dedup").glob("*.parquet")) == [
        "part-1.parquet",
        "part-2.parquet",
    ]
    assert not (root / "dedup" / "removed" / "part-0.parquet").exists()
    assert own_file.read_text() == "notes"
    details = json.loads((root / "dedup" / "stats.json").read_text())
    assert details["pruned"] == metrics["pruned"]
    assert "pruned                2 stale files: part-0.parquet, removed/part-0.parquet" in (
        stage.summary(metrics)
    )


def test_work_files_of_another_normalisation_are_not_reused(corpus: Corpus, monkeypatch):
    run_local("dedup", params_for(corpus.root))
    monkeypatch.setattr(plan, "NORMALISATION", "an earlier normalisation")
    again = run_local("dedup", params_for(corpus.root))
    assert again["resumed_steps"] == 0
    manifest = json.loads((corpus.root / "work" / "manifest.json").read_text())
    assert manifest["normalisation"] == "an earlier normalisation"


def test_processes_agree_with_one_process(corpus: Corpus):
    single = run_local("dedup", params_for(corpus.root))
    expected = kept_ids(corpus.root)
    parallel = run_local(
        "dedup", params_for(corpus.root, f"dedup.work_dir={corpus.root}/w2", "dedup.workers=2")
    )
    assert kept_ids(corpus.root) == expected
    assert parallel["removed"] == single["removed"]


def test_outputs_deleted_by_dvc_are_rewritten(corpus: Corpus):
    run_local("dedup", params_for(corpus.root))
    expected = kept_ids(corpus.root)
    # `dvc repro` removes a stage's outputs before running it; the work files stay.
    shutil.rmtree(corpus.root / "dedup")
    again = run_local("dedup", params_for(corpus.root))
    assert kept_ids(corpus.root) == expected
    assert set(removed_reasons(corpus.root)) == corpus.exact | corpus.near
    assert again["resumed_steps"] == 3 + 3 + 1  # only the filter ran again


def test_stale_outputs_are_pruned(corpus: Corpus):
    stale = corpus.root / "dedup" / "gone.parquet"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    metrics = run_local("dedup", params_for(corpus.root))
    assert not stale.exists()
    assert metrics["pruned"] == ["gone.parquet"]


def test_inputs_inside_the_output_folder_are_refused(corpus: Corpus):
    params = params_for(corpus.root, f"dedup.output={corpus.root}")
    with pytest.raises(ValueError, match="lies inside dedup.output"):
        run_local("dedup", params)


def test_missing_input_fails_clearly(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="dedup.input: no Parquet files match"):
        run_local("dedup", params_for(tmp_path))


def test_cli(corpus: Corpus, capsys):
    root = corpus.root
    code = main(
        [
            "dedup",
            "--params",
            os.devnull,
            "--input",
            str(root / "curated" / "*.parquet"),
            "--output",
            str(root / "cli"),
            "--set",
            f"dedup.work_dir={root}/cli-work",
            "--set",
            f"dedup.metrics={root}/cli.json",
            "--no-tracking",
        ]
    )
    assert code == 0
    assert "exact duplicates      4" in capsys.readouterr().out
    assert json.loads((root / "cli.json").read_text())["docs_out"] == len(corpus.originals) + 1
    details = json.loads((root / "cli" / "stats.json").read_text())
    assert details["near_duplicates"] == len(corpus.near)


@pytest.mark.slow
def test_prefect_flow_matches_the_library(corpus: Corpus, monkeypatch):
    from prefect.testing.utilities import prefect_test_harness

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2]))
    from flows.dedup import dedup_flow

    root = corpus.root
    params = root / "params.yaml"
    params.write_text(
        "dedup:\n"
        f"  input: ['{root}/curated/*.parquet']\n"
        f"  output: {root}/dedup\n"
        f"  work_dir: {root}/work\n"
        f"  metrics: {root}/metrics/dedup.json\n"
        "  workers: 2\n"
        "  runner: threads\n"
        "tracking:\n"
        "  enabled: false\n"
    )
    with prefect_test_harness(server_startup_timeout=120):
        metrics = dedup_flow(str(params))
    assert set(kept_ids(root)) == corpus.originals | {corpus.overlapping}
    assert metrics["removed"] == len(corpus.exact) + len(corpus.near)
