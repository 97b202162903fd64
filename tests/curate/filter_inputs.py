"""Inputs the quality-filter tests share: a document around a text, and real Common Crawl text."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from warc2gpt.documents import Document


def doc(text: str) -> Document:
    return Document(id="t", url="https://example.com/", text=text)


def dolma_text(shared_data: Path, name: str, index: int) -> str:
    """Document `index` of one of dolma's Common Crawl sample files in ../shared/data."""
    path = shared_data / "text/dolma_cc_samples" / name
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return json.loads(handle.readlines()[index])["text"]
