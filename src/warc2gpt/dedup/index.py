"""The index of earlier increments (`dedup.index`): the exact hashes and MinHash band keys of every
document that earlier runs kept, looked up at a cost that grows with a run's documents, not with
the corpus.

    <index>/manifest.json          the hash settings; the increments in order (input shard
                                   names, documents kept); the segments that hold them
    <index>/segments/<name>/       the documents of a run of consecutive increments, in order:
        ids.npy                    (docs,) their `id`s
        exact.npy, exact_rows.npy  (docs,) exact hashes, sorted, and each one's row of ids.npy
        bands.npy, band_rows.npy   (bands, n) band keys, each band sorted, and their rows
                                   (documents with words only)

Each run adds one segment. Like the levels of a log-structured merge tree, MERGE_FACTOR
segments holding equally many increments are merged into one, so an index of N increments has
at most (MERGE_FACTOR - 1) segments per power of MERGE_FACTOR, and a lookup, which memory-maps
one segment at a time and binary-searches the run's keys in it, reads a few pages per key and
segment: its time stays flat as the corpus grows. Segments stop merging at MAX_MERGED_DOCS, which
bounds the memory a merge takes.

New segments are written under a temporary name and renamed into place; they become the index
only when manifest.json, replaced atomically, lists them, and the ones it no longer lists are
deleted after that. A segment's name ends in a digest of its arrays, so rewriting the same
documents leaves the folder as it was. An increment is known by its input shard names: a run
over the same names replaces that increment's documents, and is decided against the increments
before it only (the rows of a merged segment are in increment order, so that is a row limit).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from warc2gpt.atomic import write_json
from warc2gpt.config import DedupSettings
from warc2gpt.dedup.minhash import NORMALISATION

FORMAT = 1
MANIFEST = "manifest.json"
SEGMENTS = "segments"
LOCK = ".lock"
# Settings that change the keys: an index is only usable under the ones it was built with.
KEY_SETTINGS = ("exact", "near", "ngram", "bands", "rows", "seed", "fold_digits")
MERGE_FACTOR = 8  # this many segments of as many increments each merge into one
MAX_MERGED_DOCS = 4_000_000  # ~1 GB of keys held while merging (14 bands)


@dataclass(frozen=True)
class Increment:
    """One run's input shard names and the number of documents it kept."""

    inputs: tuple[str, ...]
    docs: int


@dataclass(frozen=True)
class Segment:
    """A folder of segments/: the documents of increments `first`..`last`, in that order."""

    name: str
    first: int
    last: int
    docs: int


@dataclass(frozen=True)
class Documents:
    """Documents in row order: ids, exact hashes, and the band keys of those with words (rows
    `with_words`, ascending). `exact` or `bands` is None where its setting is off."""

    ids: np.ndarray
    exact: np.ndarray | None
    bands: np.ndarray | None
    with_words: np.ndarray

    def __len__(self) -> int:
        return int(self.ids.size)

    def rows(self, a: int, b: int) -> Documents:
        lo, hi = np.searchsorted(self.with_words, [a, b])
        return Documents(
            self.ids[a:b],
            None if self.exact is None else self.exact[a:b],
            None if self.bands is None else self.bands[:, lo:hi],
            self.with_words[lo:hi] - a,
        )

    @staticmethod
    def joined(parts: list[Documents]) -> Documents:
        starts = np.cumsum([0] + [len(p) for p in parts])
        first = parts[0]
        return Documents(
            np.concatenate([p.ids for p in parts]),
            None if first.exact is None else np.concatenate([p.exact for p in parts]),
            None if first.bands is None else np.concatenate([p.bands for p in parts], axis=1),
            np.concatenate([p.with_words + s for p, s in zip(parts, starts, strict=False)]),
        )


def key_settings(settings: DedupSettings) -> dict[str, Any]:
    return {
        **{k: getattr(settings, k) for k in KEY_SETTINGS},
        "normalisation": NORMALISATION,
    }


