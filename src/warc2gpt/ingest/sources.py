"""`ingest.sources` entries -> the concrete files to fetch: local paths and globs, fsspec URLs
(http(s), s3, ...) and Common Crawl crawl ids read through the crawl's `warc.paths.gz` listing.
"""

from __future__ import annotations

import glob
import gzip
import os
import random
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from warc2gpt.config import ConfigError, IngestSettings
from warc2gpt.ingest.download import DownloadError, RetryPolicy, download, is_http, parse_digest

CRAWL_ID = re.compile(r"(CC-MAIN-\d{4}-\d{2})(?::(\d+))?")
# A directory source contributes the files with these endings (not WAT metadata, not indexes).
WARC_SUFFIXES = (".warc", ".warc.gz", ".wet", ".wet.gz", ".arc", ".arc.gz")
_DIGEST_FRAGMENT = re.compile(r"#((?:md5|sha1|sha256|sha512)=[0-9A-Fa-f]+)$")
_GLOB_MAGIC = re.compile(r"[*?\[]")


class SourceError(ConfigError):
    """An `ingest.sources` entry that resolves to nothing usable."""


@dataclass(frozen=True)
class Source:
    """One file to fetch: where from, the name it gets in the output directory, what to expect."""

    url: str  # a local path or any URL `download` understands
    name: str
    origin: str  # the ingest.sources entry it came from
    size: int | None = None
    digest: tuple[str, str] | None = None  # (hashlib name, hex)


def retry_policy(settings: IngestSettings) -> RetryPolicy:
    return RetryPolicy(
        retries=settings.retries,
        backoff=settings.backoff,
        backoff_max=settings.backoff_max,
        timeout=settings.timeout,
        chunk_bytes=settings.chunk_bytes,
    )


def resolve_sources(settings: IngestSettings) -> list[Source]:
    """Every entry of `settings.sources`, expanded, in order; duplicates (same URL) once."""
    resolved: dict[str, Source] = {}
    for index, entry in enumerate(settings.sources):
        where = f"ingest.sources[{index}] ({entry!r})"
        for source in resolve_entry(entry, settings, where):
            earlier = resolved.get(source.name)
            if earlier is not None and earlier.url != source.url:
                raise SourceError(
                    f"{where}: {source.url} and {earlier.url} (from {earlier.origin!r}) would "
                    f"both be saved as {source.name}; list only one of them"
                )
            resolved.setdefault(source.name, source)
    return list(resolved.values())


def resolve_entry(entry: str, settings: IngestSettings, where: str = "") -> list[Source]:
    """One sources entry -> its files."""
    where = where or repr(entry)
    entry = entry.strip()
    if match := CRAWL_ID.fullmatch(entry):
        crawl, count = match.group(1), match.group(2)
        segments = int(count) if count else settings.segments
        if segments < 1:
            raise SourceError(f"{where}: the segment count must be at least 1")
        try:
            return crawl_sources(crawl, segments, settings, origin=entry)
        except DownloadError as exc:
            raise SourceError(
                f"{where}: cannot read the crawl's WARC listing: {exc}. Check the crawl id "
                f"and ingest.base_url ({settings.base_url})"
            ) from None
    digest = None
    if frag := _DIGEST_FRAGMENT.search(entry):
        try:
            digest = parse_digest(frag.group(1))
        except ValueError as exc:
            raise SourceError(f"{where}: {exc}") from None
        entry = entry[: frag.start()]
    if is_http(entry):
        return [Source(entry, _url_name(entry, where), entry, digest=digest)]
    if "://" in entry and not entry.startswith("file://"):
        return _fsspec_sources(entry, where, digest)
    return _local_sources(entry.removeprefix("file://"), where, digest)


def _url_name(url: str, where: str) -> str:
    name = unquote(PurePosixPath(urlsplit(url).path).name)
    if not name:
        raise SourceError(f"{where}: the URL names no file; give the full path to a WARC file")
    return name


def _check_single(paths: list[str], digest: tuple[str, str] | None, where: str) -> None:
    if digest is not None and len(paths) != 1:
        raise SourceError(f"{where}: a #digest applies to one file, but it matches {len(paths)}")


