"""`warc2gpt dedup`: curated Parquet shards in, deduplicated shards and metrics/dedup.json out."""

from __future__ import annotations

import argparse

from warc2gpt.cli import params_from_args
from warc2gpt.config import to_dict


def register(sub: argparse._SubParsersAction) -> None:
    from warc2gpt.cli import add_params_options

    parser = sub.add_parser(
        "dedup",
        help="remove exact and near-duplicate documents (MinHash LSH)",
        description="Exact duplicates of the normalised text, then MinHash LSH near-duplicates "
        "(FineWeb: word 5-grams, 14 bands x 8 rows) across all input shards; one "
        "document per cluster stays. Resumes an interrupted run.",
    )
    add_params_options(parser)
    parser.add_argument(
        "--input",
        action="append",
        metavar="GLOB",
        help="Parquet document shards (repeatable; default: dedup.input)",
    )
    parser.add_argument("--output", help="output directory (default: dedup.output)")
    parser.add_argument("--workers", type=int, help="worker processes (default: dedup.workers)")
    parser.add_argument("--no-tracking", action="store_true", help="do not log to MLflow")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from warc2gpt.dedup.stage import format_summary, run_dedup
    from warc2gpt.tracking import log_stage_metrics

    params = params_from_args(
        args, "dedup", {"input": args.input, "output": args.output, "workers": args.workers}
    )
    metrics = run_dedup(params)
    print(format_summary(metrics))
    log_stage_metrics(
        "dedup", params.tracking, to_dict(params.dedup), metrics, artifacts=[params.dedup.metrics]
    )
    return 0
