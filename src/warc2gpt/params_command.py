"""`warc2gpt params`: every setting with the value it takes, and what params.yaml changes."""

from __future__ import annotations

import argparse
import dataclasses

import yaml

from warc2gpt.config import Params, flatten, load_params, to_dict


def register(sub: argparse._SubParsersAction) -> None:
    from warc2gpt.cli import add_params_options

    parser = sub.add_parser(
        "params",
        help="print every setting with the value it takes (defaults plus params.yaml)",
        description="Print the effective settings as YAML: the built-in defaults (FineWeb's "
        "thresholds, the sample's model size) with params.yaml and --set applied. params.yaml "
        "holds only what differs from the defaults.",
    )
    add_params_options(parser)
    parser.add_argument(
        "section",
        nargs="?",
        choices=[f.name for f in dataclasses.fields(Params)],
        help="one section (e.g. curate)",
    )
    parser.add_argument(
        "--changed", action="store_true", help="only the settings that differ from the defaults"
    )
    parser.set_defaults(func=run)


def changed_settings(params: Params) -> dict[str, object]:
    """Dotted keys whose value differs from the built-in default."""
    defaults = flatten(to_dict(Params()))
    return {k: v for k, v in flatten(to_dict(params)).items() if defaults.get(k) != v}


def run(args: argparse.Namespace) -> int:
    params = load_params(args.params, args.overrides)
    if args.changed:
        values: dict = changed_settings(params)
        if args.section:
            values = {k: v for k, v in values.items() if k.split(".")[0] == args.section}
    else:
        values = to_dict(params)
        if args.section:
            values = {args.section: to_dict(getattr(params, args.section))}
    print(yaml.safe_dump(values, sort_keys=False, width=100).rstrip())
    return 0
