"""Gopher's quality filter (Rae et al. 2021): word count, mean word length, symbol ratios,
bullet and ellipsis lines, alphabetic words and stop words, as FineWeb applies it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from warc2gpt.config_fields import bounded, listing
from warc2gpt.curate.steps.base import Step
from warc2gpt.curate.text import PUNCTUATION, lines, words

if TYPE_CHECKING:
    from warc2gpt.documents import Document

# Over the words joined one per line: lines made only of punctuation, and lines with a letter.
_SYMBOL_WORD_RE = re.compile(
    "^[" + "".join(re.escape(c) for c in PUNCTUATION if c != "\n") + "]+$", re.MULTILINE
)
_ALPHA_WORD_RE = re.compile(r"^[^\n]*?[^\W\d_]", re.MULTILINE)
_BULLETS = ("•", "-")
_ELLIPSES = ("...", "…")


@dataclass
class GopherQualitySettings:
    """Gopher quality thresholds, as FineWeb uses them."""

    enabled: bool = True
    min_doc_words: int = bounded(50, ge=0)
    max_doc_words: int = bounded(100000, ge=1)
    min_avg_word_length: float = bounded(3.0, ge=0)
    max_avg_word_length: float = bounded(10.0, ge=0)
    max_symbol_word_ratio: float = bounded(0.1, ge=0)
    max_bullet_lines_ratio: float = bounded(0.9, ge=0, le=1)
    max_ellipsis_lines_ratio: float = bounded(0.3, ge=0, le=1)
    max_non_alpha_words_ratio: float = bounded(0.8, ge=0, le=1)
    min_stop_words: int = bounded(2, ge=0)
    stop_words: list[str] = listing("the", "be", "to", "of", "and", "that", "have", "with")


class GopherQualityFilter(Step):
    """Removes documents that do not read like prose by Gopher's heuristics."""

    name = "gopher_quality"
    Settings = GopherQualitySettings

    def __init__(self, settings: GopherQualitySettings):
        super().__init__(settings)
        self.stop_words = frozenset(settings.stop_words)

    def __call__(self, doc: Document) -> str | None:
        s = self.settings
        text = doc.text
        tokens = words(doc)
        n_words = len(tokens)
        if n_words == 0:
            return "gopher_short_doc"
        # The words joined one per line let a few C-level regex scans do the per-word counting.
        joined = "\n".join(tokens)
        symbol_words = _SYMBOL_WORD_RE.findall(joined)
        n_content = n_words - len(symbol_words)
        if s.min_doc_words and n_content < s.min_doc_words:
            return "gopher_short_doc"
        if s.max_doc_words and n_content > s.max_doc_words:
            return "gopher_long_doc"

        if n_content:
            content_chars = len(joined) - (n_words - 1) - sum(map(len, symbol_words))
            mean_length = content_chars / n_content
            if s.min_avg_word_length and mean_length < s.min_avg_word_length:
                return "gopher_below_avg_threshold"
            if s.max_avg_word_length and mean_length > s.max_avg_word_length:
                return "gopher_above_avg_threshold"

        if s.max_symbol_word_ratio:
            if text.count("#") / n_words > s.max_symbol_word_ratio:
                return "gopher_too_many_hashes"
            if (text.count("...") + text.count("…")) / n_words > s.max_symbol_word_ratio:
                return "gopher_too_many_ellipsis"

        text_lines = lines(doc)
        if text_lines:
            if s.max_bullet_lines_ratio:
                bullets = sum(1 for line in text_lines if line.lstrip().startswith(_BULLETS))
                if bullets / len(text_lines) > s.max_bullet_lines_ratio:
                    return "gopher_too_many_bullets"
            if s.max_ellipsis_lines_ratio:
                ending = sum(1 for line in text_lines if line.rstrip().endswith(_ELLIPSES))
                if ending / len(text_lines) > s.max_ellipsis_lines_ratio:
                    return "gopher_too_many_end_ellipsis"

        if s.max_non_alpha_words_ratio:
            alpha_words = len(_ALPHA_WORD_RE.findall(joined))
            if alpha_words / n_words < s.max_non_alpha_words_ratio:
                return "gopher_below_alpha_threshold"

        if s.min_stop_words:
            found = 0
            for word in tokens:
                if word in self.stop_words:
                    found += 1
                    if found >= s.min_stop_words:
                        break
            else:
                return "gopher_enough_stop_words"
        return None
