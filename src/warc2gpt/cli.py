"""`warc2gpt ...` commands: one subcommand per stage, plus the tools people reach for.

Each stage package has a `command` module with `register(subparsers)`; the subcommand's
options override params.yaml, and it calls the same function the Prefect flow and DVC call.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any

from warc2gpt import __version__
from warc2gpt.config import ConfigError, Params, load_params

# Modules that each add one or more subcommands, in the order `--help` lists them.
COMMAND_MODULES = [
    "warc2gpt.ingest.command",
    "warc2gpt.curate.command",
    "warc2gpt.dedup.command",
    "warc2gpt.tokenizer.command",
    "warc2gpt.train.command",
    "warc2gpt.evaluate.command",
    "warc2gpt.registry.command",
    "warc2gpt.pipeline_command",
]


def add_params_options(parser: argparse.ArgumentParser) -> None:
    """The options every stage command shares."""
    parser.add_argument(
        "--params", default="params.yaml", help="params file (default: %(default)s)"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a param by dotted key, e.g. --set curate.workers=2",
    )


def params_from_args(
    args: argparse.Namespace, section: str, options: dict[str, Any] | None = None
) -> Params:
    """params.yaml, then `--set` overrides, then the command's own options that were given
    (as `section.key`), then `--no-tracking`; validated."""
    overrides = list(args.overrides)
    for key, value in (options or {}).items():
        if value is not None:
            overrides.append(f"{section}.{key}={json.dumps(value)}")
    if getattr(args, "no_tracking", False):
        overrides.append("tracking.enabled=false")
    return load_params(args.params, overrides)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="warc2gpt",
        description="Common Crawl WARC files to a trained, evaluated and registered GPT.",
    )
    parser.add_argument("--version", action="version", version=f"warc2gpt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from warc2gpt.offline import apply_offline_defaults

    apply_offline_defaults()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"warc2gpt: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("warc2gpt: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
