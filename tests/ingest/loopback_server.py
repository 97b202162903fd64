"""A threaded HTTP server on 127.0.0.1 that serves real WARC files laid out like Common Crawl,
and misbehaves on request: 503s, connections cut mid-file, slow answers, no Range support.

Routes: `/crawl-data/<crawl>/warc.paths.gz` (a real listing), every path that listing names
(each mapped to one of the real WARC files, in turn), and `/files/<path>` for any file under
the data root. Used by tests/ingest and benchmarks/download_throughput.py.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

LISTING = "commoncrawl_whirlwind/CC-MAIN-2024-22.warc.paths.gz"
CRAWL = "CC-MAIN-2024-22"


@dataclass
class Faults:
    """What the next responses do wrong. Counters go down by one per affected response."""

    fail_503: int = 0  # answer 503 Service Unavailable
    retry_after: int | None = None  # Retry-After seconds sent with the 503s
    cuts: int = 0  # send `cut_after` body bytes, then drop the connection
    cut_after: int = 65536
    delays: int = 0  # wait `delay` seconds before the status line
    delay: float = 0.0
    trickle_bytes: int = 0  # > 0: send the body in pieces this big ...
    trickle_interval: float = 0.0  # ... this many seconds apart (a slow transfer)
    ranges: bool = True  # honour Range headers (False: always the whole file with 200)
    digest: bool = False  # announce Repr-Digest: sha-256
    corrupt: bool = False  # flip one byte of every body (a file that changed on the server)
    paths: str = "/"  # only requests for paths starting with this misbehave


@dataclass
class Request:
    method: str
    path: str
    range: str | None
    status: int


@dataclass
class _Plan:
    status: int = 200
    delay: float = 0.0
    cut_after: int | None = None


class LoopbackCrawlServer(ThreadingHTTPServer):
    """Serves `data_root` (shared/data/warc) on 127.0.0.1 at a free port."""

    daemon_threads = True
    block_on_close = False

    def __init__(
        self,
        data_root: Path,
        crawl: str = CRAWL,
        listing: str = LISTING,
        warc_files: list[Path] | None = None,
    ):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.data_root = Path(data_root)
        self.crawl = crawl
        self.faults = Faults()
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[bytes, str]] = {}
        self.routes: dict[str, Path] = {}
        for path in sorted(p for p in self.data_root.rglob("*") if p.is_file()):
            self.routes[f"/files/{path.relative_to(self.data_root).as_posix()}"] = path
        listing_path = self.data_root / listing
        self.routes[f"/crawl-data/{crawl}/warc.paths.gz"] = listing_path
        if warc_files is None:  # the small real WARC files, not the 29 MB benchmark file
            warc_files = sorted(
                p for p in self.data_root.rglob("*.warc.gz") if p.stat().st_size < 1_000_000
            )
        with gzip.open(listing_path, "rt", encoding="utf-8") as fh:
            self.listed = [line.strip() for line in fh if line.strip()]
        for i, rel in enumerate(self.listed):
            self.routes["/" + rel.lstrip("/")] = warc_files[i % len(warc_files)]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def file_url(self, relpath: str) -> str:
        return f"{self.url}/files/{relpath}"

    def body(self, path: Path) -> tuple[bytes, str]:
        with self._lock:
            if path not in self._cache:
                data = path.read_bytes()
                self._cache[path] = (data, hashlib.sha256(data).hexdigest())
            return self._cache[path]

    def content_of(self, url_path: str) -> bytes:
        """What a route serves (for comparing downloads with)."""
        return self.body(self.routes[urlsplit(url_path).path])[0]

    def reset(self) -> None:
        with self._lock:
            self.faults = Faults()
            self.requests.clear()

    def file_requests(self, path: str | None = None) -> list[Request]:
        """Logged GETs, optionally for one path (listing fetches included unless filtered)."""
        with self._lock:
            return [
                r for r in self.requests if r.method == "GET" and (path is None or r.path == path)
            ]

    def _plan(self, path: str) -> _Plan:
        """Decide (and count down) what goes wrong with the next response for `path`."""
        with self._lock:
            f = self.faults
            plan = _Plan()
            if not path.startswith(f.paths):
                return plan
            if f.delays > 0:
                f.delays -= 1
                plan.delay = f.delay
            if f.fail_503 > 0:
                f.fail_503 -= 1
                plan.status = 503
            elif f.cuts > 0:
                f.cuts -= 1
                plan.cut_after = f.cut_after
            return plan

    def _log(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def start(self) -> LoopbackCrawlServer:
        self._thread = threading.Thread(
            target=self.serve_forever, name="loopback-crawl", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: LoopbackCrawlServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # quiet: the request log is kept instead
        pass

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def _serve(self, send_body: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        target = self.server.routes.get(path)
        range_header = self.headers.get("Range")
        if target is None:
            self._log(path, range_header, 404)
            self.send_error(404, "no such file")
            return
        plan = self.server._plan(path)
        faults = self.server.faults
        if plan.delay:
            time.sleep(plan.delay)
        if plan.status == 503:
            self._log(path, range_header, 503)
            self.send_response(503)
            if faults.retry_after is not None:
                self.send_header("Retry-After", str(faults.retry_after))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data, sha256 = self.server.body(target)
        if faults.corrupt:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        size, start, status = len(data), 0, 200
        if range_header and faults.ranges:
            spec = range_header.removeprefix("bytes=").split("-", 1)
            start = int(spec[0])
            end = int(spec[1]) if len(spec) > 1 and spec[1] else size - 1
            if start >= size:
                self._log(path, range_header, 416)
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data, status = data[start : end + 1], 206
        self._log(path, range_header, status)
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", f'"{sha256[:16]}"')
        if faults.ranges:
            self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{start + len(data) - 1}/{size}")
        if faults.digest:
            b64 = base64.b64encode(bytes.fromhex(sha256)).decode()
            self.send_header("Repr-Digest", f"sha-256=:{b64}:")
        self.end_headers()
        if not send_body:
            return
        try:
            self._send_body(data, plan.cut_after, faults)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up: fine
            self.close_connection = True

    def _send_body(self, data: bytes, cut_after: int | None, faults: Faults) -> None:
        limit = len(data) if cut_after is None else min(cut_after, len(data))
        step = faults.trickle_bytes or 1 << 20
        for pos in range(0, limit, step):
            self.wfile.write(data[pos : min(pos + step, limit)])
            if faults.trickle_bytes:
                self.wfile.flush()
                time.sleep(faults.trickle_interval)
        self.wfile.flush()
        if cut_after is not None:
            # Drop the connection mid-body, as a reset peer or a dying proxy would.
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

    def _log(self, path: str, range_header: str | None, status: int) -> None:
        self.server._log(Request(self.command, path, range_header, status))


def serve(data_root: Path) -> LoopbackCrawlServer:
    """Start a server in a background thread; call `.stop()` when done."""
    return LoopbackCrawlServer(data_root).start()
