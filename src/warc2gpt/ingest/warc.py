"""Reading pages out of WARC and WET files, surviving truncated and corrupt records.

Yields HTML `response` records (by declared or sniffed type) and WET `conversion` records. A
malformed record or a corrupt gzip member is reported with file and offset and reading resumes
at the next gzip member; a file that is not WARC at all raises `NotWarcError`.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

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


def _next_member(fh, start: int, marker: bytes) -> int | None:
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


def _check_format(path: Path) -> bytes:
    """Raise NotWarcError unless the file starts like WARC; returns its record-boundary marker."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    compressed = head.startswith(b"\x1f\x8b")
    if compressed:
        try:
            head = zlib.decompressobj(31).decompress(head)
        except zlib.error as exc:
            raise NotWarcError(f"{path}: gzip data is corrupt at the start ({exc})") from None
    if not head.lstrip().startswith((b"WARC/", b"ARC/")):
        first = head.split(b"\n", 1)[0][:80].decode("utf-8", "replace")
        raise NotWarcError(f"{path}: not a WARC or WET file (it starts with {first!r})")
    return GZIP_MAGIC if compressed else b"WARC/1."


def iter_pages(
    path: str | Path, problems: list[ReadProblem], max_record_bytes: int = 10_000_000
) -> Iterator[Page]:
    """Yield the pages of one WARC/WET file; unreadable parts are appended to `problems`."""
    path = Path(path)
    marker = _check_format(path)
    with open(path, "rb") as fh:
        start: int | None = 0
        while start is not None:
            fh.seek(start)
            iterator = ArchiveIterator(fh, no_record_parse=False, check_digests=False)
            last_good: int | None = None
            try:
                for record in iterator:
                    # the offset is only known once the record was read (warcio reads to its end)
                    page = _page_from_record(
                        record,
                        path,
                        problems,
                        max_record_bytes,
                        lambda s=start, it=iterator: s + it.get_record_offset(),
                    )
                    last_good = start + iterator.get_record_offset()
                    if page is not None:
                        yield page
                return
            except (ArchiveLoadFailed, zlib.error, gzip.BadGzipFile, EOFError, ValueError) as exc:
                # The broken record is the first boundary after the last record read whole.
                bad = start if last_good is None else _next_member(fh, last_good + 1, marker)
                if bad is None:
                    bad = start if last_good is None else last_good
                message = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
                problems.append(ReadProblem(str(path), bad, f"malformed record: {message}"))
                start = _next_member(fh, bad + 1, marker)


def _page_from_record(
    record,
    path: Path,
    problems: list[ReadProblem],
    max_record_bytes: int,
    offset_of: Callable[[], int],
) -> Page | None:
    kind = record.rec_type
    if kind not in ("response", "conversion"):
        return None
    headers = record.rec_headers
    url = headers.get_header("WARC-Target-URI") or ""
    declared = int(headers.get_header("Content-Length") or 0)
    if declared > max_record_bytes:
        problems.append(
            ReadProblem(
                str(path), offset_of(), f"record of {declared} bytes over max_record_bytes, skipped"
            )
        )
        return None
    try:
        # content_stream undoes chunked transfer and gzip/brotli content encodings
        body = record.content_stream().read(max_record_bytes + 1)
    except Exception as exc:  # a broken encoding in one record must not stop the file
        problems.append(ReadProblem(str(path), offset_of(), f"undecodable body for {url}: {exc}"))
        return None
    missing = getattr(record.raw_stream, "limit", 0)
    if missing > 0:
        problems.append(
            ReadProblem(
                str(path),
                offset_of(),
                f"truncated record for {url}: {missing} of {declared} bytes missing",
            )
        )
        return None
    common = dict(
        url=url,
        date=headers.get_header("WARC-Date") or "",
        record_id=headers.get_header("WARC-Record-ID") or "",
        offset=offset_of(),
    )
    if kind == "conversion":
        return Page(kind="text", body=body, http_charset="utf-8", **common)
    if record.http_headers is None:
        return None
    status = record.http_headers.get_statuscode()
    if status and not status.startswith("2"):
        return None
    mime, charset = _content_type(record)
    if not is_html(mime, body):
        return None
    return Page(kind="html", body=body, http_charset=charset, **common)
