"""`warc2gpt ingest`: fetch WARC files from paths, URLs or a crawl id into the raw data folder."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from warc2gpt.cli import params_from_args


def register(sub: argparse._SubParsersAction) -> None:
    from warc2gpt.cli import add_params_options

    parser = sub.add_parser(
        "ingest",
        help="fetch WARC files (paths, URLs or a Common Crawl crawl id)",
        description="Resolve sources (local paths/globs, http(s)/s3 URLs, crawl ids such as "
        "CC-MAIN-2024-22[:N]) and fetch them into the output folder with retries, "
        "resume and verification. No sources: the built-in sample crawl.",
    )
    add_params_options(parser)
    parser.add_argument(
        "--source",
        action="append",
        metavar="SOURCE",
        help="path, glob, URL or crawl id (repeatable; default: ingest.sources)",
    )
    parser.add_argument("--output", help="output folder (default: ingest.output)")
    parser.add_argument("--segments", type=int, help="WARC files per crawl id (ingest.segments)")
    parser.add_argument(
        "--sample",
        action="store_true",
        default=None,
        help="a seeded sample of the crawl listing instead of its first files",
    )
    parser.add_argument("--base-url", help="crawl data base URL (ingest.base_url)")
    parser.add_argument("--workers", type=int, help="files fetched at once (ingest.workers)")
    parser.add_argument(
        "--metrics", default="metrics/ingest.json", help="metrics file (default: %(default)s)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--no-tracking", action="store_true", help="do not log to MLflow")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from warc2gpt.ingest.download import DownloadError
    from warc2gpt.ingest.stage import IngestError, format_summary, run_ingest

    params = params_from_args(
        args,
        "ingest",
        {
            "sources": args.source or None,
            "output": args.output,
            "segments": args.segments,
            "sample": args.sample,
            "base_url": args.base_url,
            "workers": args.workers,
        },
    )
    try:
        run_ingest(
            params.ingest,
            args.metrics,
            progress=False if args.no_progress else None,
            tracking=params.tracking,
        )
    except (IngestError, DownloadError) as exc:
        print(f"warc2gpt ingest: {exc}", file=sys.stderr)
        return 1
    print(
        format_summary(
            json.loads(Path(args.metrics).read_text(encoding="utf-8")), params.ingest.output
        )
    )
    return 0
