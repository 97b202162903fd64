"""`warc2gpt ingest`: fetch WARC files from paths, URLs or a crawl id into the raw data folder."""

from __future__ import annotations

import argparse

from warc2gpt.cli import Option, stage_command

OPTIONS = [
    Option(
        "--source",
        "sources",
        dict(
            action="append",
            metavar="SOURCE",
            help="path, glob, URL or crawl id (repeatable; default: ingest.sources)",
        ),
    ),
    Option("--output", "output", dict(help="output folder (default: ingest.output)")),
    Option(
        "--segments", "segments", dict(type=int, help="WARC files per crawl id (ingest.segments)")
    ),
    Option(
        "--sample",
        "sample",
        dict(
            action="store_true",
            default=None,
            help="a seeded sample of the crawl listing instead of its first files",
        ),
    ),
    Option("--base-url", "base_url", dict(help="crawl data base URL (ingest.base_url)")),
    Option("--workers", "workers", dict(type=int, help="files fetched at once (ingest.workers)")),
    Option("--metrics", "metrics", dict(help="metrics file (default: ingest.metrics)")),
]


def register(sub: argparse._SubParsersAction) -> None:
    stage_command(
        sub,
        "ingest",
        OPTIONS,
        help="fetch WARC files (paths, URLs or a Common Crawl crawl id)",
        description="Resolve sources (local paths/globs, http(s)/s3 URLs, crawl ids such as "
        "CC-MAIN-2024-22[:N]) and fetch them into the output folder with retries, "
        "resume and verification. No sources: the built-in sample crawl.",
    )
