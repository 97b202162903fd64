"""Reading pages out of WARC, WET and ARC files, surviving truncated and corrupt records.

Yields HTML `response` records (by declared or sniffed type) and WET `conversion` records; every
other record is counted as skipped, by kind. A record that cannot be read (corrupt gzip member,
corrupt header, wrong Content-Length, undecodable body, unparseable URL) is reported with file
and offset, and reading resumes at the next record: the next gzip member in a file compressed
per record, the next `WARC/1.x` header line in an uncompressed one. A file compressed as one
gzip stream is read through a temporary uncompressed copy (its offsets count uncompressed
bytes). A file that is not WARC at all raises `NotWarcError`.
"""

from __future__ import annotations

import re
import tempfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import brotli
from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import ChunkedDataReader
from warcio.exceptions import ArchiveLoadFailed
from warcio.recordloader import ArcWarcRecordLoader

GZIP_MAGIC = b"\x1f\x8b\x08"
HTML_TYPES = ("text/html", "application/xhtml+xml")
# Declared types that are often wrong on the web: sniff the body for these.
SNIFF_TYPES = ("", "text/plain", "application/octet-stream", "unknown/unknown")
HTML_SNIFF = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.IGNORECASE | re.DOTALL
)


class NotWarcError(ValueError):
    """The input is not a WARC or WET file."""


@dataclass
class Page:
    """One candidate web page from a WARC/WET file."""

    url: str
    date: str
    record_id: str
    offset: int
    kind: str  # "html" (needs extraction) or "text" (WET: already plain text)
    body: bytes
    http_charset: str = ""


@dataclass
class ReadProblem:
    """A record or member that could not be read; the rest of the file goes on."""

    file: str
    offset: int
    message: str

    def __str__(self) -> str:
        return f"{self.file} @ byte {self.offset}: {self.message}"


@dataclass
class ReadCounts:
    """What one file held: every record ends as a page, a skipped record (by kind) or a problem,
    so `records == pages + sum(skipped.values()) + problems`."""

    records: int = 0
    pages: int = 0
    skipped: Counter = field(default_factory=Counter)


class _RecordLoader(ArcWarcRecordLoader):
    """warcio's loader, reading the HTTP headers of `HTTP://`/`Https://` URIs as well (schemes
    are case-insensitive) and not failing on a record with no WARC-Target-URI."""

    def load_http_headers(self, rec_type, uri, stream, length):
        return super().load_http_headers(rec_type, (uri or "").lower(), stream, length)


def _archive_iterator(fh: IO[bytes], arc: bool) -> ArchiveIterator:
    iterator = ArchiveIterator(fh, no_record_parse=False, check_digests=False, arc2warc=arc)
    iterator.loader = _RecordLoader(verify_http=False, arc2warc=arc)
    return iterator


def _content_type(record) -> tuple[str, str]:
    """(mime type, charset) from the HTTP Content-Type header."""
    value = record.http_headers.get_header("Content-Type") if record.http_headers else None
    if not value:
        return "", ""
    mime, _, rest = value.partition(";")
    match = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", rest, re.IGNORECASE)
    return mime.strip().lower(), (match.group(1) if match else "")


def is_html(mime: str, body: bytes) -> bool:
    """Declared HTML, or an undeclared/generic type whose body starts like HTML."""
    if mime.startswith(HTML_TYPES):
        return True
    return mime in SNIFF_TYPES and bool(HTML_SNIFF.match(body[:2048]))


def _next_member(fh: IO[bytes], start: int, marker: bytes) -> int | None:
    """Offset of the next record boundary (`marker`) at or after `start`, or None."""
    fh.seek(start)
    carry = b""
    pos = start
    while chunk := fh.read(1 << 20):
        data = carry + chunk
        found = data.find(marker)
        if found >= 0:
            return pos - len(carry) + found
        carry = data[-(len(marker) - 1) :]
        pos += len(chunk)
    return None


HEADER_LINE = re.compile(rb"\nWARC/1\.[01]\r?\n")


def _next_header(fh: IO[bytes], start: int) -> int | None:
    """Offset of the next `WARC/1.0` or `WARC/1.1` line beginning after `start`, or None."""
    fh.seek(max(start - 1, 0))
    base, data = fh.tell(), b""
    while chunk := fh.read(1 << 20):
        data += chunk
        if match := HEADER_LINE.search(data):
            return base + match.start() + 1
        keep = data[-11:]
        base, data = base + len(data) - len(keep), keep
    return None


