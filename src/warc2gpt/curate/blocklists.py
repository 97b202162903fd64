"""Blocklist files read into compact sets for the URL filter, and FineWeb's URL blocklist: where
it is found, how it is checked, how it is installed.

Domain lists can be large (FineWeb's has 4.56 M domains), so a list is held as a sorted array of
stable 64-bit hashes (blake2b), looked up with a binary search. The array is built once (a few
seconds) and kept as a `.npy` index in the user cache; later runs memory-map it in milliseconds,
and it is rebuilt when its source files change (path, size or modification time).

FineWeb's list is never shipped nor downloaded at run time. It is looked for in order in
$WARC2GPT_BLOCKLIST_DIR, the user cache (`warc2gpt blocklist install` puts it there), then
`../shared/data/blocklists/datatrove_url_filter_v0_3_0` beside the checkout; a folder is used only
once its files match FineWeb's published sha256, checked once per install (a marker in the cache
remembers the files it checked).
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from warc2gpt.documents import atomic_path

log = logging.getLogger(__name__)

ENV_DIR = "WARC2GPT_BLOCKLIST_DIR"
FINEWEB_NAME = "fineweb-v0.3.0"
FINEWEB_TITLE = "FineWeb's URL blocklist v0.3.0 (datatrove's URLFilter list)"
# datatrove's url_filterblacklistsv0_3_0 `domains` file (4,558,939 lines, split into 7 gzip
# parts that concatenate to it) and its `urls` file (19,586 lines), with their sha256.
FINEWEB_FILES = {
    "domains.part00.gz": "1f755702a19eb6cc2d07fa593f654b499790f93876bd453c842327f92e9f5139",
    "domains.part01.gz": "4524c8fc900554e82a4a336fefc7d13e9b3f3f9151098669420c4f1380301dad",
    "domains.part02.gz": "8267967e7fb2bf5150fd1d8474b9bec19663fae468842d07fce4ed7135687c38",
    "domains.part03.gz": "ebcf91b79d44202155cf6cb8df73f3c723ff9106616fabe18782e5d1ad48839c",
    "domains.part04.gz": "6ceee1d646628215e6ccfdfdcc401a1781e2863581a215a769f61ac0c8ff61e5",
    "domains.part05.gz": "7afb1f0b4dea8c427b7d7978dae433c327f12094241542cd08a2a5b2ece76147",
    "domains.part06.gz": "15271fb8d1202682dbb351e3c6bf772c1352b3c10069ca1ee7296f506dfeed91",
    "urls.gz": "6c51552cc4c3f03853e6bab5a16e905b7bbf79f69e2db138cd642de6ffbc2b88",
}
FINEWEB_DOMAIN_FILES = tuple(name for name in FINEWEB_FILES if name.startswith("domains."))
FINEWEB_URL_FILES = ("urls.gz",)
SHARED_FOLDER = Path("shared/data/blocklists/datatrove_url_filter_v0_3_0")
# Part of every index's fingerprint: a change to the hashing makes old indexes stale.
INDEX_FORMAT = "blake2b-64-v1"
# Smaller lists hash in a millisecond or two: they get no index (and leave nothing in the cache).
INDEX_MIN_BYTES = 1 << 16


class BlocklistError(ValueError):
    """A blocklist that cannot be installed: missing or not the expected files."""


# --------------------------------------------------------------------------- reading files


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


# --------------------------------------------------------------------------- hashed sets


def stable_hash(item: bytes) -> int:
    """A 64-bit hash that is the same in every process (Python's `hash` is salted per process)."""
    return int.from_bytes(hashlib.blake2b(item, digest_size=8).digest(), "little", signed=True)


def hash_array(items: list[bytes]) -> np.ndarray:
    """Sorted, unique stable hashes of `items`."""
    blake2b = hashlib.blake2b  # the digests of `stable_hash`, joined: no int per item
    digests = b"".join([blake2b(item, digest_size=8).digest() for item in items])
    return sorted_unique(np.frombuffer(digests, dtype="<i8").astype(np.int64))


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """`np.unique` by sorting in place: several times faster on millions of int64 than numpy 2's
    hash-based unique, which sorts its result afterwards anyway."""
    values.sort()
    return values[np.concatenate(([True], values[1:] != values[:-1]))] if len(values) else values


class HashSet:
    """A read-only set of byte strings held as sorted stable 64-bit hashes.

    `index` is the `.npy` file the hashes were memory-mapped from, if any.
    """

    def __init__(self, items: Iterable[bytes] = ()):
        self.hashes: np.ndarray = hash_array(list(items))
        self.index: Path | None = None

    @classmethod
    def from_files(
        cls,
        paths: Iterable[Path],
        normalize: Callable[[bytes], bytes] | None = None,
        cache: bool = True,
    ) -> HashSet:
        """The lines of `paths` (each through `normalize`, if given) as a set.

        With `cache`, the hashes of lists over INDEX_MIN_BYTES come from an index in the user
        cache, built here when it is missing or older than the files; without a writable cache
        they are built in memory.
        """
        paths = [Path(p) for p in paths]
        self = cls()
        if not paths:
            return self
        if cache and sum(p.stat().st_size for p in paths) >= INDEX_MIN_BYTES:
            self.hashes, self.index = cached_hashes(paths, normalize)
        else:
            self.hashes = hash_files(paths, normalize)
        return self

    def __len__(self) -> int:
        return len(self.hashes)

    def __contains__(self, item: bytes) -> bool:
        h = stable_hash(item)
        i = int(self.hashes.searchsorted(h))
        return i < len(self.hashes) and int(self.hashes[i]) == h


def hash_files(paths: list[Path], normalize: Callable[[bytes], bytes] | None) -> np.ndarray:
    """Hash file by file, so only one file's lines are ever held as Python objects."""
    parts = []
    for path in paths:
        lines = file_lines(path)
        if normalize is not None:
            lines = [normalize(line) for line in lines]
        parts.append(hash_array(lines))
        del lines
    return sorted_unique(np.concatenate(parts)) if parts else np.empty(0, dtype=np.int64)


def cache_root() -> Path:
    """Where blocklists and their indexes live: $XDG_CACHE_HOME/warc2gpt/blocklists."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "warc2gpt" / "blocklists"


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def _file_states(paths: Iterable[Path]) -> list[list]:
    """What tells a changed file apart without reading it: path, size, modification time."""
    states = []
    for path in paths:
        stat = path.stat()
        states.append([str(path.resolve()), stat.st_size, stat.st_mtime_ns])
    return states


_BUILDING = threading.Lock()  # threads of one process build an index once, not side by side


def cached_hashes(
    paths: list[Path], normalize: Callable[[bytes], bytes] | None
) -> tuple[np.ndarray, Path | None]:
    """The hashes of `paths` from their index, memory-mapped; (re)built when stale or missing.

    An index is named after its sources' fingerprint, in a folder named after their paths, so
    a source that changes leaves the old index stale (and removed) and a new one is built.
    """
    recipe = getattr(normalize, "__qualname__", "")
    folder = cache_root() / "index" / _digest([str(p.resolve()) for p in paths] + [recipe])
    index = folder / f"{_digest([INDEX_FORMAT, recipe, _file_states(paths)])}.npy"
    with _BUILDING:
        try:
            return np.load(index, mmap_mode="r").view(np.ndarray), index
        except (OSError, ValueError):
            pass  # missing, or cut short by a killed writer: rebuild
        hashes = hash_files(paths, normalize)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = atomic_path(index)
            try:
                with open(tmp, "wb") as fh:
                    np.save(fh, hashes, allow_pickle=False)
                tmp.replace(index)
            finally:
                tmp.unlink(missing_ok=True)
        except OSError as exc:
            warn_once(f"blocklist index not saved ({exc}): each run hashes the lists again")
            return hashes, None
        for stale in folder.glob("*.npy"):
            if stale != index:
                stale.unlink(missing_ok=True)
        return hashes, index


# --------------------------------------------------------------------------- FineWeb's list

_WARNED: set[str] = set()


def warn_once(message: str) -> None:
    """Log a warning the first time this process meets it (a chain is built per settings)."""
    if message not in _WARNED:
        _WARNED.add(message)
        log.warning(message)


@dataclass(frozen=True)
class Place:
    """One place FineWeb's list is looked for, and what was found there."""

    label: str  # how the place is named to the user
    folder: Path | None  # None: the environment variable is not set
    status: str = ""  # "ok", or why the folder was not used


def checkout_root() -> Path | None:
    """The checkout this package runs from (an editable install in `src/`), if any."""
    here = Path(__file__).resolve()
    root = here.parents[3] if len(here.parents) > 3 else None
    return root if root is not None and (root / "pyproject.toml").is_file() else None


def working_dir() -> Path | None:
    """The working directory, or None when it was deleted under this process."""
    try:
        return Path.cwd()
    except OSError:
        return None


def fineweb_places() -> list[Place]:
    """Where FineWeb's list is looked for, in order (not yet checked)."""
    env = os.environ.get(ENV_DIR, "")
    places = [
        Place(f"${ENV_DIR}", Path(env).expanduser() if env else None),
        Place("user cache", cache_root() / FINEWEB_NAME),
    ]
    roots = [working_dir(), checkout_root()]
    seen: set[Path] = set()
    for root in roots:
        if root is None:
            continue
        folder = (root.parent / SHARED_FOLDER).resolve()
        if folder not in seen:
            seen.add(folder)
            places.append(Place(f"../shared beside {root}", folder))
    return places


def find_fineweb() -> tuple[Path | None, list[Place]]:
    """The first place that holds FineWeb's list with the right checksums, and every place
    looked at (with why it was not used)."""
    checked = []
    for place in fineweb_places():
        if place.folder is None:
            checked.append(Place(place.label, None, "not set"))
            continue
        problem = check_fineweb(place.folder)
        checked.append(Place(place.label, place.folder, problem or "ok"))
        if problem is None:
            return place.folder, checked
        if place.folder.exists():
            warn_once(f"FineWeb's URL blocklist in {place.folder} not used: {problem}")
    return None, checked


def _verified_marker(folder: Path) -> Path:
    return cache_root() / "verified" / f"{_digest(str(folder.resolve()))}.json"


def check_fineweb(folder: Path) -> str | None:
    """None when `folder` holds FineWeb's files with their published sha256, else why not.

    The checksums are computed once per install: a marker in the cache remembers the size and
    modification time of files that passed, and a file that changes is checked again.
    """
    if not folder.is_dir():
        return "no such folder"
    missing = [name for name in FINEWEB_FILES if not (folder / name).is_file()]
    if missing:
        return f"missing {', '.join(missing)}"
    states = _file_states(folder / name for name in FINEWEB_FILES)
    marker = _verified_marker(folder)
    try:
        if json.loads(marker.read_text(encoding="utf-8")) == states:
            return None
    except (OSError, ValueError):
        pass
    for name, want in FINEWEB_FILES.items():
        got = file_sha256(folder / name)
        if got != want:
            return f"{name} has sha256 {got}, expected {want}"
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        tmp = atomic_path(marker)
        tmp.write_text(json.dumps(states), encoding="utf-8")
        tmp.replace(marker)
    except OSError:
        pass  # checked again next time
    return None


def file_sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def install_fineweb(source: str, dest: Path | None = None) -> Path:
    """Copy (or download, for an http(s)/fsspec URL) FineWeb's files from the folder `source`
    into the cache, each checked against its sha256; returns the installed folder.

    Nothing is installed unless every file matches: the files land in a staging folder that
    replaces the installed one only at the end.
    """
    dest = dest or cache_root() / FINEWEB_NAME
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = atomic_path(dest)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        for name, want in FINEWEB_FILES.items():
            _fetch_checked(source, name, want, staging / name)
        shutil.rmtree(dest, ignore_errors=True)
        staging.replace(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if check_fineweb(dest) is not None:  # writes the verified marker
        raise BlocklistError(f"{dest}: the installed files do not check out; install again")
    return dest


def _fetch_checked(source: str, name: str, want: str, target: Path) -> None:
    """One file of the list from a local folder or a URL, refused unless its sha256 is `want`."""
    if "://" not in source or source.startswith("file://"):
        path = Path(source.removeprefix("file://")).expanduser() / name
        if not path.is_file():
            raise BlocklistError(f"{path} not found: {source} must hold {', '.join(FINEWEB_FILES)}")
        got = file_sha256(path)
        if got != want:
            raise BlocklistError(
                f"{path}: sha256 {got} differs from FineWeb's {want}; nothing was installed"
            )
        shutil.copyfile(path, target)
        return
    from warc2gpt.ingest.download import DownloadError, RetryPolicy, download

    url = source.rstrip("/") + "/" + name
    try:
        download(url, target, digest=("sha256", want), policy=RetryPolicy(retries=2))
    except DownloadError as exc:
        raise BlocklistError(f"{exc}; nothing was installed") from None
