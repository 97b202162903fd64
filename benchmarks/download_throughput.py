"""Download throughput from a loopback HTTP server, and what resuming a partial file costs.

Serves ../shared/data/warc/pages/trafilatura-pages.warc.gz (29.5 MB, real pages) on 127.0.0.1
with the tests' server and fetches it through `warc2gpt.ingest.download`. Loopback removes the
network, so the figures are the client's own ceiling: HTTP parsing, disk writes and SHA-256.

    python benchmarks/download_throughput.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("WARC2GPT_SHARED_DATA", ROOT.parent / "shared" / "data"))
sys.path.insert(0, str(ROOT / "tests" / "ingest"))  # the loopback server lives with the tests

from loopback_server import LoopbackCrawlServer  # noqa: E402

from warc2gpt.config import IngestSettings  # noqa: E402
from warc2gpt.ingest.download import RetryPolicy, download, part_path  # noqa: E402
from warc2gpt.ingest.sources import resolve_sources  # noqa: E402
from warc2gpt.ingest.stage import fetch_all  # noqa: E402

BIG = "pages/trafilatura-pages.warc.gz"


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per row (median shown)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the planned cuts log retry warnings
    warc_root = SHARED_DATA / "warc"
    if not (warc_root / BIG).is_file():
        raise SystemExit(f"{warc_root / BIG} not found: set WARC2GPT_SHARED_DATA")
    size = (warc_root / BIG).stat().st_size
    server = LoopbackCrawlServer(warc_root, warc_files=[warc_root / BIG]).start()
    url = server.file_url(BIG)
    rows: list[tuple[str, float, float, str]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="warc2gpt-bench-") as tmp:
            tmp = Path(tmp)
            dest = tmp / "a.warc.gz"

            def fresh(chunk: int) -> float:
                dest.unlink(missing_ok=True)
                policy = RetryPolicy(timeout=30, chunk_bytes=chunk)
                return _timed(lambda: download(url, dest, policy=policy, progress=False))

            for chunk in (64 << 10, 1 << 20):
                secs = statistics.median(fresh(chunk) for _ in range(args.repeats))
                rows.append((f"one file, {chunk >> 10} KiB reads", size / 1e6, secs, ""))
            clean = rows[-1][2]

            # A connection cut at half the file: the second attempt asks for the rest (Range).
            def cut_and_resume() -> float:
                dest.unlink(missing_ok=True)
                server.reset()
                server.faults.cuts, server.faults.cut_after = 1, size // 2
                policy = RetryPolicy(timeout=30, backoff=0, chunk_bytes=1 << 20)
                return _timed(lambda: download(url, dest, policy=policy, progress=False))

            secs = statistics.median(cut_and_resume() for _ in range(args.repeats))
            rows.append(
                (
                    "cut at 50% + Range resume",
                    size / 1e6,
                    secs,
                    f"+{(secs - clean) * 1e3:.0f} ms vs clean",
                )
            )

            # A .part left by a killed run: the resume re-hashes it, then fetches the rest.
            def resume_from_part() -> float:
                dest.unlink(missing_ok=True)
                server.reset()
                with open(warc_root / BIG, "rb") as src, open(part_path(dest), "wb") as out:
                    out.write(src.read(size // 2))
                policy = RetryPolicy(timeout=30, chunk_bytes=1 << 20)
                return _timed(lambda: download(url, dest, policy=policy, progress=False))

            secs = statistics.median(resume_from_part() for _ in range(args.repeats))
            half = (size - size // 2) / 1e6
            rows.append(
                (
                    "resume a 50% .part (fetch rest)",
                    half,
                    secs,
                    f"+{(secs - clean / 2) * 1e3:.0f} ms vs half a clean run (re-hash + request)",
                )
            )

            # Four crawl segments at once through the stage's thread pool.
            server.reset()
            settings = IngestSettings(
                sources=["CC-MAIN-2024-22"],
                segments=4,
                workers=4,
                base_url=server.url,
                output=str(tmp / "raw"),
            )
            plan = resolve_sources(settings)

            def parallel() -> float:
                shutil.rmtree(tmp / "raw", ignore_errors=True)
                return _timed(lambda: fetch_all(plan, settings, progress=False))

            for workers in (1, 4):
                settings = dataclasses.replace(settings, workers=workers)
                secs = statistics.median(parallel() for _ in range(args.repeats))
                rows.append((f"4 segments, {workers} worker(s)", 4 * size / 1e6, secs, ""))
    finally:
        server.stop()

    print(f"download throughput, loopback, {os.cpu_count()} CPUs, median of {args.repeats}")
    print(f"{'case':34} {'MB':>7} {'seconds':>8} {'MB/s':>8}  note")
    for name, mb, secs, note in rows:
        print(f"{name:34} {mb:7.1f} {secs:8.3f} {mb / secs:8.1f}  {note}")


if __name__ == "__main__":
    main()
