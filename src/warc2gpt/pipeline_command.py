"""`warc2gpt pipeline`: the whole pipeline (the Prefect flow over `dvc repro`).

When DVC finds nothing stale and nothing is forced or overridden, the command prints the
closing summary straight away: no Prefect server, no MLflow run, nothing to record.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

COMMAND_DOC = """`warc2gpt pipeline`: run every stale stage end to end (dvc repro under a Prefect flow).

Reproduce the pipeline: DVC reruns exactly the stages whose code, data or params changed;
--set runs `dvc exp run -S ++key=value` with the overrides. --increment takes the next WARC
files first (ingest.mode: increment) and builds on them: curate, dedup against earlier
increments, tokenize, continue training, evaluate, register.
"""


def register(sub: argparse._SubParsersAction) -> None:
    from warc2gpt.cli import add_set_option, command_parser

    parser = command_parser(sub, "pipeline", COMMAND_DOC)
    add_set_option(parser)
    parser.add_argument("--force", action="store_true", help="rerun every stage")
    parser.add_argument(
        "--increment",
        action="store_true",
        help="take the next ingest.per_run WARC files and build on them (what the schedule runs)",
    )
    parser.add_argument("targets", nargs="*", help="DVC stages to reproduce (default: all)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from warc2gpt.config import load_params

    started = time.perf_counter()
    params = load_params("params.yaml", args.overrides)  # a bad key fails before a server starts
    nothing_forced = not args.overrides and not args.force and not args.increment
    if nothing_forced and report_if_up_to_date(params, args.targets, started):
        return 0
    from flows.pipeline import pipeline

    pipeline(
        overrides=args.overrides, force=args.force, targets=args.targets, increment=args.increment
    )
    print(f"({time.perf_counter() - started:.1f} s in all)")
    return 0


def report_if_up_to_date(params, targets: list[str], started: float) -> bool:
    """Print the closing summary and return True when DVC finds no stage stale; False (and
    print nothing) when something must run, or when DVC cannot tell (the full run says why)."""
    from warc2gpt.pipeline_report import collect_metrics, stale_stages, where_to_look
    from warc2gpt.tracking import tracking_uri

    if not Path("dvc.lock").is_file():
        return False
    try:
        if stale_stages(targets):
            return False
    except Exception:  # noqa: BLE001 - `dvc repro` reports the same problem in full
        return False
    wall = round(time.perf_counter() - started, 2)
    result = {"up_to_date": True, "ran": [], "skipped": [], "wall_seconds": wall}
    print(
        where_to_look(
            params, result, collect_metrics(params), tracking_uri(params.tracking), None, ui_url()
        )
    )
    return True


def ui_url() -> str | None:
    """The Prefect UI of a server the user named (PREFECT_API_URL), else None."""
    api = os.environ.get("PREFECT_API_URL", "").rstrip("/")
    if not api:
        return None
    return os.environ.get("PREFECT_UI_URL") or api.removesuffix("/api")