class DedupIndex:
    """An index folder as its manifest lists it; `open_index` holds the folder's lock."""

    def __init__(self, path: str | Path, settings: DedupSettings) -> None:
        self.path = Path(path)
        self.settings = key_settings(settings)
        self.increments: list[Increment] = []
        self.segments: list[Segment] = []
        manifest = self.path / MANIFEST
        if not manifest.exists():
            return
        try:
            stored = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(
                f"dedup.index: {manifest} cannot be read ({error}); restore the folder from "
                "its DVC cache or remote (`dvc checkout`), or point dedup.index at a new folder"
            ) from error
        if stored.get("format") != FORMAT:
            raise ValueError(
                f"dedup.index: {manifest} has format {stored.get('format')!r}, this version "
                f"reads format {FORMAT}; point dedup.index at a new folder"
            )
        if stored["settings"] != self.settings:
            differ = sorted(
                k
                for k in {*stored["settings"], *self.settings}
                if stored["settings"].get(k) != self.settings.get(k)
            )
            shown = ", ".join(
                f"{k}: index {stored['settings'].get(k)!r}, now {self.settings.get(k)!r}"
                for k in differ
            )
            raise ValueError(
                f"dedup.index: {self.path} was built with other hash settings ({shown}); its "
                "keys would match nothing. Set them back, or point dedup.index at a new folder"
            )
        self.increments = [Increment(tuple(i["inputs"]), i["docs"]) for i in stored["increments"]]
        self.segments = [Segment(**s) for s in stored["segments"]]

    @property
    def docs(self) -> int:
        return sum(i.docs for i in self.increments)

    def position(self, inputs: list[str]) -> int | None:
        """The number of the increment over these shard names, None for a new one.

        Refuses inputs that share shards with an increment without being that increment: the
        documents of those shards were added already, and deciding them against themselves
        would remove them all.
        """
        names = set(inputs)
        for number, increment in enumerate(self.increments):
            if set(increment.inputs) == names:
                return number
            shared = names & set(increment.inputs)
            if shared:
                raise ValueError(
                    f"dedup.index: {', '.join(sorted(shared)[:3])} already belong to "
                    f"increment {number} of {self.path} ({len(increment.inputs)} shards), but "
                    f"this run's {len(names)} shards differ from that increment's; with "
                    "dedup.index set, dedup.input must name exactly one increment: the same "
                    "shards as before to rerun it, or only new ones"
                )
        return None

    def earlier(self, inputs: list[str]) -> list[tuple[Segment, int]]:
        """What a run over `inputs` is decided against, all earlier increments: each segment
        holding some, with the number of its first rows that are theirs."""
        at = self.position(inputs)
        before = len(self.increments) if at is None else at
        return [(s, self._rows_before(s, before)) for s in self.segments if s.first < before]

    def _rows_before(self, segment: Segment, number: int) -> int:
        """The rows of `segment` that belong to increments before `number`."""
        return sum(i.docs for i in self.increments[segment.first : min(number, segment.last + 1)])

    def holding(self, number: int) -> Segment:
        return next(s for s in self.segments if s.first <= number <= s.last)

    def increment_ids(self, number: int) -> np.ndarray:
        """The ids of the documents increment `number` kept."""
        segment = self.holding(number)
        start = self._rows_before(segment, number)
        return self.ids(segment, np.arange(start, start + self.increments[number].docs))

    # ---------------------------------------------------------------- lookups

    def folder(self, segment: Segment) -> Path:
        return self.path / SEGMENTS / segment.name

    def _array(self, segment: Segment, name: str) -> np.ndarray:
        path = self.folder(segment) / f"{name}.npy"
        try:
            return np.load(path, mmap_mode="r")
        except FileNotFoundError:
            raise FileNotFoundError(
                f"dedup.index: {path} is missing although {MANIFEST} lists segment "
                f"{segment.name}; restore the folder from its DVC cache or remote"
            ) from None

    def find(
        self, segment: Segment, queries: list[tuple[int | None, np.ndarray]], rows: int
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Which of each query's keys the segment's first `rows` rows hold, and the row of each.

        A query is (band number, or None for exact hashes; sorted keys). One answer per query:
        (positions in its keys, rows). The segment's arrays are mapped once for all queries.
        Equal keys are stored in row order, so the first one found is the earliest.
        """
        mapped: dict[str, np.ndarray] = {}

        def array(name: str) -> np.ndarray:
            if name not in mapped:
                mapped[name] = self._array(segment, name)
            return mapped[name]

        answers = []
        for band, keys in queries:
            stored = array("exact") if band is None else array("bands")[band]
            hit, found = np.zeros(0, np.int64), np.zeros(0, np.int64)
            if stored.size and keys.size:
                at = np.searchsorted(stored, keys)
                hit = np.flatnonzero(at < stored.size)
                hit = hit[np.asarray(stored[at[hit]]) == keys[hit]]
                stored_rows = array("exact_rows") if band is None else array("band_rows")[band]
                found = np.asarray(stored_rows[at[hit]], dtype=np.int64)
                hit, found = hit[found < rows], found[found < rows]
            answers.append((hit, found))
        return answers

    def ids(self, segment: Segment, rows: np.ndarray) -> np.ndarray:
        """The document ids of these segment rows."""
        return np.asarray(self._array(segment, "ids")[rows])

    # ---------------------------------------------------------------- adding

    def put(self, inputs: list[str], documents: Documents) -> bool:
        """Add the documents a run over `inputs` kept, as a new increment or in place of that
        increment's documents if it has some; returns whether it replaced them."""
        number = self.position(inputs)
        increment = Increment(tuple(sorted(inputs)), len(documents))
        increments, segments = list(self.increments), list(self.segments)
        if number is None:
            increments.append(increment)
            new = self._write(len(increments) - 1, len(increments) - 1, documents)
            segments.append(new)
            segments = self._merged(segments)
        else:
            old = self.holding(number)
            start, end = (self._rows_before(old, n) for n in (number, number + 1))
            whole = self._read(old)
            increments[number] = increment
            spliced = Documents.joined(
                [whole.rows(0, start), documents, whole.rows(end, len(whole))]
            )
            segments[segments.index(old)] = self._write(old.first, old.last, spliced)
        write_json(
            self.path / MANIFEST,
            {
                "format": FORMAT,
                "settings": self.settings,
                "increments": [{"inputs": list(i.inputs), "docs": i.docs} for i in increments],
                "segments": [vars(s) for s in segments],
            },
        )
        self.increments, self.segments = increments, segments
        self._remove_unlisted()
        return number is not None

    def _merged(self, segments: list[Segment]) -> list[Segment]:
        """Merge the last MERGE_FACTOR segments while they hold as many increments each."""
        while len(segments) >= MERGE_FACTOR:
            tail = segments[-MERGE_FACTOR:]
            spans = {s.last - s.first for s in tail}
            if len(spans) > 1 or sum(s.docs for s in tail) > MAX_MERGED_DOCS:
                break
            whole = Documents.joined([self._read(s) for s in tail])
            segments[-MERGE_FACTOR:] = [self._write(tail[0].first, tail[-1].last, whole)]
        return segments

    def _read(self, segment: Segment) -> Documents:
        """A segment's documents back in row order."""
        ids = np.asarray(self._array(segment, "ids"))
        exact = bands = None
        with_words = np.zeros(0, np.int64)
        if self.settings["exact"]:
            exact = np.empty(ids.size, np.uint64)
            exact[self._array(segment, "exact_rows")] = self._array(segment, "exact")
        if self.settings["near"]:
            stored, rows = self._array(segment, "bands"), self._array(segment, "band_rows")
            with_words = np.sort(np.asarray(rows[0], dtype=np.int64)) if rows.size else with_words
            bands = np.empty(stored.shape, np.uint64)
            for band in range(stored.shape[0]):
                bands[band, np.searchsorted(with_words, rows[band])] = stored[band]
        return Documents(ids, exact, bands, with_words)

    def _write(self, first: int, last: int, documents: Documents) -> Segment:
        """Sort the documents' keys into a segment folder (kept if one of that name exists)."""
        arrays = {"ids": np.asarray(documents.ids, dtype=str)}
        if documents.exact is not None:
            order = np.argsort(documents.exact, kind="stable")
            arrays["exact"] = documents.exact[order]
            arrays["exact_rows"] = order.astype(np.uint32)
        if documents.bands is not None:
            order = np.argsort(documents.bands, axis=1, kind="stable")
            arrays["bands"] = np.take_along_axis(documents.bands, order, axis=1)
            arrays["band_rows"] = documents.with_words.astype(np.uint32)[order]
        segment = Segment(
            name=f"{first:06d}-{last:06d}-{_digest(arrays)[:16]}",
            first=first,
            last=last,
            docs=len(documents),
        )
        folder = self.folder(segment)
        if folder.is_dir():
            return segment
        tmp = folder.with_name(f".{segment.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            for name, array in arrays.items():
                np.save(tmp / f"{name}.npy", array)
            os.replace(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return segment

    def _remove_unlisted(self) -> None:
        """Segments the manifest no longer lists (replaced, merged) and those a killed run left."""
        listed = {s.name for s in self.segments}
        for entry in sorted((self.path / SEGMENTS).iterdir()):
            if entry.name not in listed:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


@contextmanager
def open_index(settings: DedupSettings) -> Iterator[DedupIndex]:
    """The index `dedup.index` names, locked for this run (another run using it fails fast)."""
    import fcntl

    path = Path(settings.index)
    path.mkdir(parents=True, exist_ok=True)
    with open(path / LOCK, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(
                f"dedup.index: another dedup run is using {path}; runs that share an index "
                "must run one after the other"
            ) from None
        try:
            yield DedupIndex(path, settings)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        h.update(f"{name} {array.dtype.str} {array.shape}\n".encode())
        h.update(array.tobytes())
    return h.hexdigest()
