"""Curate, dedup and tokenize on one Common-Crawl-sized WARC file: time and peak memory at 1k,
10k and 45k response records, so growth with the file's size shows.

The inputs are made here, once, from the 1,033 real pages of
../shared/data/warc/pages/trafilatura-pages.warc.gz: record i is page i mod 1,033; its copy
number is i // 1,033. Copy 0 keeps the page's URL; later copies carry their own (`?copy=k`),
and every record its own id; every copy, the first included, has a common English word inserted
every 8th word of each longer text node (other words for each copy), so copies are new
documents to MinHash (Jaccard ~0.3 to each other), not duplicates, and every size holds pages
of the same kind. 45,000 records make a ~1.4 GB .warc.gz, the size of one Common Crawl WARC
file.

Each stage runs in its own process with the default settings (curate: 1 worker, the one file;
dedup and tokenize: their default workers); the tokenizer is trained once, on the smallest
size's output. Peak RSS is the largest of the stage's process and its worker processes.

    python benchmarks/crawl_scale.py [--sizes 1000 10000 45000] [--work .bench_data/crawl_scale]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("WARC2GPT_SHARED_DATA", ROOT.parent / "shared" / "data"))
PAGES = SHARED_DATA / "warc" / "pages" / "trafilatura-pages.warc.gz"
STAGES = ("curate", "dedup", "tokenize")
WORDS = (
    b"time year people way day man thing woman life child world school state family student "
    b"group country problem hand part place case week company system program question work "
    b"government number night point home water room mother area money story fact month lot "
    b"right study book eye job word business issue side kind head house service friend father "
    b"power hour game line end member law car city community name president team minute idea"
).split()
TEXT_NODE = re.compile(rb">([^<]{40,})<")
DROPPED_HTTP = ("content-encoding", "transfer-encoding", "content-length")


def source_pages() -> list[tuple[str, str, list[tuple[str, str]], str, bytes]]:
    """(url, date, HTTP headers, status line, decoded body) of every HTML response."""
    from warcio.archiveiterator import ArchiveIterator

    pages = []
    with open(PAGES, "rb") as fh:
        for record in ArchiveIterator(fh):
            if record.rec_type != "response" or record.http_headers is None:
                continue
            headers = [
                (k, v) for k, v in record.http_headers.headers if k.lower() not in DROPPED_HTTP
            ]
            pages.append(
                (
                    record.rec_headers.get_header("WARC-Target-URI"),
                    record.rec_headers.get_header("WARC-Date"),
                    headers,
                    record.http_headers.statusline,
                    record.content_stream().read(),
                )
            )
    return pages


def varied(body: bytes, copy: int) -> bytes:
    """The page with a copy-specific word inserted every 8th word of its longer text nodes."""

    def node(match: re.Match) -> bytes:
        words = match.group(1).split(b" ")
        for j in range(len(words) - 1, 0, -8):
            words.insert(j, WORDS[(copy * 31 + j + 7) % len(WORDS)])
        return b">" + b" ".join(words) + b"<"

    return TEXT_NODE.sub(node, body)


def make_warc(path: Path, records: int) -> None:
    """A gzip-per-record WARC file of `records` responses (see the module's docstring)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    pages = source_pages()
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        for i in range(records):
            url, date, headers, status, body = pages[i % len(pages)]
            copy = i // len(pages)
            if copy:
                url = f"{url}{'&' if '?' in url else '?'}copy={copy}"
            http = StatusAndHeaders(status, list(headers), protocol="HTTP/1.1")
            record = writer.create_warc_record(
                url,
                "response",
                payload=io.BytesIO(varied(body, copy)),
                http_headers=http,
                warc_headers_dict={
                    "WARC-Date": date,
                    "WARC-Record-ID": f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{i}:{url}')}>",
                },
            )
            writer.write_record(record)
    tmp.replace(path)


def overrides(work: Path, warc: Path, tokenizer: Path) -> list[str]:
    def q(value) -> str:
        return json.dumps(value if isinstance(value, list) else str(value))

    return [
        f"curate.input={q([str(warc)])}",
        f"curate.output={q(work / 'curated')}",
        f"curate.metrics={q(work / 'metrics' / 'curate.json')}",
        "curate.workers=1",
        f"dedup.input={q([str(work / 'curated' / '*.parquet')])}",
        f"dedup.output={q(work / 'dedup')}",
        f"dedup.work_dir={q(work / 'dedup_work')}",
        f"dedup.metrics={q(work / 'metrics' / 'dedup.json')}",
        f"tokenizer.input={q([str(work / 'dedup' / '*.parquet')])}",
        f"tokenizer.output={q(tokenizer)}",
        f"tokenizer.metrics={q(work / 'metrics' / 'tokenizer.json')}",
        f"tokenize.output={q(work / 'tokens')}",
        f"tokenize.metrics={q(work / 'metrics' / 'tokenize.json')}",
        "tracking.enabled=false",
    ]


def child(stage: str, settings: list[str]) -> None:
    """Run one stage in this process and print its figures as one JSON line."""
    from warc2gpt.config import load_params
    from warc2gpt.stages import run_local

    params = load_params(ROOT / "params.yaml", settings)
    started = time.perf_counter()
    metrics = run_local(stage, params)
    seconds = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    docs = {
        "curate": metrics.get("pages"),
        "dedup": metrics.get("docs_in"),
        "tokenize": sum(metrics[split]["documents"] for split in ("train", "val"))
        if stage == "tokenize"
        else None,
        "tokenizer": None,
    }[stage]
    out = {
        "curate": metrics.get("kept"),
        "dedup": metrics.get("docs_out"),
        "tokenize": metrics.get("train_tokens"),
        "tokenizer": None,
    }[stage]
    print(
        json.dumps(
            {
                "seconds": seconds,
                "rss_mib": max(own, workers) / 1024,
                "own_mib": own / 1024,
                "workers_mib": workers / 1024,
                "docs": docs,
                "out": out,
            }
        )
    )


def run_child(stage: str, settings: list[str], log: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", stage, "--settings", json.dumps(settings)]
    with open(log, "a") as err:
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
    if done.returncode:
        raise SystemExit(f"{stage} failed (exit {done.returncode}); see {log}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 45000])
    parser.add_argument("--work", type=Path, default=ROOT / ".bench_data" / "crawl_scale")
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, json.loads(args.settings))
        return
    if not PAGES.exists():
        raise SystemExit(f"{PAGES} not found (set WARC2GPT_SHARED_DATA)")
    args.work.mkdir(parents=True, exist_ok=True)
    log = args.work / "stages.log"
    tokenizer = args.work / "tokenizer"
    rows = []
    for size in sorted(args.sizes):
        warc = args.work / f"crawl-{size}.warc.gz"
        if not warc.exists():
            started = time.perf_counter()
            make_warc(warc, size)
            print(
                f"made {warc.name}: {warc.stat().st_size / 1e6:.0f} MB in "
                f"{time.perf_counter() - started:.0f} s",
                flush=True,
            )
        work = args.work / str(size)
        subprocess.run(["rm", "-rf", str(work)], check=True)
        settings = overrides(work, warc, tokenizer)
        for stage in args.stages:
            if stage == "tokenize" and not (tokenizer / "tokenizer.json").exists():
                run_child("tokenizer", settings, log)
            result = run_child(stage, settings, log)
            result |= {"size": size, "stage": stage, "mb": warc.stat().st_size / 1e6}
            rows.append(result)
            print(
                f"{size:>7} {stage:<9} {result['seconds']:8.1f} s  "
                f"{result['rss_mib']:7.0f} MiB peak RSS",
                flush=True,
            )
    print_table(rows)


def print_table(rows: list[dict]) -> None:
    print()
    print(
        f"{'records':>8} {'WARC MB':>8} {'stage':<9} {'docs in':>8} {'out':>10} {'wall s':>8} "
        f"{'docs/s':>8} {'peak RSS MiB':>13} {'(stage':>7} {'workers)':>9}"
    )
    for r in rows:
        rate = (r["docs"] or 0) / r["seconds"] if r["seconds"] else 0
        print(
            f"{r['size']:>8} {r['mb']:>8.0f} {r['stage']:<9} {r['docs'] or 0:>8} "
            f"{r['out'] or 0:>10} {r['seconds']:>8.1f} {rate:>8.1f} {r['rss_mib']:>13.0f} "
            f"{r['own_mib']:>7.0f} {r['workers_mib']:>9.0f}"
        )
    sizes = sorted({r["size"] for r in rows})
    if len(sizes) > 1:
        for stage in STAGES:
            peak = {r["size"]: r["rss_mib"] for r in rows if r["stage"] == stage}
            if sizes[0] in peak and sizes[-1] in peak:
                print(
                    f"{stage}: peak RSS at {sizes[-1]:,} records is "
                    f"{peak[sizes[-1]] / peak[sizes[0]]:.2f}x that at {sizes[0]:,}"
                )


if __name__ == "__main__":
    main()
