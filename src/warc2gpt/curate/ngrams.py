"""Word n-gram statistics of one document, vectorised with numpy, for Gopher's repetition
filter: the most frequent n-gram's share and the share of duplicated n-grams."""

from __future__ import annotations

import numpy as np


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
