"""`warc2gpt dedup`: curated Parquet shards in, deduplicated shards and metrics/dedup.json out."""

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
            help="Parquet document shards (repeatable; default: dedup.input)",
        ),
    ),
    Option("--output", "output", dict(help="output directory (default: dedup.output)")),
    Option("--workers", "workers", dict(type=int, help="workers (default: dedup.workers)")),
]


def register(sub: argparse._SubParsersAction) -> None:
    stage_command(
        sub,
        "dedup",
        OPTIONS,
        help="remove exact and near-duplicate documents (MinHash LSH)",
        description="Exact duplicates of the normalised text, then MinHash LSH near-duplicates "
        "(FineWeb: word 5-grams, 14 bands x 8 rows) across all input shards; one "
        "document per cluster stays. Resumes an interrupted run.",
    )
