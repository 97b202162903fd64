"""`warc2gpt train` (and `python -m warc2gpt.train`): pretrain the GPT on the token shards."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import yaml

from warc2gpt.config import ConfigError, Params, apply_overrides, deep_merge, parse_params


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    return data


def load_train_params(
    params_path: str | Path, preset: str | Path | None = None, overrides: list[str] = ()
) -> Params:
    """params.yaml (if present), then a preset file's sections over it, then --set overrides."""
    params_path = Path(params_path)
    data = _read_yaml(params_path) if params_path.exists() else {}
    if preset:
        preset = Path(preset)
        if not preset.exists():
            raise ConfigError(f"preset {preset} not found (see presets/ for the shipped ones)")
        deep_merge(data, _read_yaml(preset))
    try:
        return parse_params(apply_overrides(data, overrides))
    except ConfigError as exc:
        where = f"{params_path}" + (f" + {preset}" if preset else "")
        raise ConfigError(f"{where}: {exc}") from None


def add_train_options(parser: argparse.ArgumentParser) -> None:
    from warc2gpt.cli import add_params_options

    add_params_options(parser)
    parser.add_argument(
        "--preset",
        help="a params file whose sections override --params, e.g. presets/gpt2-124m.yaml",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from warc2gpt.progress import set_enabled
    from warc2gpt.train import stage
    from warc2gpt.train.checkpoint import CheckpointError
    from warc2gpt.train.distributed import dist_from_env
    from warc2gpt.train.loader import LoaderError

    params = load_train_params(args.params, args.preset, args.overrides)
    master = dist_from_env().is_master
    logging.basicConfig(
        level=logging.INFO if master else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    shown = set_enabled(not args.quiet)
    try:
        metrics = stage.run(params)
    except (LoaderError, CheckpointError, FileNotFoundError, FloatingPointError) as exc:
        print(f"warc2gpt train: {exc}", file=sys.stderr)
        return 1
    finally:
        set_enabled(shown)
    if master:
        print(stage.summary(metrics))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="pretrain the GPT on the token shards (CPU, GPU, or torchrun DDP)",
        description="Pretrain the GPT on data/tokens; resumes from the newest checkpoint.",
    )
    add_train_options(parser)
    parser.set_defaults(func=run)
