"""Blocklist files read into compact in-memory sets, for the URL filter.

Domain lists can be large (FineWeb's has 4.56 M domains), so they are held as a sorted array of
64-bit hashes: ~36 MB for the whole list, loaded in seconds, looked up with a binary search.
"""

from __future__ import annotations

import glob
import gzip
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import numpy as np


def expand(patterns: Iterable[str]) -> list[Path]:
    """The files the patterns match; a pattern that matches nothing is an error."""
    paths: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern))
        if not matches:
            raise FileNotFoundError(f"blocklist file {pattern!r} matches nothing")
        paths.extend(Path(m) for m in matches)
    return paths


def read_lines(paths: Iterable[Path]) -> list[bytes]:
    lines: list[bytes] = []
    for path in paths:
        lines.extend(file_lines(path))
    return lines


def file_lines(path: Path) -> list[bytes]:
    """Lower-cased, non-empty, non-comment lines of a plain or gzip file."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    # Whole-buffer operations: per-line Python work would dominate on millions of lines.
    lines = data.lower().replace(b"\r", b"").split(b"\n")
    if b" " in data or b"\t" in data:
        lines = [line.strip() for line in lines]
    return [line for line in lines if line and not line.startswith(b"#")]


def builtin(name: str) -> list[Path]:
    """A list the package ships."""
    return [Path(str(resources.files("warc2gpt") / "data" / "blocklists" / name))]


class HashSet:
    """A read-only set of byte strings held as sorted 64-bit hashes (process-local hashing)."""

    def __init__(self, items: list[bytes] = ()):
        self.hashes = np.unique(np.fromiter(map(hash, items), dtype=np.int64, count=len(items)))

    @classmethod
    def from_files(cls, paths: Iterable[Path]) -> HashSet:
        """Hash file by file, so only one file's lines are ever held as Python objects."""
        parts = []
        for path in paths:
            lines = file_lines(path)
            parts.append(np.fromiter(map(hash, lines), dtype=np.int64, count=len(lines)))
            del lines
        self = cls()
        self.hashes = np.unique(np.concatenate(parts)) if parts else self.hashes
        return self

    def __len__(self) -> int:
        return len(self.hashes)

    def __contains__(self, item: bytes) -> bool:
        h = hash(item)
        i = int(np.searchsorted(self.hashes, h))
        return i < len(self.hashes) and int(self.hashes[i]) == h