def _local_sources(entry: str, where: str, digest: tuple[str, str] | None) -> list[Source]:
    pattern = os.path.expanduser(entry)
    if _GLOB_MAGIC.search(pattern):
        paths = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
    elif os.path.isdir(pattern):
        paths = sorted(
            str(p)
            for p in Path(pattern).iterdir()
            if p.is_file() and p.name.endswith(WARC_SUFFIXES)
        )
    elif os.path.isfile(pattern):
        paths = [pattern]
    else:
        raise SourceError(f"{where}: no such file or directory ({os.path.abspath(pattern)})")
    if not paths:
        raise SourceError(f"{where}: matches no WARC file; check the path or glob")
    _check_single(paths, digest, where)
    return [
        Source(
            os.path.abspath(p), os.path.basename(p), entry, size=os.path.getsize(p), digest=digest
        )
        for p in paths
    ]


def _filesystem(url: str, where: str):
    import fsspec

    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        protocol = url.split("://", 1)[0]
        hint = " (pip install s3fs)" if protocol in ("s3", "s3a") else ""
        raise SourceError(f"{where}: cannot open {protocol}:// URLs: {exc}{hint}") from None


def _fsspec_sources(url: str, where: str, digest: tuple[str, str] | None) -> list[Source]:
    fs, path = _filesystem(url, where)
    protocol = url.split("://", 1)[0]
    try:
        if _GLOB_MAGIC.search(path):
            infos = [fs.info(p) for p in sorted(fs.glob(path))]
        else:
            infos = [fs.info(path)]
    except FileNotFoundError:
        raise SourceError(f"{where}: not found; check the URL and its credentials") from None
    except OSError as exc:
        raise SourceError(f"{where}: cannot list it: {exc}") from None
    files = [info for info in infos if info.get("type") != "directory"]
    if not files:
        raise SourceError(f"{where}: matches no file")
    _check_single(files, digest, where)
    return [
        Source(
            fs.unstrip_protocol(info["name"]) if protocol != "file" else info["name"],
            PurePosixPath(info["name"]).name,
            url,
            size=info.get("size"),
            digest=digest,
        )
        for info in files
    ]


def crawl_listing_url(crawl: str, base_url: str) -> str:
    """Where a crawl's WARC path listing lives (Common Crawl's layout)."""
    return f"{base_url.rstrip('/')}/crawl-data/{crawl}/warc.paths.gz"


def read_crawl_listing(crawl: str, settings: IngestSettings) -> list[str]:
    """The crawl's WARC paths, relative to `base_url`, fetched with the usual retries."""
    url = crawl_listing_url(crawl, settings.base_url)
    with tempfile.TemporaryDirectory(prefix="warc2gpt-listing-") as tmp:
        path = Path(tmp) / "warc.paths.gz"
        download(url, path, policy=retry_policy(settings), progress=False)
        try:
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                paths = [line.strip() for line in fh if line.strip()]
        except (OSError, UnicodeDecodeError) as exc:
            raise SourceError(f"{url}: not a gzip text listing of WARC paths ({exc})") from None
    if not paths:
        raise SourceError(f"{url}: the listing is empty")
    return paths


def select_paths(paths: list[str], count: int, sample: bool, seed: int, crawl: str) -> list[str]:
    """The first `count` paths, or `count` of them drawn by `seed` (kept in listing order)."""
    if not sample or count >= len(paths):
        return paths[:count]
    # A string seed hashes the same in every process and Python version (unlike hash()).
    rng = random.Random(f"{crawl}:{seed}")
    return [paths[i] for i in sorted(rng.sample(range(len(paths)), count))]


def crawl_sources(
    crawl: str, segments: int, settings: IngestSettings, origin: str = ""
) -> list[Source]:
    paths = read_crawl_listing(crawl, settings)
    chosen = select_paths(paths, segments, settings.sample, settings.seed, crawl)
    base = settings.base_url.rstrip("/")
    sources = []
    for rel in chosen:
        url = rel if "://" in rel else f"{base}/{rel.lstrip('/')}"
        sources.append(Source(url, PurePosixPath(rel).name, origin or crawl))
    return sources
