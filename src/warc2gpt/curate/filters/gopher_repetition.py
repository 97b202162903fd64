"""Gopher's repetition filter (Rae et al. 2021, table A1): duplicated paragraphs and lines, the
most frequent 2-4-grams and duplicated 5-10-grams, as FineWeb applies it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from warc2gpt.config import ConfigError, GopherRepetitionSettings
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


class NGrams:
    """Word n-grams of one document as integer ids (equal ids = equal n-grams), each level built
    from the one below with one sort, and character lengths from prefix sums of word lengths."""

    def __init__(self, tokens: list[str]):
        vocabulary = {word: i for i, word in enumerate(dict.fromkeys(tokens))}
        self.ids = np.fromiter(map(vocabulary.__getitem__, tokens), np.int64, len(tokens))
        self.prefix = np.zeros(len(tokens) + 1, np.int64)
        np.cumsum(np.fromiter(map(len, tokens), np.int64, len(tokens)), out=self.prefix[1:])
        self._dense: dict[int, np.ndarray] = {1: self.ids}
        self._previous: dict[int, np.ndarray] = {}

    def _level(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(dense n-gram id, previous position of the same n-gram or -1) per start position,
        for n >= 2; the lower levels are built on the way."""
        if n not in self._previous:
            below = self._dense[n - 1] if n - 1 in self._dense else self._level(n - 1)[0]
            # (n-1)-gram id and last word id make the n-gram's key; both are < len(ids).
            keys = below[:-1] * len(self.ids) + self.ids[n - 1 :]
            order = np.argsort(keys, kind="stable")
            ordered = keys[order]
            repeat = ordered[1:] == ordered[:-1]
            dense = np.empty(len(keys), np.int64)
            dense[order] = np.concatenate(([0], np.cumsum(~repeat)))
            previous = np.full(len(keys), -1, np.int64)
            previous[order[1:][repeat]] = order[:-1][repeat]
            self._dense[n], self._previous[n] = dense, previous
        return self._dense[n], self._previous[n]

    def joined_length(self, start: np.ndarray | int, n: int) -> np.ndarray | int:
        """Characters of the n words from `start`, without separators."""
        return self.prefix[start + n] - self.prefix[start]

    def top_n_gram_chars(self, n: int) -> int:
        """Characters covered by the most frequent n-gram (joined with spaces), counted at each
        occurrence; ties go to the n-gram seen first. 0 when there are fewer than n words."""
        if len(self.ids) < n:
            return 0
        dense, previous = self._level(n)
        counts = np.bincount(dense)
        firsts = np.flatnonzero(previous < 0)
        best = int(np.argmax(counts[dense[firsts]]))
        start = int(firsts[best])
        return int(counts[dense[start]]) * (int(self.joined_length(start, n)) + n - 1)

    def duplicated_n_gram_chars(self, n: int, limit: float = float("inf")) -> int:
        """Characters in n-grams that repeat an earlier one, scanning left to right and jumping
        over each repeat (so overlapping repeats count once). Stops early past `limit`.

        n-grams compare word by word; datatrove compares the words glued together, which also
        takes "ab c" for a repeat of "a bc" (a few characters in a whole play)."""
        if len(self.ids) < n + 1:
            return 0
        _, previous = self._level(n)
        # Only positions whose n-gram occurred before can repeat; visit just those, in order.
        candidates = np.flatnonzero(previous >= 0).tolist()
        if not candidates:
            return 0
        previous_list = previous.tolist()
        skipped = bytearray(len(previous_list))
        chars, resume = 0, 0
        for i in candidates:
            if i < resume:
                continue  # inside a jump: never looked at
            # A repeat needs an earlier occurrence that was looked at (not jumped over).
            p = previous_list[i]
            while p >= 0 and skipped[p]:
                p = previous_list[p]
            if p < 0:
                continue
            chars += int(self.prefix[i + n] - self.prefix[i])
            if chars > limit:
                return chars
            skipped[i + 1 : i + n] = b"\x01" * (n - 1)
            resume = i + n
        return chars


class GopherRepetitionFilter:
    """Removes documents whose paragraphs, lines or word n-grams repeat too much."""

    name = "gopher_repetition"

    def __init__(self, settings: GopherRepetitionSettings):
        self.settings = settings
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
        grams = NGrams(words(doc))
        for n, fraction in self.top_n_grams:
            if grams.top_n_gram_chars(n) / size > fraction:
                return f"top_{n}_gram"
        for n, fraction in self.dup_n_grams:
            if grams.duplicated_n_gram_chars(n, limit=fraction * size) / size > fraction:
                return f"duplicated_{n}_n_grams"
        return None
