"""Small real corpora as Parquet shards, and a tokenizer trained on them once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from warc2gpt.tokenizer.bpe import Tokenizer, train_bpe
from warc2gpt.tokenizer.textfiles import iter_text_documents, text_files_to_parquet

# A few MB in several languages and registers: verse, encyclopedia text, speeches, web pages.
TRAIN_FILES = [
    "text/tinyshakespeare.txt",
    "text/wikitext-2/valid.txt",
    "text/nltk/genesis.zip",
]
# Other real text the tokenizer never saw.
HELD_OUT_FILES = [
    "text/dolma_cc_samples/multiple_files_cc_en_head-0091.jsonl.gz",
    "text/dolma_cc_samples/provided_documents_000.json.gz",
    "text/nltk/inaugural.zip",
]


@pytest.fixture(scope="session")
def train_parquet(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus") / "train.parquet"
    text_files_to_parquet([shared_data / f for f in TRAIN_FILES], out)
    return out


@pytest.fixture(scope="session")
def held_out_parquet(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("held_out") / "held_out.parquet"
    text_files_to_parquet([shared_data / f for f in HELD_OUT_FILES], out)
    return out


@pytest.fixture(scope="session")
def held_out_texts(shared_data: Path) -> list[str]:
    return [doc.text for doc in iter_text_documents(shared_data / f for f in HELD_OUT_FILES)]


@pytest.fixture(scope="session")
def tokenizer_dir(train_parquet: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from warc2gpt.documents import iter_texts

    directory = tmp_path_factory.mktemp("tokenizer")
    train_bpe(iter_texts([train_parquet]), vocab_size=1024).save(directory)
    return directory


@pytest.fixture(scope="session")
def tokenizer(tokenizer_dir: Path) -> Tokenizer:
    return Tokenizer.load(tokenizer_dir)
