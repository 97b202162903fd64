"""Test documents for the dedup tests: real paragraphs joined, real pages (English web pages,
Genesis in five European languages, Korean), edited copies, Parquet shards."""

from __future__ import annotations

import gzip
import json
import random
import zipfile
from pathlib import Path

from warc2gpt.documents import DOCUMENT_SCHEMA, write_parquet


def make_documents(paragraphs: list[str], count: int, seed: int = 0) -> list[str]:
    """Documents of 2-4 distinct paragraphs each; no paragraph is used twice."""
    rng = random.Random(seed)
    pool = paragraphs[:]
    rng.shuffle(pool)
    docs = []
    for _ in range(count):
        k = rng.randint(2, 4)
        docs.append("\n\n".join(pool[:k]))
        del pool[:k]
    return docs


def web_pages(shared_data: Path) -> dict[str, str]:
    """Common Crawl pages of the Dolma sample (English), by URL."""
    pages = {}
    for path in sorted((shared_data / "text" / "dolma_cc_samples").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            for line in lines:
                record = json.loads(line)
                pages[record["id"]] = record["text"]
    return pages


def genesis(shared_data: Path, language: str) -> str:
    """The book of Genesis in `language` (NLTK's genesis corpus, Latin-1 files)."""
    with zipfile.ZipFile(shared_data / "text" / "nltk" / "genesis.zip") as archive:
        return archive.read(f"genesis/{language}.txt").decode("latin-1")


def korean_text() -> str:
    """The preamble and first articles of the Universal Declaration of Human Rights in Korean."""
    return (Path(__file__).parent / "udhr_korean.txt").read_text(encoding="utf-8")


def edit_words(text: str, fraction: float, rng: random.Random) -> str:
    """Replace `fraction` of the words with words of the text itself, at random places."""
    words = text.split()
    for i in rng.sample(range(len(words)), round(fraction * len(words))):
        words[i] = rng.choice(words) + "x"
    return " ".join(words)


def write_shard(path: Path, texts: list[str], prefix: str) -> list[str]:
    ids = [f"{prefix}-{i}" for i in range(len(texts))]
    rows = [
        {
            "id": doc_id,
            "url": f"https://example.org/{doc_id}",
            "date": "2024-05-01",
            "text": text,
            "language": "en",
            "language_score": 0.9,
            "source_file": "x.warc.gz",
            "source_offset": i,
            "pii_replacements": 0,
        }
        for i, (doc_id, text) in enumerate(zip(ids, texts, strict=True))
    ]
    write_parquet(path, rows, DOCUMENT_SCHEMA)
    return ids
