"""The tokenizer stage: which corpus it reads, what it saves, what it reports."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from warc2gpt.config import Params, TokenizerSettings
from warc2gpt.documents import DOCUMENT_SCHEMA, write_parquet
from warc2gpt.stages import run_local
from warc2gpt.tokenizer.bpe import TOKEN_BYTES_FILE, Tokenizer, TokenizerError
from warc2gpt.tokenizer.train import resolve_corpus, summary, train_tokenizer


def test_first_matching_glob_wins(tmp_path: Path) -> None:
    for name in ("curated/b.parquet", "curated/a.parquet", "dedup/x.parquet"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    globs = [str(tmp_path / "dedup/*.parquet"), str(tmp_path / "curated/*.parquet")]
    assert resolve_corpus(globs) == [tmp_path / "dedup/x.parquet"]
    assert resolve_corpus(globs[1:]) == [
        tmp_path / "curated/a.parquet",
        tmp_path / "curated/b.parquet",
    ]
    with pytest.raises(TokenizerError, match=r"no Parquet shards match .*nothing/\*\.parquet: run"):
        resolve_corpus([str(tmp_path / "nothing/*.parquet")])


def test_train_saves_and_reports(held_out_parquet: Path, tmp_path: Path) -> None:
    settings = TokenizerSettings(
        input=[str(held_out_parquet)],
        output=str(tmp_path / "tok"),
        vocab_size=300,
        max_chars=50_000,
    )
    tokenizer, metrics = train_tokenizer(settings)
    assert metrics["characters"] == 50_000 and 0 < metrics["documents"] < 80
    assert metrics["vocab_size"] == tokenizer.vocab_size == 300 and metrics["merges"] == 43
    assert Tokenizer.load(tmp_path / "tok").encode("the end") == tokenizer.encode("the end")


def test_empty_corpus_is_an_error(tmp_path: Path) -> None:
    write_parquet(tmp_path / "empty.parquet", [], DOCUMENT_SCHEMA)
    settings = TokenizerSettings(input=[str(tmp_path / "*.parquet")], output=str(tmp_path / "t"))
    with pytest.raises(TokenizerError, match=r"empty.parquet holds no documents"):
        train_tokenizer(settings)
    assert not (tmp_path / "t").exists()


def test_a_corpus_too_small_for_the_vocabulary_is_said_in_the_summary() -> None:
    figures = {"documents": 2, "vocab_size": 257, "merges": 0, "seconds": 0.1}
    text = summary({**figures, "requested_vocab_size": 4096, "characters": 40})
    assert "warning: 4096 tokens were asked for" in text and "40 characters" in text
    assert "warning" not in summary({**figures, "requested_vocab_size": 257, "characters": 40})


def _small(held_out_parquet: Path, output: Path, vocab_size: int) -> TokenizerSettings:
    return TokenizerSettings(
        input=[str(held_out_parquet)], output=str(output), vocab_size=vocab_size, max_chars=50_000
    )


def test_a_failed_save_leaves_the_previous_tokenizer_whole(
    held_out_parquet: Path, tmp_path: Path, monkeypatch
) -> None:
    out = tmp_path / "tok"
    first, _ = train_tokenizer(_small(held_out_parquet, out, 300))
    (out / "notes.txt").write_text("not the stage's")
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def save_half(self, directory):  # tokenizer.json written, then the disk fills up
        (Path(directory) / "tokenizer.json").write_text("{}")
        raise OSError("No space left on device")

    monkeypatch.setattr(Tokenizer, "save", save_half)
    with pytest.raises(OSError, match="No space left"):
        train_tokenizer(_small(held_out_parquet, out, 320))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert Tokenizer.load(out).encode("the end") == first.encode("the end")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tok"]
    monkeypatch.undo()
    second, _ = train_tokenizer(_small(held_out_parquet, out, 320))
    assert Tokenizer.load(out).vocab_size == second.vocab_size == 320
    assert (out / "notes.txt").read_text() == "not the stage's"


def _stage(settings: TokenizerSettings) -> dict:
    settings = dataclasses.replace(settings, metrics=str(Path(settings.output).parent / "m.json"))
    return run_local("tokenizer", Params(tokenizer=settings))


def test_a_frozen_tokenizer_stays_byte_identical_on_new_data(
    held_out_parquet: Path, train_parquet: Path, tmp_path: Path
) -> None:
    out = tmp_path / "tok"
    frozen = dataclasses.replace(_small(held_out_parquet, out, 300), frozen=True)
    first = _stage(frozen)  # nothing to keep yet: trained
    assert first["frozen"] is False and first["vocab_size"] == 300
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()}

    new_data = dataclasses.replace(frozen, input=[str(train_parquet)], vocab_size=320)
    metrics = _stage(new_data)
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()} == before
    assert metrics["frozen"] is True and metrics["vocab_size"] == 300
    assert json.loads((tmp_path / "m.json").read_text())["frozen"] is True
    assert summary(metrics).startswith(f"tokenizer: frozen: {out} kept as it is (vocabulary 300")

    retrained = _stage(dataclasses.replace(new_data, frozen=False))  # a new vocabulary, asked for
    assert retrained["frozen"] is False and Tokenizer.load(out).vocab_size == 320


def test_a_frozen_tokenizer_with_a_file_missing_is_an_error(
    held_out_parquet: Path, tmp_path: Path
) -> None:
    out = tmp_path / "tok"
    settings = dataclasses.replace(_small(held_out_parquet, out, 300), frozen=True)
    _stage(settings)
    (out / TOKEN_BYTES_FILE).unlink()
    with pytest.raises(TokenizerError, match=r"tok lacks token_bytes.npy: restore the folder"):
        _stage(settings)
