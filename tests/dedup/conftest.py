"""Real text for the dedup tests: WikiText-2 paragraphs (helpers in dedup_corpus.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def paragraphs(shared_data: Path) -> list[str]:
    lines = (shared_data / "text" / "wikitext-2" / "valid.txt").read_text(encoding="utf-8")
    found = [ln.strip() for ln in lines.splitlines() if len(ln.split()) >= 40]
    return list(dict.fromkeys(found))
