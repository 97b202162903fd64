"""Text normalisation, word n-gram shingles and MinHash signatures, vectorised over a batch.

Normalisation follows FineWeb's (datatrove `simplify_text`): lower case, Unicode compatibility
forms and diacritics removed, whole numbers folded to 0, punctuation removed. A batch of
documents becomes one byte array; words, shingle hashes and the per-document minimum
of every hash function are computed with numpy, so no Python code runs per word or per shingle.
All hashes are 64-bit and depend only on the seed, never on the process.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

U64 = np.uint64
EMPTY = np.iinfo(np.uint64).max  # signature value of a document without words
_SPACE = 0x20
# Words are hashed from up to this many 8-byte chunks (the last one is the word's last 8 bytes).
_MAX_CHUNKS = 8
_LOW_BYTES = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [2**64 - 1], dtype=U64)
# Shingles per block when taking minima (measured fastest here, among 512 to 64k).
_BLOCK_SHINGLES = 8192


def _byte_table(fold_digits: bool) -> np.ndarray:
    """ASCII punctuation and whitespace -> space, digits -> '0' (if folded); others unchanged."""
    table = np.arange(256, dtype=np.uint8)
    for b in range(128):
        ch = chr(b)
        if not ch.isalnum():
            table[b] = _SPACE
        elif fold_digits and ch.isdigit():
            table[b] = ord("0")
    return table


_TABLES = {True: _byte_table(True), False: _byte_table(False)}
# Names this normalisation in the dedup work directory's manifest, so work files hashed under
# another one (or another Unicode database: NFKD changes with it) are not reused.
NORMALISATION = f"fineweb-whole-numbers unicode-{unicodedata.unidata_version}"
_MARK, _DIGIT = 1, 2  # kinds of code point, in `_code_point_kinds`


@functools.cache
def _code_point_kinds() -> np.ndarray:
    """uint8 per code point: _MARK for nonspacing marks (Mn), _DIGIT for digits (Nd), else 0.

    Only planes 0, 1 and 14 are read: the others hold ideographs, private use and unassigned
    points, no marks or digits (a full scan takes six times as long).
    """
    kinds = np.zeros(0x110000, dtype=np.uint8)
    for c in (*range(0x20000), *range(0xE0000, 0xE1000)):
        category = unicodedata.category(chr(c))
        if category == "Mn":
            kinds[c] = _MARK
        elif category == "Nd":
            kinds[c] = _DIGIT
    return kinds


def _plain_text(text: str, fold_digits: bool) -> str:
    """Lower case, compatibility forms and accents removed, digits of every script -> '0'.

    NFKD then nonspacing marks dropped, as FineWeb (datatrove `simplify_text`): full-width
    letters, ligatures and accented letters become plain letters, and a text and its NFD copy
    read alike. NFC then recomposes what is left, so Hangul stays syllables rather than jamo.
    Lower case last: NFKD can give upper case ("ℌ" -> "H"). ASCII text needs only lower case;
    its digits are folded with the punctuation, byte by byte.
    """
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    points = np.frombuffer(decomposed.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    kinds = _code_point_kinds()[points]
    if fold_digits:
        points = np.where(kinds == _DIGIT, np.uint32(ord("0")), points)
    points = points[kinds != _MARK]
    return unicodedata.normalize(
        "NFC", points.tobytes().decode("utf-32-le", "surrogatepass")
    ).lower()


def _fold_numbers(data: np.ndarray, text_starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep only the first byte of every whole number; `text_starts` moved to match.

    A whole number is a run of ASCII digits with single '.' or ',' between digits ("7", "3.14",
    "1,000,000"), so it becomes one '0' once digits fold: a page whose numbers change keeps its
    shingles. FineWeb's pattern allows one separator; more fold grouped thousands too.
    """
    digit = (data >= ord("0")) & (data <= ord("9"))
    if not digit.any():
        return data, text_starts
    inside = digit.copy()
    separator = (data[1:-1] == ord(".")) | (data[1:-1] == ord(","))
    inside[1:-1] |= separator & digit[:-2] & digit[2:]
    keep = np.ones(data.size, dtype=bool)
    keep[1:] = ~(inside[1:] & inside[:-1])
    kept_before = np.zeros(data.size + 1, dtype=np.int64)
    np.cumsum(keep, out=kept_before[1:])
    return data[keep], kept_before[text_starts]


def mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: spreads every input bit over all 64 output bits (wrapping)."""
    x = x ^ (x >> U64(30))
    x *= U64(0xBF58476D1CE4E5B9)
    x ^= x >> U64(27)
    x *= U64(0x94D049BB133111EB)
    x ^= x >> U64(31)
    return x


@dataclass(frozen=True)
class MinHasher:
    """MinHash over word n-grams with `bands x rows` hash functions, as in LSH banding."""

    ngram: int = 5
    bands: int = 14
    rows: int = 8
    seed: int = 1
    fold_digits: bool = True

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        draw = lambda *shape: rng.integers(0, 2**64, size=shape, dtype=U64)  # noqa: E731
        # object.__setattr__ because the dataclass is frozen (hashable, picklable to workers).
        object.__setattr__(self, "_chunk_mult", draw(_MAX_CHUNKS + 1) | U64(1))
        # Odd multipliers make x -> a*x + b a permutation of the 64-bit integers.
        object.__setattr__(self, "_gram_mult", draw(self.ngram) | U64(1))
        object.__setattr__(self, "_perm_a", draw(self.num_hashes) | U64(1))
        object.__setattr__(self, "_perm_b", draw(self.num_hashes))
        object.__setattr__(self, "_band_mult", draw(self.rows) | U64(1))
        object.__setattr__(self, "_position_salt", draw(1)[0])

    @property
    def num_hashes(self) -> int:
        return self.bands * self.rows

    # ------------------------------------------------------------------ words

    def words(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """64-bit hashes of the normalised words of every text, and each text's word offsets.

        Normalised: lower case, Unicode compatibility forms and diacritics removed, whole
        numbers fold to 0 (if configured), punctuation (ASCII, Latin-1 and General Punctuation,
        straight and curly quotes alike) and whitespace separate words. Returns `(hashes,
        offsets)` where text i's words are `hashes[offsets[i]:offsets[i + 1]]`.
        """
        parts = [_plain_text(t, self.fold_digits).encode("utf-8", "replace") for t in texts]
        sizes = np.fromiter((len(p) + 1 for p in parts), dtype=np.int64, count=len(parts))
        text_starts = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum(sizes, out=text_starts[1:])
        # Trailing spaces: every word ends inside the array and 8-byte reads stay in bounds.
        data = np.frombuffer(b" ".join(parts) + b" " * 16, dtype=np.uint8)
        if self.fold_digits:
            data, text_starts = _fold_numbers(data, text_starts)
        data = _TABLES[self.fold_digits][data]
        _blank_unicode_punctuation(data)

        is_word = data != _SPACE
        edges = np.flatnonzero(is_word[1:] != is_word[:-1]) + 1
        if is_word[0]:
            edges = np.concatenate([[0], edges])
        starts, ends = edges[0::2], edges[1::2]
        hashes = self._hash_spans(data, starts, ends - starts)

        doc_of_word = np.searchsorted(text_starts, starts, side="right") - 1
        offsets = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum(np.bincount(doc_of_word, minlength=len(parts)), out=offsets[1:])
        return hashes, offsets

    def _hash_spans(self, data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Hash byte spans 8 bytes at a time: each span is read as little-endian uint64 words."""
        windows = as_strided(data, shape=(data.size - 7, 8), strides=(1, 1))

        def chunk(at: np.ndarray, remaining: np.ndarray) -> np.ndarray:
            return windows[at].view(U64).ravel() & _LOW_BYTES[np.minimum(remaining, 8)]

        hashes = lengths.astype(U64) * self._chunk_mult[0]
        hashes += chunk(starts, lengths) * self._chunk_mult[1]
        for c in range(1, _MAX_CHUNKS):
            longer = np.flatnonzero(lengths > 8 * c)
            if longer.size == 0:
                break
            if c == _MAX_CHUNKS - 1:
                # Very long tokens (URLs, base64): their last 8 bytes stand for the rest.
                at = starts[longer] + lengths[longer] - 8
                hashes[longer] += chunk(at, np.full(longer.size, 8)) * self._chunk_mult[c + 1]
                break
            at = starts[longer] + 8 * c
            hashes[longer] += chunk(at, lengths[longer] - 8 * c) * self._chunk_mult[c + 1]
        return mix64(hashes)

    # ------------------------------------------------------------------ shingles

    def shingles(self, words: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Hashes of the word n-grams of every text, and each text's shingle offsets.

        A text with fewer than `ngram` (but some) words has one shingle made of all its words.
        """
        n = self.ngram
        counts = np.diff(offsets)
        total = words.size
        if total >= n:
            grams = words[: total - n + 1] * self._gram_mult[0]
            for k in range(1, n):
                grams += words[k : total - n + 1 + k] * self._gram_mult[k]
        else:
            grams = np.zeros(0, dtype=U64)
        # Keep the n-grams that start and end inside the same text.
        gram_counts = np.maximum(counts - n + 1, 0)
        keep = np.zeros(grams.size, dtype=bool)
        long_docs = np.flatnonzero(gram_counts > 0)
        if long_docs.size:
            run_starts = offsets[long_docs]
            marks = np.zeros(grams.size + 1, dtype=np.int64)
            np.add.at(marks, run_starts, 1)
            np.add.at(marks, run_starts + gram_counts[long_docs], -1)
            keep = np.cumsum(marks[:-1]) > 0
        grams = grams[keep]
        short_docs = np.flatnonzero((counts > 0) & (counts < n))
        if short_docs.size:
            # Rare: texts of 1..n-1 words. Insert their single shingle in document order.
            extra = np.zeros(short_docs.size, dtype=U64)
            for j, d in enumerate(short_docs):
                w = words[offsets[d] : offsets[d + 1]]
                extra[j] = np.sum(w * self._gram_mult[: w.size], dtype=U64)
            gram_counts = gram_counts.copy()
            gram_counts[short_docs] = 1
            before = np.concatenate([[0], np.cumsum(np.maximum(counts - n + 1, 0))])
            grams = np.insert(grams, before[short_docs], extra)
        gram_offsets = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(gram_counts, out=gram_offsets[1:])
        return mix64(grams), gram_offsets

    # ------------------------------------------------------------------ signatures

    def signatures(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), bands * rows) uint64 MinHash signatures; a text without words gets EMPTY."""
        words, offsets = self.words(texts)
        grams, gram_offsets = self.shingles(words, offsets)
        return self.signatures_of_shingles(grams, gram_offsets)

    def signatures_of_shingles(self, grams: np.ndarray, gram_offsets: np.ndarray) -> np.ndarray:
        """Per-text minimum of every hash function over the text's shingle hashes."""
        n_docs = gram_offsets.size - 1
        sig = np.full((n_docs, self.num_hashes), EMPTY, dtype=U64)
        has = np.flatnonzero(np.diff(gram_offsets) > 0)
        a, b = self._perm_a[:, None], self._perm_b[:, None]
        ends = gram_offsets[has + 1]
        # (hashes, shingles) layout, so the minima run along contiguous rows; one buffer reused
        # for every block (fresh large arrays cost page faults).
        buffer = np.empty((self.num_hashes, _BLOCK_SHINGLES), dtype=U64)
        i = 0
        while i < has.size:
            # Whole texts up to a block of shingles (a longer text makes a block of its own).
            lo = gram_offsets[has[i]]
            j = max(int(np.searchsorted(ends, lo + _BLOCK_SHINGLES, side="right")), i + 1)
            docs = has[i:j]
            hi = ends[j - 1]
            if hi - lo <= _BLOCK_SHINGLES:
                values = np.multiply(grams[None, lo:hi], a, out=buffer[:, : hi - lo])
            else:
                values = grams[None, lo:hi] * a
            values += b
            sig[docs] = np.minimum.reduceat(values, gram_offsets[docs] - lo, axis=1).T
            i = j
        return sig

    # ------------------------------------------------------------------ keys

    def band_keys(self, sig: np.ndarray) -> np.ndarray:
        """(n, bands) uint64: one key per band, equal when the band's `rows` values are equal."""
        banded = sig.reshape(sig.shape[0], self.bands, self.rows) * self._band_mult
        return mix64(banded.sum(axis=2, dtype=U64))

    def exact_hashes(self, words: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """One 64-bit hash per text of its normalised word sequence (order-sensitive)."""
        n_docs = offsets.size - 1
        counts = np.diff(offsets)
        position = np.arange(words.size, dtype=U64) - np.repeat(offsets[:-1], counts).astype(U64)
        terms = mix64(words ^ mix64(position + self._position_salt))
        sums = np.zeros(n_docs, dtype=U64)
        has = np.flatnonzero(counts > 0)
        if has.size:
            sums[has] = np.add.reduceat(terms, offsets[has])
        return mix64(sums + counts.astype(U64))


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """The fraction of equal MinHash values: an unbiased estimate of the Jaccard similarity."""
    return float(np.mean(a == b))


def lsh_probability(similarity: float | np.ndarray, bands: int, rows: int) -> float | np.ndarray:
    """Chance that two texts of this Jaccard similarity share at least one band (the S-curve)."""
    return 1.0 - (1.0 - np.asarray(similarity, dtype=float) ** rows) ** bands


def _blank_unicode_punctuation(data: np.ndarray) -> None:
    """Turn the UTF-8 bytes of common non-ASCII punctuation and spaces into spaces, in place.

    Covers U+00A0-U+00BF (no-break space, guillemets, ...), U+2000-U+206F (dashes, curly
    quotes, ellipsis, ...) and U+3000-U+303F (CJK punctuation): their first bytes are 0xC2,
    0xE2 0x80/0x81 and 0xE3 0x80.
    """
    if data.size < 2:
        return
    lead, follow = data[:-1], data[1:]
    two = np.flatnonzero((lead == 0xC2) & (follow >= 0xA0) & (follow <= 0xBF))
    three = np.flatnonzero(
        ((lead == 0xE2) & ((follow == 0x80) | (follow == 0x81)))
        | ((lead == 0xE3) & (follow == 0x80))
    )
    three = three[three + 2 < data.size]
    for shift in (0, 1):
        data[two + shift] = _SPACE
    for shift in (0, 1, 2):
        data[three + shift] = _SPACE
