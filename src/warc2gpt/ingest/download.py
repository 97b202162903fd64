"""Fetch one remote or local file to disk: streamed, retried with backoff, resumed, verified.

Bytes go to `<name>.part` and are renamed to `<name>` only once the size (and digest, where one
is known) checks out, so a killed or failed download never leaves a file later stages would
read as complete; the `.part` file is kept and the next attempt or run resumes from it.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import requests
import urllib3
from tqdm import tqdm

log = logging.getLogger(__name__)

# Statuses worth another try: the server or a proxy is overloaded or restarting.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
# Errors from the network, never from writing to local disk (those propagate at once).
NETWORK_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    ConnectionError,
    TimeoutError,
)
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
# RFC 9530 `Repr-Digest: sha-256=:<base64>:` and the older RFC 3230 `Digest: SHA-256=<base64>`.
_HEADER_ALGOS = {"sha-256": "sha256", "sha-512": "sha512", "md5": "md5", "sha": "sha1"}


class DownloadError(RuntimeError):
    """A file that could not be fetched or did not verify."""


class _Retryable(Exception):
    """One attempt failed in a way another attempt may fix."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts = 1 + retries, waits backoff * 2**k capped at backoff_max."""

    retries: int = 5
    backoff: float = 1.0
    backoff_max: float = 60.0
    timeout: float = 60.0
    chunk_bytes: int = 1 << 20

    def wait(self, retry: int, retry_after: float | None = None) -> float:
        delay = min(self.backoff * (2**retry), self.backoff_max)
        if retry_after is not None:  # the server said when; never wait past our own cap
            delay = min(max(delay, retry_after), self.backoff_max)
        return delay


@dataclass
class DownloadResult:
    """What one call did: `status` is downloaded, skipped (already complete) or copied."""

    path: Path
    url: str
    size: int
    status: str
    attempts: int = 0
    resumed_from: int = 0  # bytes already on disk when this call started
    fetched_bytes: int = 0  # bytes received over the network in this call
    seconds: float = 0.0
    sha256: str | None = None


def part_path(dest: Path) -> Path:
    """Where an unfinished download of `dest` lives."""
    return dest.with_name(dest.name + ".part")


def is_http(url: str) -> bool:
    return url.startswith(("http://", "https://"))


def is_local(url: str) -> bool:
    return "://" not in url or url.startswith("file://")


def parse_digest(text: str) -> tuple[str, str]:
    """`sha256=<hex>` (also md5/sha1/sha512) -> (hashlib name, lowercase hex)."""
    algo, sep, value = text.partition("=")
    algo = algo.strip().lower().replace("-", "")
    value = value.strip().lower()
    if not sep or algo not in {"md5", "sha1", "sha256", "sha512"}:
        raise ValueError(f"digest {text!r}: expected sha256=<hex> (or md5, sha1, sha512)")
    if not re.fullmatch(r"[0-9a-f]+", value) or len(value) != hashlib.new(algo).digest_size * 2:
        raise ValueError(
            f"digest {text!r}: {algo} needs {hashlib.new(algo).digest_size * 2} hex digits"
        )
    return algo, value


def header_digest(headers: requests.structures.CaseInsensitiveDict) -> tuple[str, str] | None:
    """A digest of the whole file announced by the server, if any."""
    for name in ("Repr-Digest", "Digest"):
        for item in headers.get(name, "").split(","):
            algo, sep, value = item.strip().partition("=")
            algo = _HEADER_ALGOS.get(algo.strip().lower())
            if not sep or algo is None:
                continue
            try:
                raw = base64.b64decode(value.strip().strip(":"), validate=True)
            except ValueError:
                continue
            return algo, raw.hex()
    return None


def file_digest(path: Path, algo: str = "sha256") -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, algo).hexdigest()


