"""`warc2gpt curate`: WARC files in, curated Parquet documents out."""

from __future__ import annotations

import argparse

from warc2gpt.cli import params_from_args
from warc2gpt.config import to_dict


def register(sub: argparse._SubParsersAction) -> None:
    from warc2gpt.cli import add_params_options

    parser = sub.add_parser(
        "curate",
        help="extract, filter and clean web pages from WARC files",
        description="WARC/WET files -> main text -> URL, language and quality filters -> PII "
        "scrub -> Parquet shards, one per input file (FineWeb's recipe by default).",
    )
    add_params_options(parser)
    parser.add_argument(
        "--input",
        action="append",
        metavar="GLOB",
        help="WARC/WET paths or globs (repeatable; default: curate.input, else the ingest output)",
    )
    parser.add_argument("--output", help="output directory (default: curate.output)")
    parser.add_argument("--workers", type=int, help="worker processes (default: curate.workers)")
    parser.add_argument("--extractor", choices=["trafilatura", "resiliparse"])
    parser.add_argument(
        "--prefilter-language",
        action="store_true",
        default=None,
        help="cheap extraction + language ID before trafilatura",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-tracking", action="store_true", help="do not log to MLflow")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from warc2gpt.curate.stage import format_summary, run_curate
    from warc2gpt.tracking import log_stage_metrics

    params = params_from_args(
        args,
        "curate",
        {
            "input": args.input,
            "output": args.output,
            "workers": args.workers,
            "extractor": args.extractor,
            "prefilter_language": args.prefilter_language,
        },
    )
    metrics = run_curate(params, progress=not args.no_progress)
    print(format_summary(metrics))
    log_stage_metrics(
        "curate",
        params.tracking,
        to_dict(params.curate),
        metrics,
        artifacts=[params.curate.metrics],
    )
    return 0
