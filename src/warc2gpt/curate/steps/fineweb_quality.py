"""FineWeb's own line heuristics (Penedo et al. 2024): too few lines ending in punctuation, too
many short lines, duplicated lines, and list-like pages with many newlines per word."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from warc2gpt.config_fields import bounded
from warc2gpt.curate.steps.base import Step
from warc2gpt.curate.text import find_duplicates, words

if TYPE_CHECKING:
    from warc2gpt.documents import Document

STOP_CHARS = (".", "'", '"', "!", "?")


@dataclass
class FineWebQualitySettings:
    """FineWeb's own line-level heuristics."""

    enabled: bool = True
    line_punct_thr: float = bounded(0.12, ge=0, le=1)
    line_punct_exclude_zero: bool = False
    short_line_thr: float = bounded(0.67, ge=0, le=1)
    short_line_length: int = bounded(30, ge=0)
    char_duplicates_ratio: float = bounded(0.01, ge=0, le=1)
    new_line_ratio: float = bounded(0.3, ge=0)


class FineWebQualityFilter(Step):
    """Removes pages that read like navigation, lists or repeated boilerplate."""

    name = "fineweb_quality"
    Settings = FineWebQualitySettings

    def __call__(self, doc: Document) -> str | None:
        s = self.settings
        text = doc.text
        lines = text.split("\n")
        ratio = sum(1 for line in lines if line.endswith(STOP_CHARS)) / len(lines)
        if ratio <= s.line_punct_thr and not (ratio == 0 and s.line_punct_exclude_zero):
            return "line_punct_ratio"

        ratio = sum(1 for line in lines if len(line) <= s.short_line_length) / len(lines)
        if ratio >= s.short_line_thr:
            return "short_line_ratio"

        non_empty = [line for line in lines if line.strip()]
        chars = len(text) - len(lines) + 1  # the text without its newlines
        duplicated = find_duplicates(non_empty)[1]
        if chars and duplicated / chars >= s.char_duplicates_ratio:
            return "char_dup_ratio"

        n_words = len(words(doc))
        if n_words == 0 or (len(lines) - 1) / n_words > s.new_line_ratio:
            return "list_ratio"
        return None
