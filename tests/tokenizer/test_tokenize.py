"""The tokenize stage: shards hold exactly the documents, split by id, with true counts."""

from __future__ import annotations

import hashlib
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from warc2gpt.config import Params, parse_params
from warc2gpt.documents import DOCUMENT_SCHEMA, iter_documents, write_parquet
from warc2gpt.stages import run_local
from warc2gpt.tokenizer import tokenize
from warc2gpt.tokenizer.bpe import Tokenizer, TokenizerError
from warc2gpt.tokenizer.shards import read_token_shard
from warc2gpt.tokenizer.tokenize import (
    shard_path,
    split_of,
    summarize,
    summary,
    tokenize_file,
)


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
    tokenizer_dir: Path, inputs: list[Path], out: Path, workers: int, runner: str = "threads"
) -> Params:
    return parse_params(
        {
            "tokenizer": {"output": str(tokenizer_dir)},
            "tokenize": {
                "input": [str(p) for p in inputs],
                "output": str(out),
                "metrics": str(out / "metrics.json"),
                "val_fraction": 0.2,
                "workers": workers,
                "runner": runner,
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
