"""`warc2gpt ...` commands: one subcommand per stage, plus the tools people reach for.

Each stage package has a `command` module with `register(subparsers)`. A stage command is a
table of options, each naming the setting of its params section it overrides; `stage_command`
builds it and `run_stage_command` runs it the way the Prefect flow does: `run_stage` with the
mapper the stage's settings name, then the stage's summary.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warc2gpt import __version__
from warc2gpt.config import ConfigError, Params, load_params

# Modules that each add one or more subcommands, in the order `--help` lists them.
COMMAND_MODULES = [
    "warc2gpt.ingest.command",
    "warc2gpt.curate.command",
    "warc2gpt.curate.blocklist_command",
    "warc2gpt.dedup.command",
    "warc2gpt.tokenizer.command",
    "warc2gpt.train.command",
    "warc2gpt.evaluate.command",
    "warc2gpt.registry.command",
    "warc2gpt.pipeline_command",
    "warc2gpt.params_command",
]


def add_set_option(parser: argparse.ArgumentParser) -> None:
    """`--set dotted.key=value`, repeatable: the override every command takes."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a param by dotted key, e.g. --set curate.workers=2",
    )


class _NamedParamsFile(argparse.Action):
    """`--params FILE`: a file the user names must be there (a missing params.yaml without
    --params means the defaults, as in a fresh directory; --params /dev/null asks for them)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        if not Path(values).is_file() and values != os.devnull:
            parser.exit(
                2,
                f"{parser.prog}: params file {values} not found (leave out --params to read "
                f"params.yaml, or --params {os.devnull} for the defaults)\n",
            )
        setattr(namespace, self.dest, values)


def add_params_options(parser: argparse.ArgumentParser) -> None:
    """The options every stage command shares."""
    parser.add_argument(
        "--params",
        default="params.yaml",
        action=_NamedParamsFile,
        help="params file (default: %(default)s; the defaults when it is absent)",
    )
    add_set_option(parser)


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


@dataclass(frozen=True)
class Option:
    """A command-line option and the setting of the stage's section it overrides."""

    flag: str
    key: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


def option(flag: str, key: str, **kwargs: Any) -> Option:
    """`flag` overrides the section's `key`; kwargs are argparse's."""
    return Option(flag, key, kwargs)


def inputs_option(what: str) -> Option:
    return option("--input", "input", action="append", metavar="GLOB", help=f"{what} (repeatable)")


def output_option(what: str) -> Option:
    return option("--output", "output", help=f"{what}; its metrics go to OUTPUT/metrics.json")


def workers_option(section: str) -> Option:
    return option("--workers", "workers", type=int, help=f"workers (default: {section}.workers)")


def command_parser(sub: Any, name: str, doc: str) -> argparse.ArgumentParser:
    """A subcommand whose help is `doc`'s first line (after its `warc2gpt x:` label) and whose
    description is the rest of `doc`."""
    summary, _, description = doc.strip().partition("\n")
    help_text = summary.split(": ", 1)[-1].rstrip(".")
    return sub.add_parser(name, help=help_text, description=description.strip() or help_text)


def stage_command(
    stage: str, doc: str, options: list[Option], command: str | None = None
) -> Callable[[Any], argparse.ArgumentParser]:
    """The `register(subparsers)` of a command that runs `stage` with `options` over its
    params section; `doc` (the command module's docstring) gives its help and description."""

    def register(sub: Any) -> argparse.ArgumentParser:
        parser = command_parser(sub, command or stage, doc)
        add_params_options(parser)
        for item in options:
            parser.add_argument(item.flag, dest=item.dest, **item.kwargs)
        parser.add_argument("--no-progress", action="store_true", help="no progress display")
        parser.add_argument("--no-tracking", action="store_true", help="do not log to MLflow")
        parser.set_defaults(func=run_stage_command, stage=stage, stage_options=options)
        return parser

    return register


def run_stage_command(args: argparse.Namespace) -> int:
    """Run a stage from its command: params, overrides, the settings' mapper, the summary.

    With `--output` the metrics go beside that output (`<output>/metrics.json`), so a hand run
    never rewrites the pipeline's metrics files.
    """
    from warc2gpt.progress import set_enabled
    from warc2gpt.stages import local_mapper, run_stage, stage, summary

    spec = stage(args.stage)
    values = {option.key: getattr(args, option.dest) for option in args.stage_options}
    chosen = any(o.startswith(f"{spec.section}.metrics=") for o in args.overrides)
    if values.get("output") is not None and values.get("metrics") is None and not chosen:
        if spec.metrics_key == "metrics":
            values["metrics"] = str(Path(values["output"]) / "metrics.json")
    params = params_from_args(args, spec.section, values)
    shown = set_enabled(not args.no_progress)
    try:
        metrics = run_stage(spec.name, params, local_mapper(spec.name, params))
    except tuple(getattr(spec.load(), "USER_ERRORS", ())) as exc:
        print(f"warc2gpt {spec.name}: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1  # bad input, or a failed run
    finally:
        set_enabled(shown)
    print(summary(spec.name, metrics))
    return 0


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
