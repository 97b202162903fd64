"""Plain-text corpora as documents: one per file, zip member or JSON line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from warc2gpt.documents import iter_documents
from warc2gpt.tokenizer.textfiles import decode_text, iter_text_documents, text_files_to_parquet


def test_each_zip_member_and_json_line_is_a_document(shared_data: Path) -> None:
    text = shared_data / "text"
    inaugural = list(iter_text_documents([text / "nltk" / "inaugural.zip"]))
    assert len(inaugural) == 60
    assert inaugural[0].url.endswith("inaugural.zip!inaugural/1789-Washington.txt")
    assert "Fellow-Citizens of the Senate" in inaugural[0].text
    dolma = list(iter_text_documents([text / "dolma_cc_samples/provided_documents_000.json.gz"]))
    assert len(dolma) == 10
    first = json.loads(
        gzip.open(text / "dolma_cc_samples/provided_documents_000.json.gz").readline()
    )
    assert dolma[0].text == first["text"]
    assert len({d.id for d in inaugural + dolma}) == 70


def test_legacy_encodings_are_decoded(shared_data: Path) -> None:
    docs = list(iter_text_documents([shared_data / "text" / "nltk" / "genesis.zip"]))
    german = next(d for d in docs if d.url.endswith("german.txt"))
    assert "Gott" in german.text and "\ufffd" not in german.text
    assert any(ch in german.text for ch in "äöüß")
    assert decode_text("naïve".encode("cp1252")) == "naïve"
    assert decode_text(b"\x81\x8d") == "\x81\x8d"  # bytes cp1252 leaves undefined


def test_parquet_shard_of_text_files(shared_data: Path, tmp_path: Path) -> None:
    count = text_files_to_parquet(
        [shared_data / "text" / "tinyshakespeare.txt"], tmp_path / "t.parquet"
    )
    rows = list(iter_documents([tmp_path / "t.parquet"]))
    assert count == len(rows) == 1
    assert rows[0]["text"] == (shared_data / "text" / "tinyshakespeare.txt").read_text("utf-8")


def test_json_line_without_text_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "fine"}\n{"body": "no text field"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"docs.jsonl: line 2 has no string `text` field"):
        list(iter_text_documents([path]))
