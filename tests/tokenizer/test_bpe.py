"""Byte-level BPE: exact round trips on real text, ids shared with HF, byte counts, errors."""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from warc2gpt.tokenizer.bpe import (
    EOT,
    SPLIT_PATTERNS,
    Tokenizer,
    TokenizerError,
    byte_to_unicode,
    token_string_to_bytes,
    train_bpe,
)
from warc2gpt.tokenizer.textfiles import iter_text_documents

ODD_TEXTS = [
    "",
    " ",
    "\n\n\n",
    "\r\n\r\n  \t\t\u00a0\u2028\u2029\u3000x",
    "trailing spaces   \n   leading",
    "emoji 👩🏽‍💻 flags 🇩🇪🇯🇵, zero\u200bwidth, combining e\u0301",
    "Ελληνικά, русский, עִבְרִית, العربية, हिन्दी, 日本語のテキスト, 한국어, ไทย",
    "digits 1234567890 3.14159 1,000,000",
    "control \x00\x01\x7f\x85 chars",
    f"a literal {EOT} inside a document",
    "word" * 500,
]


def test_round_trip_on_every_real_text_document(tokenizer: Tokenizer, shared_data: Path) -> None:
    paths = sorted(p for p in (shared_data / "text").rglob("*") if p.is_file())
    docs = list(iter_text_documents(paths))
    assert len(docs) > 250
    failures = [d.url for d in docs if tokenizer.decode(tokenizer.encode(d.text)) != d.text]
    assert failures == []


def test_round_trip_in_hundreds_of_languages(tokenizer: Tokenizer, shared_data: Path) -> None:
    # The Universal Declaration of Human Rights in ~380 languages and scripts.
    with zipfile.ZipFile(shared_data / "langid" / "nltk_udhr2.zip") as archive:
        texts = [archive.read(m).decode("utf-8") for m in archive.infolist() if not m.is_dir()]
    assert len(texts) > 300
    scripts = {ord(ch) >> 8 for text in texts for ch in text}
    assert len(scripts) > 40  # genuinely many Unicode blocks, not just Latin
    assert all(tokenizer.decode(tokenizer.encode(text)) == text for text in texts)


@pytest.mark.slow
def test_round_trip_on_every_real_web_page(tokenizer: Tokenizer, shared_data: Path) -> None:
    # The raw HTML of the ~1,030 evaluation pages: markup, scripts, many charsets and languages.
    pages = sorted((shared_data / "html").glob("trafilatura_*/*"))
    pages = [p for p in pages if p.suffix == ".gz"]
    assert len(pages) > 1000
    for page in pages:
        text = gzip.decompress(page.read_bytes()).decode("utf-8", errors="replace")
        assert tokenizer.decode(tokenizer.encode(text)) == text, page


@pytest.mark.parametrize("text", ODD_TEXTS)
def test_round_trip_on_odd_text(tokenizer: Tokenizer, text: str) -> None:
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    assert int(tokenizer.token_bytes[ids].sum()) == len(text.encode("utf-8"))


def test_special_token_text_is_encoded_as_plain_text(tokenizer: Tokenizer) -> None:
    ids = tokenizer.encode(f"before {EOT} after")
    assert tokenizer.eot_id not in ids
    assert tokenizer.decode([tokenizer.eot_id]) == EOT


def test_same_ids_as_hugging_face_runtime(
    tokenizer_dir: Path, tokenizer: Tokenizer, held_out_texts: list[str]
) -> None:
    from tokenizers import Tokenizer as HFTokenizer

    hf = HFTokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    for text in held_out_texts[:20]:
        assert tokenizer.encode(text) == hf.encode(text, add_special_tokens=False).ids


def test_encode_variants_agree(tokenizer: Tokenizer, held_out_texts: list[str]) -> None:
    texts = held_out_texts[:8]
    single = [tokenizer.encode(t) for t in texts]
    assert tokenizer.encode_batch(texts) == single
    assert tokenizer.encode_batch(texts, num_threads=2) == single
    assert [tokenizer.encode_to_numpy(t).tolist() for t in texts] == single