def download(
    url: str,
    dest: str | Path,
    *,
    size: int | None = None,
    digest: tuple[str, str] | None = None,
    policy: RetryPolicy = RetryPolicy(),
    progress: bool | None = None,
    position: int = 0,
    sleep: Callable[[float], None] = time.sleep,
) -> DownloadResult:
    """Fetch `url` (http(s) or any fsspec URL/local path) to `dest`, atomically.

    `size` and `digest` ((algo, hex) as from `parse_digest`) are checked when given; a server's
    Content-Length and Repr-Digest are checked too. An existing `dest` is taken as complete (it
    only ever appears through the final rename) once it matches the known size and digest.
    `progress=None` shows a bar only on a terminal.
    """
    dest = Path(dest)
    start = time.monotonic()
    if dest.exists():
        existing = dest.stat().st_size
        if (size is None or existing == size) and (
            digest is None or file_digest(dest, digest[0]) == digest[1]
        ):
            return DownloadResult(dest, url, existing, "skipped", seconds=time.monotonic() - start)
        log.warning("%s does not match %s (size/digest): fetching it again", dest, url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    resumed_from = part.stat().st_size if part.exists() else 0
    fetch = _http_attempt if is_http(url) else _fsspec_attempt
    state = _Transfer(url, part, size, digest, policy)
    attempts = 0
    with tqdm(
        total=size,
        initial=resumed_from,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=dest.name,
        disable=None if progress is None else not progress,
        position=position,
        leave=False,
    ) as bar:
        state.bar = bar
        while True:
            attempts += 1
            try:
                fetch(state)
                state.verify()
                break
            except _Retryable as exc:
                if attempts > policy.retries:
                    have = part.stat().st_size if part.exists() else 0
                    raise DownloadError(
                        f"{url}: gave up after {attempts} attempts; last error: {exc}. "
                        f"{have} bytes are kept in {part} and the next run resumes from there; "
                        f"raise ingest.retries / ingest.timeout if the server is slow"
                    ) from None
                delay = policy.wait(attempts - 1, exc.retry_after)
                log.warning(
                    "%s: attempt %d failed (%s); retrying in %.1fs", url, attempts, exc, delay
                )
                sleep(delay)
    os.replace(part, dest)
    status = "copied" if is_local(url) else "downloaded"
    return DownloadResult(
        dest,
        url,
        dest.stat().st_size,
        status,
        attempts=attempts,
        resumed_from=resumed_from,
        fetched_bytes=state.fetched,
        seconds=time.monotonic() - start,
        sha256=state.sha256_hex(),
    )


class _Transfer:
    """The state one file's attempts share: the part file, the running hashes, what is known."""

    def __init__(
        self,
        url: str,
        part: Path,
        size: int | None,
        digest: tuple[str, str] | None,
        policy: RetryPolicy,
    ):
        self.url, self.part, self.size, self.digest, self.policy = url, part, size, digest, policy
        self.fetched = 0
        # ETag / Last-Modified sent back as If-Range, so a resume never splices two versions.
        self.validator: str | None = None
        self.resumed = False
        self.bar: tqdm | None = None
        self._hashes: dict[str, hashlib._Hash] | None = None

    # ----------------------------------------------------------------- the part file
    def offset(self) -> int:
        return self.part.stat().st_size if self.part.exists() else 0

    def restart(self) -> None:
        """Forget the partial bytes (the server cannot resume, or they proved wrong)."""
        self.part.unlink(missing_ok=True)
        self._hashes = None
        self.resumed = False
        if self.bar is not None:
            self.bar.reset(total=self.size)

    def _algos(self) -> set[str]:
        return {"sha256"} | ({self.digest[0]} if self.digest else set())

    def _open_hashes(self) -> dict[str, hashlib._Hash]:
        """Hashes over the bytes already on disk, so a resumed file is still checked whole."""
        if self._hashes is None:
            self._hashes = {algo: hashlib.new(algo) for algo in self._algos()}
            if self.part.exists():
                with open(self.part, "rb") as fh:
                    while block := fh.read(1 << 20):
                        for h in self._hashes.values():
                            h.update(block)
        return self._hashes

    def expect(self, total: int | None, digest: tuple[str, str] | None = None) -> None:
        """Record what the server announced; it must agree with what the source said."""
        if total is not None:
            if self.size is not None and total != self.size:
                raise DownloadError(
                    f"{self.url}: the server reports {total} bytes but the source expects "
                    f"{self.size}; check the source entry or the server"
                )
            self.size = total
            if self.bar is not None and self.bar.total != total:
                self.bar.total = total
                self.bar.refresh()
        if digest is not None and self.digest is None:
            self.digest = digest

    def write(self, chunks: Iterator[bytes]) -> None:
        """Append the stream to the part file, hashing as it goes; network errors -> retry."""
        hashes = self._open_hashes()
        with open(self.part, "ab") as fh:
            try:
                for chunk in chunks:
                    fh.write(chunk)
                    for h in hashes.values():
                        h.update(chunk)
                    self.fetched += len(chunk)
                    if self.bar is not None:
                        self.bar.update(len(chunk))
            except NETWORK_ERRORS as exc:
                raise _Retryable(
                    f"connection lost after {self.offset_of(fh)} bytes ({_brief(exc)})"
                ) from None
            finally:
                fh.flush()
                os.fsync(fh.fileno())
        have = self.offset()
        if self.size is not None and have < self.size:
            raise _Retryable(f"connection closed after {have} of {self.size} bytes")

    @staticmethod
    def offset_of(fh) -> int:
        fh.flush()
        return os.fstat(fh.fileno()).st_size

    def sha256_hex(self) -> str | None:
        return self._open_hashes()["sha256"].hexdigest()

    def verify(self) -> None:
        have = self.offset()
        if self.size is not None and have != self.size:
            self.restart()
            raise DownloadError(f"{self.url}: received {have} bytes, expected {self.size}")
        if self.digest is not None:
            algo, want = self.digest
            hashes = self._open_hashes()
            # A digest first announced after hashing began is computed from the file instead.
            got = hashes[algo].hexdigest() if algo in hashes else file_digest(self.part, algo)
            if got != want:
                resumed = self.resumed
                self.restart()
                if resumed:  # the earlier bytes may come from another version of the file
                    raise _Retryable(f"{algo} mismatch after a resume; fetching it whole")
                raise DownloadError(
                    f"{self.url}: {algo} is {got}, expected {want}; the file changed on the "
                    f"server or the digest in the source is wrong"
                )


def _brief(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 200 else text[:200] + "..."


def _http_attempt(state: _Transfer) -> None:
    offset = state.offset()
    if state.size is not None and offset >= state.size:
        if offset == state.size:
            return
        state.restart()
        offset = 0
    # identity: a .gz served with Content-Encoding gzip must land as the bytes it is.
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if state.validator:
            headers["If-Range"] = state.validator
    timeout = state.policy.timeout
    try:
        resp = requests.get(state.url, headers=headers, stream=True, timeout=(timeout, timeout))
    except NETWORK_ERRORS as exc:
        raise _Retryable(_brief(exc)) from None
    with resp:
        status = resp.status_code
        if status in RETRY_STATUSES:
            raise _Retryable(f"HTTP {status} {resp.reason}", _retry_after(resp))
        if status == 416 and offset:
            # Nothing left past our offset: complete if the size says so, else start over.
            total = _content_range_total(resp.headers.get("Content-Range", ""))
            state.expect(total)
            if total is not None and offset == total:
                return
            state.restart()
            raise _Retryable("the server refused to resume (HTTP 416); starting over")
        if status not in (200, 206):
            raise DownloadError(
                f"{state.url}: HTTP {status} {resp.reason}; check the URL (and ingest.base_url "
                f"for crawl ids)"
            )
        state.validator = resp.headers.get("ETag") or resp.headers.get("Last-Modified")
        length = resp.headers.get("Content-Length")
        if status == 206:
            match = _CONTENT_RANGE.fullmatch(resp.headers.get("Content-Range", "").strip())
            if not match or int(match.group(1)) != offset:
                state.restart()
                raise _Retryable("the server answered a different range; starting over")
            total = None if match.group(3) == "*" else int(match.group(3))
            state.resumed = True
        else:
            if offset:  # the server ignores Range (or the file changed): take it whole again
                log.info("%s: no resume support, fetching from byte 0", state.url)
                state.restart()
            total = int(length) if length is not None else None
        state.expect(total, header_digest(resp.headers))
        # read1: whatever has arrived, up to a chunk, so a slow link still lands bytes on disk.
        chunk = state.policy.chunk_bytes
        state.write(iter(lambda: resp.raw.read1(chunk, decode_content=False), b""))


def _retry_after(resp: requests.Response) -> float | None:
    value = resp.headers.get("Retry-After", "")
    try:
        return float(value)
    except ValueError:
        return None


def _content_range_total(value: str) -> int | None:
    match = re.fullmatch(r"bytes \*/(\d+)", value.strip())
    return int(match.group(1)) if match else None


def _fsspec_attempt(state: _Transfer) -> None:
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(state.url)
    except ImportError as exc:
        raise DownloadError(f"{state.url}: {exc}") from None
    try:
        state.expect(fs.size(path))
        offset = state.offset()
        if state.size is not None and offset > state.size:
            state.restart()
            offset = 0
        with fs.open(path, "rb", block_size=state.policy.chunk_bytes) as src:
            if offset:
                src.seek(offset)
                state.resumed = True
            state.write(iter(lambda: src.read(state.policy.chunk_bytes), b""))
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        raise DownloadError(f"{state.url}: {_brief(exc)}; check the source entry") from None
    except NETWORK_ERRORS as exc:
        raise _Retryable(_brief(exc)) from None
