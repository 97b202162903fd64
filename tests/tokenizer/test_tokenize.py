"""The tokenize stage: shards hold exactly the documents, split by id, with true counts; with
tokenize.append each increment's shards sit beside the earlier ones', listed in increments.json,
where the train and eval globs find them."""

from __future__ import annotations

import hashlib
import json
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from warc2gpt.config import Params, parse_params
from warc2gpt.documents import DOCUMENT_SCHEMA, iter_documents, iter_texts, write_parquet
from warc2gpt.evaluate.bpb import val_shards
from warc2gpt.ingest.increments import new_increment, read_increments, write_increments
from warc2gpt.stages import run_local
from warc2gpt.tokenizer import tokenize
from warc2gpt.tokenizer.bpe import Tokenizer, TokenizerError, train_bpe
from warc2gpt.tokenizer.shards import read_token_shard
from warc2gpt.tokenizer.tokenize import (
    MANIFEST,
    shard_path,
    split_of,
    summarize,
    summary,
    tokenize_file,
)
from warc2gpt.train.loader import find_shards


def decoded_documents(tokenizer: Tokenizer, path: Path) -> list[str]:
    """A shard back to its documents: each starts at an <|endoftext|>."""
    tokens = np.asarray(read_token_shard(path))
    starts = np.flatnonzero(tokens == tokenizer.eot_id)
    assert starts.size and starts[0] == 0
    bounds = [*starts.tolist(), tokens.size]
    return [tokenizer.decode(tokens[a + 1 : b].tolist()) for a, b in pairwise(bounds)]


def test_split_is_a_stable_function_of_the_id() -> None:
    ids = [hashlib.sha1(str(i).encode()).hexdigest() for i in range(20_000)]
    val = sum(split_of(i, 0.1) == "val" for i in ids) / len(ids)
    assert 0.09 < val < 0.11
    # Pinned: a different hash would silently move documents between train and val.
    assert [split_of(f"doc-{i}", 0.1) for i in range(8)] == ["train"] * 4 + ["val"] + ["train"] * 3
    assert [split_of(f"doc-{i}", 0.5) for i in range(8)] == [
        "train",
        "val",
        "train",
        "train",
        "val",
        "val",
        "train",
        "val",
    ]
    # A larger fraction only adds documents to val.
    assert all(split_of(i, 0.3) == "val" for i in ids if split_of(i, 0.1) == "val")


def test_shards_hold_every_document_once_in_order(
    tokenizer: Tokenizer, tokenizer_dir: Path, held_out_parquet: Path, tmp_path: Path
) -> None:
    stats = tokenize_file(held_out_parquet, 3, tokenizer_dir, tmp_path, val_fraction=0.2)
    rows = list(iter_documents([held_out_parquet]))
    for split in ("train", "val"):
        expected = [r["text"] for r in rows if split_of(r["id"], 0.2) == split]
        path = shard_path(tmp_path, split, 3)
        assert stats[split]["shard"] == str(path)
        assert decoded_documents(tokenizer, path) == expected
        assert stats[split]["documents"] == len(expected)
        assert stats[split]["tokens"] == read_token_shard(path).size
        assert stats[split]["bytes"] == sum(len(t.encode("utf-8")) for t in expected)
    assert stats["train"]["documents"] > stats["val"]["documents"] > 0