def _check_format(path: Path) -> tuple[bool, bool]:
    """(gzip-compressed, ARC); raises NotWarcError unless the file starts like WARC or ARC."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if not head:
        raise NotWarcError(f"{path}: empty file, not a WARC, WET or ARC file")
    compressed = head.startswith(b"\x1f\x8b")
    if compressed:
        try:
            head = zlib.decompressobj(31).decompress(head)
        except zlib.error as exc:
            raise NotWarcError(f"{path}: gzip data is corrupt at the start ({exc})") from None
    start = head.lstrip()
    if not start.startswith((b"WARC/", b"ARC/", b"filedesc://")):
        first = head.split(b"\n", 1)[0][:80].decode("utf-8", "replace")
        raise NotWarcError(f"{path}: not a WARC, WET or ARC file (it starts with {first!r})")
    return compressed, start.startswith(b"filedesc://")


def _one_gzip_stream(path: Path) -> bool:
    """Whether a .gz holds several records in one gzip member (not one member per record)."""
    with open(path, "rb") as fh:
        try:
            records = _archive_iterator(fh, arc=False)
            next(records, None)
            next(records, None)
        except ArchiveLoadFailed as exc:
            return "non-chunked gzip" in str(exc)
        except Exception:  # a broken first member: the per-member reader reports it
            return False
    return False


def _spool_gzip(path: Path, out: IO[bytes]) -> str:
    """Decompress `path` (any number of gzip members) into `out`; returns an error or ''."""
    decompressor = zlib.decompressobj(31)
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            while chunk:
                try:
                    out.write(decompressor.decompress(chunk))
                except zlib.error as exc:
                    return f"gzip data corrupt after {out.tell()} uncompressed bytes ({exc})"
                chunk = decompressor.unused_data if decompressor.eof else b""
                if decompressor.eof:
                    decompressor = zlib.decompressobj(31)
    out.write(decompressor.flush())
    return ""


def _plain_records(
    fh: IO[bytes], report: Callable[[int, str], None], start: int = 0
) -> Iterator[int]:
    """Offsets of the records of an uncompressed WARC whose Content-Length fits, from `start`.

    A record whose length does not end at the next record (or the end of the file), or whose
    header is corrupt, is reported and reading goes on at the next `WARC/1.x` line.
    """
    pos: int | None = start
    while pos is not None:
        fh.seek(pos)
        line = fh.readline(65536)
        while line and not line.strip():
            pos += len(line)
            line = fh.readline(65536)
        if not line:
            return
        if not line.startswith((b"WARC/1.0", b"WARC/1.1")):
            report(pos, f"corrupt record header (starts with {line[:40]!r})")
            pos = _next_header(fh, pos + 1)
            continue
        length, size = None, len(line)
        while (line := fh.readline(65536)).strip():
            size += len(line)
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length" and value.strip().isdigit():
                length = int(value)
        body = pos + size + len(line)
        if length is None:
            report(pos, "record header without a valid Content-Length")
            pos = _next_header(fh, body)
            continue
        fh.seek(body + length)
        tail = fh.read(64)
        # the record's own terminator, or the next header after any line breaks
        fits = tail.startswith(b"\r\n\r\n") or tail.lstrip(b"\r\n").startswith(b"WARC/")
        fits = fits or (tail and not tail.strip())
        if not tail:  # the end of the file, or a length running past it
            fits = _next_header(fh, body) is None
        if fits:
            yield pos
            pos = body + length
            continue
        report(pos, f"Content-Length {length} does not end at a record boundary")
        pos = _next_header(fh, body)


def iter_pages(
    path: str | Path,
    problems: list[ReadProblem],
    max_record_bytes: int = 10_000_000,
    counts: ReadCounts | None = None,
    after: int = -1,
) -> Iterator[Page]:
    """Yield the pages of one WARC/WET/ARC file; unreadable parts are appended to `problems`,
    and what every record became is added to `counts`.

    `after`, the offset of a page already handled (by an earlier, interrupted run), resumes
    there: reading starts at that record, which and everything before it is neither yielded
    nor counted.
    """
    path = Path(path)
    counts = counts if counts is not None else ReadCounts()
    compressed, arc = _check_format(path)
    start = max(after, 0)

    def report(offset: int, message: str) -> None:
        counts.records += 1
        problems.append(ReadProblem(str(path), offset, message))

    def outcome(record, offset_of: Callable[[], int]) -> Page | None:
        counts.records += 1
        result = _page_from_record(record, path, problems, max_record_bytes, offset_of)
        if isinstance(result, Page):
            counts.pages += 1
            return result
        if result:
            counts.skipped[result] += 1
        return None

    if arc or (compressed and not _one_gzip_stream(path)):  # warcio reads ARC as it is
        yield from _member_pages(path, arc, report, outcome, start, skip_first=after >= 0)
        return
    with tempfile.TemporaryFile() if compressed else open(path, "rb") as fh:
        if compressed:
            error = _spool_gzip(path, fh)
        for offset in _plain_records(fh, report, start):
            if offset <= after:
                continue
            fh.seek(offset)
            try:
                record = next(iter(_archive_iterator(fh, arc=False)))
            except Exception as exc:
                report(offset, f"malformed record: {_first_line(exc)}")
                continue
            if (page := outcome(record, lambda o=offset: o)) is not None:
                yield page
        if compressed and error:
            report(fh.seek(0, 2), error)


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[0].strip()[:160] if lines else type(exc).__name__


def _member_pages(
    path: Path, arc: bool, report, outcome, first: int = 0, skip_first: bool = False
) -> Iterator[Page]:
    """The pages of a file compressed one gzip member per record, from the member at `first`
    (itself passed over with `skip_first`); a broken member is reported and reading resumes at
    the next member."""
    with open(path, "rb") as fh:
        start: int | None = first
        while start is not None:
            fh.seek(start)
            iterator = _archive_iterator(fh, arc)
            last_good: int | None = None
            try:
                for record in iterator:
                    if skip_first:
                        skip_first = False
                        continue
                    # Offsets count from the file's start; warcio knows one only once the record
                    # was read to its end, so it is asked for after the body was taken.
                    page = outcome(record, iterator.get_record_offset)
                    last_good = iterator.get_record_offset()
                    if page is not None:
                        yield page
                return
            except Exception as exc:  # one broken member must not stop the file
                # The broken record is the first boundary after the last record read whole.
                bad = start if last_good is None else _next_member(fh, last_good + 1, GZIP_MAGIC)
                if bad is None:
                    bad = start if last_good is None else last_good
                report(bad, f"malformed record: {_first_line(exc)}")
                start = _next_member(fh, bad + 1, GZIP_MAGIC)


CONTENT_DECODERS = {
    "gzip": lambda: zlib.decompressobj(47),
    "x-gzip": lambda: zlib.decompressobj(47),
    "deflate": lambda: zlib.decompressobj(15),
}


def decode_content(raw: bytes, encoding: str, limit: int) -> bytes:
    """Undo a Content-Encoding (gzip, deflate, br, or a list of them), up to `limit` bytes."""
    body = raw
    for name in reversed([e.strip().lower() for e in encoding.split(",") if e.strip()]):
        if name == "identity":
            continue
        if name == "br":
            body = brotli.Decompressor().process(body, output_buffer_limit=limit)
        elif name == "deflate":
            try:
                body = zlib.decompressobj(15).decompress(body, limit)
            except zlib.error:  # raw deflate without the zlib header, as some servers send
                body = zlib.decompressobj(-15).decompress(body, limit)
        elif name in CONTENT_DECODERS:
            body = CONTENT_DECODERS[name]().decompress(body, limit)
        else:
            raise ValueError(f"unsupported Content-Encoding {name!r}")
    return body


def _payload(record, limit: int) -> bytes:
    """The HTTP payload: chunked transfer undone, then the Content-Encoding."""
    http = record.http_headers
    stream = record.raw_stream
    if http is not None and (http.get_header("Transfer-Encoding") or "").lower() == "chunked":
        stream = ChunkedDataReader(stream)
    raw = stream.read(limit)
    encoding = (http.get_header("Content-Encoding") or "") if http is not None else ""
    if not encoding.strip():
        return raw
    try:
        return decode_content(raw, encoding, limit)
    except (zlib.error, brotli.error):
        if raw.lstrip()[:1] == b"<":  # labelled compressed but sent as it is
            return raw
        raise


def _url_problem(url: str) -> str:
    """Why `url` cannot be parsed, or '' if it can."""
    if not url:
        return "response record without WARC-Target-URI"
    try:
        urlsplit(url).hostname  # noqa: B018 - raises on bad IPv6 brackets and NFKC netlocs
    except ValueError as exc:
        return f"unparseable URL {url[:200]!r}: {exc}"
    return ""


def _lower_scheme(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return scheme.lower() + sep + rest if sep and scheme.isalpha() else url


def _page_from_record(
    record,
    path: Path,
    problems: list[ReadProblem],
    max_record_bytes: int,
    offset_of: Callable[[], int],
) -> Page | str | None:
    """The record's page, or the kind of record skipped, or None after adding a problem."""
    kind = record.rec_type or "unknown"
    if kind not in ("response", "conversion"):
        return kind
    headers = record.rec_headers
    url = headers.get_header("WARC-Target-URI") or ""

    def problem(message: str) -> None:
        problems.append(ReadProblem(str(path), offset_of(), message))

    if reason := _url_problem(url):
        return problem(reason)
    declared = int(headers.get_header("Content-Length") or 0)
    if declared > max_record_bytes:
        return problem(f"record of {declared} bytes over max_record_bytes, skipped")
    try:
        body = _payload(record, max_record_bytes + 1)
    except Exception as exc:  # a broken encoding in one record must not stop the file
        return problem(f"undecodable body for {url}: {_first_line(exc)}")
    missing = getattr(record.raw_stream, "limit", 0)
    if missing > 0:
        return problem(f"truncated record for {url}: {missing} of {declared} bytes missing")
    common = dict(
        url=_lower_scheme(url),
        date=headers.get_header("WARC-Date") or "",
        record_id=headers.get_header("WARC-Record-ID") or "",
        offset=offset_of(),
    )
    if kind == "conversion":
        return Page(kind="text", body=body, http_charset="utf-8", **common)
    if record.http_headers is None:
        return "response_without_http"
    status = record.http_headers.get_statuscode()
    if status and not status.startswith("2"):
        return f"response_status_{status[:1]}xx"
    mime, charset = _content_type(record)
    if not is_html(mime, body):
        return "response_not_html"
    return Page(kind="html", body=body, http_charset=charset, **common)
