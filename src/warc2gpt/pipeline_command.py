"""`warc2gpt pipeline`: the whole pipeline (the Prefect flow over `dvc repro`)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "pipeline",
        help="run every stale stage end to end (dvc repro under a Prefect flow)",
        description="Reproduce the pipeline: DVC reruns exactly the stages whose code, data or "
        "params changed; --set runs `dvc exp run -S` with the overrides.",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="param override, e.g. --set train.max_steps=50",
    )
    parser.add_argument("--force", action="store_true", help="rerun every stage")
    parser.add_argument("targets", nargs="*", help="DVC stages to reproduce (default: all)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from warc2gpt.config import load_params

    load_params("params.yaml", args.overrides)  # a bad key fails here, before a server starts
    from flows.pipeline import pipeline

    pipeline(overrides=args.overrides, force=args.force, targets=args.targets)
    return 0
