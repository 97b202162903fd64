"""`warc2gpt curate`: WARC files in, curated Parquet documents out."""

from __future__ import annotations

import argparse

from warc2gpt.cli import Option, stage_command

OPTIONS = [
    Option(
        "--input",
        "input",
        dict(
            action="append",
            metavar="GLOB",
            help="WARC/WET paths or globs (repeatable; default: curate.input, else the ingest "
            "output)",
        ),
    ),
    Option("--output", "output", dict(help="output directory (default: curate.output)")),
    Option("--workers", "workers", dict(type=int, help="workers (default: curate.workers)")),
    Option("--extractor", "extractor", dict(choices=["trafilatura", "resiliparse"])),
    Option(
        "--prefilter-language",
        "prefilter_language",
        dict(
            action="store_true",
            default=None,
            help="cheap extraction + language ID before trafilatura",
        ),
    ),
]


def register(sub: argparse._SubParsersAction) -> None:
    stage_command(
        sub,
        "curate",
        OPTIONS,
        help="extract, filter and clean web pages from WARC files",
        description="WARC/WET files -> main text -> URL, language and quality filters -> PII "
        "scrub -> Parquet shards, one per input file (FineWeb's recipe by default).",
    )
