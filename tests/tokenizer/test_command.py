"""`warc2gpt tokenizer ...` and `warc2gpt tokenize` from the command line, on real text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from warc2gpt.cli import main
from warc2gpt.documents import DOCUMENT_SCHEMA, iter_documents, write_parquet
from warc2gpt.tokenizer.bpe import Tokenizer
from warc2gpt.tokenizer.shards import read_token_shard


@pytest.fixture
def project(tmp_path: Path, held_out_parquet: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory whose curated output holds real documents; no dedup output."""
    rows = list(iter_documents([held_out_parquet]))
    write_parquet(tmp_path / "data/curated/part-a.parquet", rows[:40], DOCUMENT_SCHEMA)
    write_parquet(tmp_path / "data/curated/part-b.parquet", rows[40:], DOCUMENT_SCHEMA)
    (tmp_path / "params.yaml").write_text(
        "tracking:\n  enabled: false\ntokenizer:\n  vocab_size: 512\ntokenize:\n  workers: 1\n"
        "  val_fraction: 0.2\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_train_then_tokenize(project: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["tokenizer", "train"]) == 0
    assert "vocabulary 512" in capsys.readouterr().out
    trained = json.loads((project / "metrics/tokenizer.json").read_text())
    assert trained["documents"] == 80 and trained["inputs"] == 2  # fell back to data/curated
    assert trained["vocab_size"] == 512
    assert np.load(project / "artifacts/tokenizer/token_bytes.npy").shape == (512,)

    assert main(["tokenize"]) == 0
    assert "bytes/token" in capsys.readouterr().out
    headline = json.loads((project / "metrics/tokenize.json").read_text())
    metrics = json.loads((project / "data/tokens/stats.json").read_text())
    assert metrics["train"]["documents"] + metrics["val"]["documents"] == 80
    assert headline == {"train_tokens": metrics["train"]["tokens"]}
    shards = sorted(p.name for p in (project / "data/tokens").glob("*.bin"))
    assert shards == ["train_000000.bin", "train_000001.bin", "val_000000.bin", "val_000001.bin"]
    tokens = sum(read_token_shard(project / "data/tokens" / s).size for s in shards)
    assert tokens == metrics["train"]["tokens"] + metrics["val"]["tokens"]


def test_dedup_output_is_preferred_and_options_override(project: Path) -> None:
    rows = list(iter_documents([project / "data/curated/part-a.parquet"]))
    write_parquet(project / "data/dedup/part-a.parquet", rows[:25], DOCUMENT_SCHEMA)
    assert main(["tokenizer", "train", "--vocab-size", "300", "--output", "tok"]) == 0
    assert not (project / "metrics/tokenizer.json").exists()  # a hand run keeps its own metrics
    metrics = json.loads((project / "tok/metrics.json").read_text())
    assert (metrics["documents"], metrics["inputs"], metrics["vocab_size"]) == (25, 1, 300)
    assert Tokenizer.load(project / "tok").vocab_size == 300


def test_encode_decode_show(tokenizer_dir: Path, capsys: pytest.CaptureFixture) -> None:
    text = "Wherefore art thou 日本?"
    assert main(["tokenizer", "encode", "--tokenizer", str(tokenizer_dir), text]) == 0
    ids = capsys.readouterr().out.split()
    assert len(ids) > 3
    assert main(["tokenizer", "decode", "--tokenizer", str(tokenizer_dir), *ids]) == 0
    assert capsys.readouterr().out == text + "\n"

    assert (
        main(["tokenizer", "show", "--tokenizer", str(tokenizer_dir), "--color", "always", text])
        == 0
    )
    out = capsys.readouterr().out
    assert "\x1b[30;48;5;" in out and f"{len(ids)} tokens" in out
    # Without the colour codes, the coloured spans spell the text back.
    plain = out.split("\n\n")[0]
    assert re.sub(r"\x1b\[[0-9;]*m", "", plain) == text

    assert (
        main(["tokenizer", "show", "--tokenizer", str(tokenizer_dir), "--color", "never", "日本"])
        == 0
    )
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].strip().endswith("'日'") and rows[1].strip().endswith("'本'")


def test_clear_errors(
    tmp_path: Path,
    tokenizer_dir: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["tokenizer", "encode", "--tokenizer", str(tmp_path / "none"), "x"]) == 2
    assert "tokenizer.json not found" in capsys.readouterr().err
    assert main(["tokenizer", "decode", "--tokenizer", str(tokenizer_dir), "5", "99999"]) == 2
    assert "token id 99999 is outside the vocabulary (0..1023)" in capsys.readouterr().err
    assert main(["tokenizer", "train", "--set", "tracking.enabled=false"]) == 2
    assert "no Parquet shards match data/dedup/*.parquet" in capsys.readouterr().err
    assert main(["tokenizer", "train", "--set", "tokenizer.vocab_size=100"]) == 2
    assert "tokenizer.vocab_size: expected a value >= 258" in capsys.readouterr().err


@pytest.mark.parametrize(
    "ids, wrong", [(["1.5"], "1.5"), (["5", "x"], "x"), (["[1,", "2.0]"], "2.0"), (["1e3"], "1e3")]
)
def test_decode_refuses_pieces_that_are_not_ids(
    tokenizer_dir: Path, capsys: pytest.CaptureFixture, ids: list[str], wrong: str
) -> None:
    assert main(["tokenizer", "decode", "--tokenizer", str(tokenizer_dir), *ids]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert (
        captured.err == f"warc2gpt: token {wrong!r} is not a whole-number id; give ids as "
        "1 2 3, 1,2,3 or [1, 2, 3]\n"
    )


def test_decode_reads_lists_and_commas(tokenizer_dir: Path, capsys: pytest.CaptureFixture) -> None:
    tokenizer = Tokenizer.load(tokenizer_dir)
    ids = tokenizer.encode("To be, or not")
    listed = "[" + ", ".join(map(str, ids)) + "]"
    for form in (listed, ",".join(map(str, ids))):
        assert main(["tokenizer", "decode", "--tokenizer", str(tokenizer_dir), form]) == 0
        assert capsys.readouterr().out == "To be, or not\n"