def test_growing_the_corpus_moves_no_document(
    tokenizer: Tokenizer, tokenizer_dir: Path, held_out_parquet: Path, tmp_path: Path
) -> None:
    rows = list(iter_documents([held_out_parquet]))
    write_parquet(tmp_path / "small.parquet", rows[: len(rows) // 2], DOCUMENT_SCHEMA)
    write_parquet(tmp_path / "grown.parquet", rows[::-1], DOCUMENT_SCHEMA)
    tokenize_file(tmp_path / "small.parquet", 0, tokenizer_dir, tmp_path / "a", 0.2)
    tokenize_file(tmp_path / "grown.parquet", 0, tokenizer_dir, tmp_path / "b", 0.2)
    for split in ("train", "val"):
        before = set(decoded_documents(tokenizer, shard_path(tmp_path / "a", split, 0)))
        after = set(decoded_documents(tokenizer, shard_path(tmp_path / "b", split, 0)))
        assert before and before < after


def _params(
    tokenizer_dir: Path,
    inputs: list[Path],
    out: Path,
    workers: int = 1,
    runner: str = "threads",
    append: bool = False,
) -> Params:
    """The stage's settings, with the ingest state file (read when appending) beside `out`."""
    return parse_params(
        {
            "ingest": {"state": str(out.parent / "state.json")},
            "tokenizer": {"output": str(tokenizer_dir)},
            "tokenize": {
                "input": [str(p) for p in inputs],
                "output": str(out),
                "metrics": str(out / "metrics.json"),
                "val_fraction": 0.2,
                "workers": workers,
                "runner": runner,
                "append": append,
            },
        }
    )


@pytest.mark.parametrize("runner", ["threads", "processes"])
def test_run_tokenize_in_parallel_matches_serial(
    tokenizer_dir: Path, held_out_parquet: Path, tmp_path: Path, runner: str
) -> None:
    rows = list(iter_documents([held_out_parquet]))
    # Given out of order: the sorted input order decides the shard index.
    inputs = [tmp_path / "b.parquet", tmp_path / "a.parquet"]
    write_parquet(inputs[1], rows[::2], DOCUMENT_SCHEMA)
    write_parquet(inputs[0], rows[1::2], DOCUMENT_SCHEMA)
    stale = tmp_path / "serial" / "val_000009.bin"
    stale.parent.mkdir()
    stale.write_bytes(b"left over from an earlier, larger corpus")
    serial = run_local("tokenize", _params(tokenizer_dir, inputs, tmp_path / "serial", 1))
    parallel = run_local(
        "tokenize", _params(tokenizer_dir, inputs, tmp_path / "parallel", 2, runner)
    )
    assert not stale.exists()
    names = sorted(p.name for p in (tmp_path / "serial").glob("*.bin"))
    assert names == sorted(p.name for p in (tmp_path / "parallel").glob("*.bin"))
    assert names == ["train_000000.bin", "train_000001.bin", "val_000000.bin", "val_000001.bin"]
    for name in names:
        assert (tmp_path / "serial" / name).read_bytes() == (
            tmp_path / "parallel" / name
        ).read_bytes()
    assert serial["train"]["documents"] + serial["val"]["documents"] == len(rows)
    first = decoded_documents(Tokenizer.load(tokenizer_dir), tmp_path / "serial" / names[0])
    assert first[0] == next(r["text"] for r in rows[::2] if split_of(r["id"], 0.2) == "train")
    for split in ("train", "val"):
        assert serial[split] == parallel[split]
        tokens = sum(read_token_shard(p).size for p in (tmp_path / "serial").glob(f"{split}_*"))
        assert serial[split]["tokens"] == tokens
        m = serial[split]
        assert m["bytes_per_token"] == pytest.approx(
            m["bytes"] / (m["tokens"] - m["documents"]), abs=1e-4
        )
        assert 1.5 < m["bytes_per_token"] < 5  # above 1: merges at work
    assert serial["token_dtype"] == "uint16" and serial["vocab_size"] == 1024


def test_empty_split_is_an_error() -> None:
    counts = {"documents": 3, "tokens": 30, "bytes": 90, "shard": "x"}
    empty = {"documents": 0, "tokens": 0, "bytes": 0, "shard": ""}
    with pytest.raises(TokenizerError, match="no document fell in the val split"):
        summarize([{"train": counts, "val": empty}], 1.0, 1024, 1)


def test_document_without_id_names_file_and_row(tokenizer_dir: Path, tmp_path: Path) -> None:
    rows = [{"id": "a", "url": "u", "text": "fine"}, {"id": None, "url": "u", "text": "bad"}]
    write_parquet(tmp_path / "broken.parquet", rows, DOCUMENT_SCHEMA)
    with pytest.raises(TokenizerError, match=r"broken.parquet: row 1 has no id"):
        tokenize_file(tmp_path / "broken.parquet", 0, tokenizer_dir, tmp_path / "out", 0.1)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _two_inputs(held_out_parquet: Path, folder: Path) -> list[Path]:
    rows = list(iter_documents([held_out_parquet]))
    inputs = [folder / "a.parquet", folder / "b.parquet"]
    write_parquet(inputs[0], rows[::2], DOCUMENT_SCHEMA)
    write_parquet(inputs[1], rows[1::2], DOCUMENT_SCHEMA)
    return inputs


def _fail_after_the_first_shards(monkeypatch) -> list[dict]:
    """Make the stage fail once it has written the first input's shards."""
    done: list[dict] = []

    def encode_then_fail(path, *args):
        done.append(tokenize_file(path, *args))
        raise TokenizerError(f"{path}: row 3 has no text")

    monkeypatch.setattr(tokenize, "tokenize_file", encode_then_fail)
    return done


def test_a_failed_run_leaves_the_previous_shards_whole(
    tokenizer_dir: Path, held_out_parquet: Path, tmp_path: Path, monkeypatch
) -> None:
    inputs = _two_inputs(held_out_parquet, tmp_path)
    out = tmp_path / "tokens"
    first = run_local("tokenize", _params(tokenizer_dir, inputs, out, 1))
    before = snapshot(out)
    # The next run reads a grown input and fails after writing the first input's shards.
    rows = list(iter_documents([held_out_parquet]))
    write_parquet(inputs[0], rows, DOCUMENT_SCHEMA)
    done = _fail_after_the_first_shards(monkeypatch)
    with pytest.raises(TokenizerError, match="row 3 has no text"):
        run_local("tokenize", _params(tokenizer_dir, inputs, out, 1))
    assert len(done) == 1
    assert snapshot(out) == before
    tokens = sum(read_token_shard(p).size for p in out.glob("train_*.bin"))
    assert tokens == first["train"]["tokens"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.parquet", "b.parquet", "tokens"]


def test_stale_shards_are_pruned_after_a_successful_run_and_reported(
    tokenizer_dir: Path, held_out_parquet: Path, tmp_path: Path, monkeypatch
) -> None:
    inputs = _two_inputs(held_out_parquet, tmp_path)
    out = tmp_path / "tokens"
    run_local("tokenize", _params(tokenizer_dir, inputs, out, 1))
    (out / "notes.txt").write_text("not the stage's")
    # A run over the first input only fails: the second input's shards stay.
    _fail_after_the_first_shards(monkeypatch)
    with pytest.raises(TokenizerError):
        run_local("tokenize", _params(tokenizer_dir, inputs[:1], out, 1))
    assert (out / "train_000001.bin").is_file()
    monkeypatch.undo()
    metrics = run_local("tokenize", _params(tokenizer_dir, inputs[:1], out, 1))
    assert metrics["pruned"] == ["train_000001.bin", "val_000001.bin"]
    assert sorted(p.name for p in out.iterdir()) == [
        "metrics.json",
        "notes.txt",
        "stats.json",
        "train_000000.bin",
        "val_000000.bin",
    ]
    assert "pruned 2 stale shards: train_000001.bin, val_000001.bin" in summary(metrics)


# --------------------------------------------------------------------------- tokenize.append


def _record_increment(tmp_path: Path) -> int:
    """One more increment in the ingest state file; returns its id."""
    path = tmp_path / "state.json"
    entries = read_increments(path)
    entries.append(new_increment(entries, [f"file-{len(entries)}.warc.gz"], ["test"]))
    write_increments(path, entries)
    return entries[-1]["id"]


@pytest.fixture
def corpora(held_out_parquet: Path, tmp_path: Path) -> list[list[Path]]:
    """Two increments' documents: the first two thirds in two shards, the rest in one."""
    rows = list(iter_documents([held_out_parquet]))
    cut = 2 * len(rows) // 3
    first = [tmp_path / "one" / "a.parquet", tmp_path / "one" / "b.parquet"]
    second = [tmp_path / "two" / "a.parquet"]
    write_parquet(first[0], rows[: cut // 2], DOCUMENT_SCHEMA)
    write_parquet(first[1], rows[cut // 2 : cut], DOCUMENT_SCHEMA)
    write_parquet(second[0], rows[cut:], DOCUMENT_SCHEMA)
    return [first, second]


def _shard_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix == ".bin"}


def test_two_increments_give_two_sets_of_shards_and_a_manifest(
    tokenizer_dir: Path, corpora: list[list[Path]], tmp_path: Path
) -> None:
    out = tmp_path / "tokens"
    (out / "notes.txt").parent.mkdir()
    (out / "notes.txt").write_text("not the stage's")
    assert _record_increment(tmp_path) == 1
    first = run_local("tokenize", _params(tokenizer_dir, corpora[0], out, append=True))
    shards_one = _shard_files(out)
    assert sorted(shards_one) == [
        "train_i0001_0000.bin",
        "train_i0001_0001.bin",
        "val_i0001_0000.bin",
        "val_i0001_0001.bin",
    ]
    assert _record_increment(tmp_path) == 2
    second = run_local("tokenize", _params(tokenizer_dir, corpora[1], out, append=True))
    files = _shard_files(out)
    assert {n: b for n, b in files.items() if "_i0001_" in n} == shards_one  # untouched
    assert sorted(n for n in files if "_i0002_" in n) == [
        "train_i0002_0000.bin",
        "val_i0002_0000.bin",
    ]
    assert (out / "notes.txt").read_text() == "not the stage's"

    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["current"] == 2 and [e["id"] for e in manifest["increments"]] == [1, 2]
    one, two = manifest["increments"]
    assert one["train"]["shards"] == ["train_i0001_0000.bin", "train_i0001_0001.bin"]
    assert two["val"]["shards"] == ["val_i0002_0000.bin"]
    for entry, metrics in ((one, first), (two, second)):
        for split in ("train", "val"):
            assert entry[split]["documents"] == metrics[split]["documents"] > 0
            tokens = sum(read_token_shard(out / name).size for name in entry[split]["shards"])
            assert entry[split]["tokens"] == metrics[split]["tokens"] == tokens
    assert second["increment"] == 2 and second["increments"] == 2 and second["pruned"] == []
    assert json.loads((out / "metrics.json").read_text()) == {
        "train_tokens": second["train_tokens"],
        "increment": 2,
    }
    assert "increment 2: its shards added beside 1 other increments'" in summary(second)

    # The split is a function of the document id alone, in every increment.
    rows = list(iter_documents(corpora[1]))
    assert two["val"]["documents"] == sum(split_of(r["id"], 0.2) == "val" for r in rows)
    # Training reads every increment's shards; evaluation can hold on to the first's val shards.
    assert [p.name for p in find_shards(out, "train")] == sorted(
        n for n in files if n.startswith("train_")
    )
    assert [p.name for p in val_shards(str(out / "val_i0001_*.bin"))] == one["val"]["shards"]


def test_rerunning_an_increment_replaces_its_shards(
    tokenizer_dir: Path, corpora: list[list[Path]], tmp_path: Path
) -> None:
    out = tmp_path / "tokens"
    _record_increment(tmp_path)
    run_local("tokenize", _params(tokenizer_dir, corpora[1], out, append=True))
    _record_increment(tmp_path)
    run_local("tokenize", _params(tokenizer_dir, corpora[0], out, append=True))
    first_shards = {n: b for n, b in _shard_files(out).items() if "_i0001_" in n}
    # Increment 2 again, on one input instead of two: its second shards go, none doubles.
    metrics = run_local("tokenize", _params(tokenizer_dir, corpora[0][:1], out, append=True))
    assert metrics["pruned"] == ["train_i0002_0001.bin", "val_i0002_0001.bin"]
    files = _shard_files(out)
    assert sorted(files) == sorted([*first_shards, "train_i0002_0000.bin", "val_i0002_0000.bin"])
    assert {n: b for n, b in files.items() if "_i0001_" in n} == first_shards
    manifest = json.loads((out / MANIFEST).read_text())
    assert [e["id"] for e in manifest["increments"]] == [1, 2]
    assert manifest["increments"][1]["train"]["shards"] == ["train_i0002_0000.bin"]
    assert manifest["increments"][1]["train"]["documents"] == metrics["train"]["documents"]


def test_without_a_state_file_the_shards_are_increment_one_and_hold_what_full_mode_writes(
    tokenizer_dir: Path, corpora: list[list[Path]], tmp_path: Path
) -> None:
    out, full_out = tmp_path / "tokens", tmp_path / "full"
    full = run_local("tokenize", _params(tokenizer_dir, corpora[0], full_out))
    full_files = _shard_files(full_out)
    assert sorted(full_files) == [
        "train_000000.bin",
        "train_000001.bin",
        "val_000000.bin",
        "val_000001.bin",
    ]
    assert not (full_out / MANIFEST).exists() and "increment" not in full
    appended = run_local("tokenize", _params(tokenizer_dir, corpora[0], out, append=True))
    assert appended["increment"] == 1
    # The same bytes under the increment's names.
    assert list(_shard_files(out).values()) == list(full_files.values())

    # Full mode over an appended folder replaces every shard and the manifest.
    run_local("tokenize", _params(tokenizer_dir, corpora[0], out))
    assert _shard_files(out) == full_files
    assert not (out / MANIFEST).exists()


def test_a_new_tokenizer_drops_the_shards_encoded_with_the_old_one(
    held_out_parquet: Path, corpora: list[list[Path]], tmp_path: Path
) -> None:
    tokenizer_dir, out = tmp_path / "tok", tmp_path / "tokens"
    train_bpe(iter_texts([held_out_parquet]), vocab_size=300).save(tokenizer_dir)
    _record_increment(tmp_path)
    run_local("tokenize", _params(tokenizer_dir, corpora[0], out, append=True))
    train_bpe(iter_texts([held_out_parquet]), vocab_size=320).save(tokenizer_dir)
    _record_increment(tmp_path)
    metrics = run_local("tokenize", _params(tokenizer_dir, corpora[1], out, append=True))
    assert metrics["dropped"] == [1]
    assert sorted(_shard_files(out)) == ["train_i0002_0000.bin", "val_i0002_0000.bin"]
    manifest = json.loads((out / MANIFEST).read_text())
    assert [e["id"] for e in manifest["increments"]] == [2]
    assert "a new tokenizer: the shards of increments 1 " in summary(metrics)