def test_token_bytes_count_the_bytes_each_id_stands_for(
    tokenizer: Tokenizer, tokenizer_dir: Path
) -> None:
    saved = np.load(tokenizer_dir / "token_bytes.npy")
    assert saved.dtype == np.int32 and saved.shape == (tokenizer.vocab_size,)
    assert np.array_equal(saved, tokenizer.token_bytes)
    assert saved[tokenizer.eot_id] == 0
    pieces = tokenizer.token_pieces(range(tokenizer.vocab_size))
    expected = [0 if i == tokenizer.eot_id else len(p) for i, p in enumerate(pieces)]
    assert saved.tolist() == expected
    assert saved.max() > 4  # merges learned whole words


def test_learned_vocabulary_compresses_held_out_text(
    tokenizer: Tokenizer, held_out_texts: list[str]
) -> None:
    text = "\n".join(held_out_texts)
    assert tokenizer.vocab_size == 1024
    # Bytes alone give 1 byte/token; a 1k vocabulary reaches well over 2.5 on English.
    assert len(text.encode("utf-8")) / len(tokenizer.encode(text)) > 2.5


def test_training_is_deterministic(held_out_texts: list[str], tmp_path: Path) -> None:
    first = train_bpe(held_out_texts, vocab_size=600)
    second = train_bpe(held_out_texts, vocab_size=600)
    first.save(tmp_path / "a")
    second.save(tmp_path / "b")
    assert (tmp_path / "a" / "tokenizer.json").read_bytes() == (
        tmp_path / "b" / "tokenizer.json"
    ).read_bytes()


def test_ids_layout_specials_then_bytes_then_merges(held_out_texts: list[str]) -> None:
    tok = train_bpe(held_out_texts, vocab_size=700, special_tokens=[EOT, "<|pad|>"])
    assert tok.special_tokens == {EOT: 0, "<|pad|>": 1}
    assert tok.vocab_size == 700 and tok.merges == 700 - 256 - 2
    assert tok.token_bytes[2:258].tolist() == [1] * 256
    assert tok.token_bytes[258:].min() >= 2


def test_gpt2_split_pattern_and_char_limit(held_out_texts: list[str]) -> None:
    tok = train_bpe(held_out_texts, vocab_size=400, split_pattern="gpt2", max_chars=20_000)
    assert tok.split_pattern == SPLIT_PATTERNS["gpt2"]
    text = held_out_texts[0]
    assert tok.decode(tok.encode(text)) == text


def test_min_frequency_stops_merging_rare_pairs() -> None:
    # Each pair occurs at most 3 times here, so with min_frequency 4 nothing is merged.
    tok = train_bpe(["abc abc abc xyz"], vocab_size=1000, min_frequency=4)
    assert tok.merges == 0
    assert len(tok.encode("abc")) == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vocab_size": 200}, "use at least 258"),
        ({"vocab_size": 500, "special_tokens": ["<|pad|>"]}, "must include"),
        ({"vocab_size": 500, "split_pattern": "gpt5"}, "unknown split pattern"),
    ],
)
def test_training_rejects_bad_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(TokenizerError, match=message):
        train_bpe(["some text"], **kwargs)


def test_save_and_load_round_trip(tokenizer: Tokenizer, tmp_path: Path) -> None:
    written = tokenizer.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["token_bytes.npy", "tokenizer.json"]
    assert written == [tmp_path / "tokenizer.json", tmp_path / "token_bytes.npy"]
    again = Tokenizer.load(tmp_path)
    text = "Loaded tokenizers encode alike."
    assert again.encode(text) == tokenizer.encode(text)
    assert (again.vocab_size, again.eot_id) == (tokenizer.vocab_size, tokenizer.eot_id)


def test_load_fails_clearly(tokenizer_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(TokenizerError, match="not found: train one"):
        Tokenizer.load(tmp_path / "missing")
    (tmp_path / "tokenizer.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(TokenizerError, match="not valid JSON"):
        Tokenizer.load(tmp_path)
    spec = json.loads((tokenizer_dir / "tokenizer.json").read_text(encoding="utf-8"))
    spec["added_tokens"] = []
    (tmp_path / "tokenizer.json").write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(TokenizerError, match=r"tokenizer.json: .*no special token"):
        Tokenizer.load(tmp_path)


def test_byte_alphabet_is_a_bijection() -> None:
    table = byte_to_unicode()
    assert len(set(table.values())) == 256
    assert all(not ch.isspace() for ch in table.values())
    assert token_string_to_bytes("".join(table[b] for b in range(256))) == bytes(range(256))
    with pytest.raises(TokenizerError, match="outside the byte-level alphabet"):
        token_string_to_bytes("\u4e00")
