"""Gopher's repetition filter (Rae et al. 2021, table A1): duplicated paragraphs and lines, the
most frequent 2-4-grams and duplicated 5-10-grams, as FineWeb applies it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from warc2gpt.config_fields import ConfigError, bounded
from warc2gpt.curate.steps.base import Step
from warc2gpt.curate.text import LINE_RUN_RE, PARAGRAPH_RE, find_duplicates, words

if TYPE_CHECKING:
    from warc2gpt.documents import Document


def _n_gram_thresholds(pairs: list[list[float]], key: str) -> list[tuple[int, float]]:
    out = []
    for i, pair in enumerate(pairs):
        if len(pair) != 2 or int(pair[0]) != pair[0] or pair[0] < 1 or not 0 <= pair[1] <= 1:
            raise ConfigError(
                f"curate.gopher_repetition.{key}[{i}]: expected [n, fraction] with an integer "
                f"n >= 1 and 0 <= fraction <= 1, got {pair!r}"
            )
        out.append((int(pair[0]), float(pair[1])))
    return out


@dataclass
class GopherRepetitionSettings:
    """Gopher (Rae et al. 2021) repetition thresholds, as FineWeb uses them."""

    enabled: bool = True
    dup_line_frac: float = bounded(0.3, ge=0, le=1)
    dup_para_frac: float = bounded(0.3, ge=0, le=1)
    dup_line_char_frac: float = bounded(0.2, ge=0, le=1)
    dup_para_char_frac: float = bounded(0.2, ge=0, le=1)
    # [n, max fraction of characters in the most frequent n-gram]
    top_n_grams: list[list[float]] = bounded([[2, 0.2], [3, 0.18], [4, 0.16]])
    # [n, max fraction of characters in duplicated n-grams]
    dup_n_grams: list[list[float]] = bounded(
        [[5, 0.15], [6, 0.14], [7, 0.13], [8, 0.12], [9, 0.11], [10, 0.10]]
    )


class GopherRepetitionFilter(Step):
    """Removes documents whose paragraphs, lines or word n-grams repeat too much."""

    name = "gopher_repetition"
    Settings = GopherRepetitionSettings

    def __init__(self, settings: GopherRepetitionSettings):
        super().__init__(settings)
        self.top_n_grams = _n_gram_thresholds(settings.top_n_grams, "top_n_grams")
        self.dup_n_grams = _n_gram_thresholds(settings.dup_n_grams, "dup_n_grams")

    def __call__(self, doc: Document) -> str | None:
        s = self.settings
        text = doc.text
        if not text:
            return None  # nothing repeats in an empty text; the quality filters remove it
        size = len(text)

        paragraphs = PARAGRAPH_RE.split(text.strip())
        count, chars = find_duplicates(paragraphs)
        if s.dup_para_frac and count / len(paragraphs) > s.dup_para_frac:
            return "dup_para_frac"
        if s.dup_para_char_frac and chars / size > s.dup_para_char_frac:
            return "dup_para_char_frac"

        lines = LINE_RUN_RE.split(text)
        count, chars = find_duplicates(lines)
        if s.dup_line_frac and count / len(lines) > s.dup_line_frac:
            return "dup_line_frac"
        if s.dup_line_char_frac and chars / size > s.dup_line_char_frac:
            return "dup_line_char_frac"

        if not self.top_n_grams and not self.dup_n_grams:
            return None
        from warc2gpt.curate.ngrams import NGrams  # numpy: kept out of config's imports

        grams = NGrams(words(doc))
        for n, fraction in self.top_n_grams:
            if grams.top_n_gram_chars(n) / size > fraction:
                return f"top_{n}_gram"
        for n, fraction in self.dup_n_grams:
            if grams.duplicated_n_gram_chars(n, limit=fraction * size) / size > fraction:
                return f"duplicated_{n}_n_grams"
        return None
