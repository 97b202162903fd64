"""URL blocklist filter: blocked domains and URLs, banned words and subwords in the URL.

Domain lists can be large (FineWeb's has 4.56 M domains), so they are held as a sorted array of
64-bit hashes: ~36 MB for the whole list, loaded in seconds, looked up with a binary search.
"""

from __future__ import annotations

import glob
import gzip
import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from warc2gpt.config import UrlFilterSettings
from warc2gpt.documents import Document

NON_ALNUM = re.compile(r"[^a-z0-9]+")
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def _expand(patterns: Iterable[str]) -> list[Path]:
    paths: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern))
        if not matches:
            raise FileNotFoundError(f"blocklist file {pattern!r} matches nothing")
        paths.extend(Path(m) for m in matches)
    return paths


def _read_lines(paths: Iterable[Path]) -> list[bytes]:
    lines: list[bytes] = []
    for path in paths:
        lines.extend(_file_lines(path))
    return lines


def _file_lines(path: Path) -> list[bytes]:
    """Lower-cased, non-empty, non-comment lines of a plain or gzip file."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    # Whole-buffer operations: per-line Python work would dominate on millions of lines.
    lines = data.lower().replace(b"\r", b"").split(b"\n")
    if b" " in data or b"\t" in data:
        lines = [line.strip() for line in lines]
    return [line for line in lines if line and not line.startswith(b"#")]


def _builtin(name: str) -> list[Path]:
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
            lines = _file_lines(path)
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


def normalize_url(url: str) -> bytes:
    """Scheme, `www.` and trailing slash removed, lower case: how blocked URLs are listed."""
    url = SCHEME.sub("", url.strip().lower())
    if url.startswith("www."):
        url = url[4:]
    return url.rstrip("/").encode("utf-8", "ignore")


class URLFilter:
    """Removes documents whose URL is on a blocklist or carries banned words."""

    name = "url_filter"

    def __init__(self, settings: UrlFilterSettings):
        own = not (settings.domain_files or settings.url_files)
        domain_files = (
            _expand(settings.domain_files)
            if settings.domain_files
            else (_builtin("domains.txt") if own else [])
        )
        url_files = _expand(settings.url_files)
        self.domains = HashSet.from_files(domain_files)
        self.urls = HashSet(
            [normalize_url(u.decode("utf-8", "ignore")) for u in _read_lines(url_files)]
        )
        words = lambda files, default: _read_lines(  # noqa: E731
            _expand(files) if files else _builtin(default)
        )
        self.banned_words = {
            w.decode() for w in words(settings.banned_word_files, "banned_words.txt")
        }
        self.soft_words = {
            w.decode() for w in words(settings.soft_banned_word_files, "soft_banned_words.txt")
        }
        subwords = sorted(
            {
                NON_ALNUM.sub(" ", w.decode()).strip()
                for w in words(settings.banned_subword_files, "banned_subwords.txt")
            }
        )
        subwords = [s for s in subwords if s]
        self.subwords = re.compile("|".join(map(re.escape, subwords))) if subwords else None
        self.soft_threshold = settings.soft_word_threshold

    def __call__(self, doc: Document) -> str | None:
        url = doc.url.strip().lower()
        host = (urlsplit(url if SCHEME.match(url) else "http://" + url).hostname or "").rstrip(".")
        labels = host.split(".")
        for i in range(len(labels) - 1):
            if ".".join(labels[i:]).encode() in self.domains:
                return "domain"
        if self.urls and normalize_url(url) in self.urls:
            return "url"
        flat = NON_ALNUM.sub(" ", url)
        words = set(flat.split())
        if not words.isdisjoint(self.banned_words):
            return "banned_word"
        if len(words & self.soft_words) >= self.soft_threshold:
            return "soft_banned_words"
        if self.subwords is not None and self.subwords.search(f" {flat} "):
            return "banned_subword"
        return None
