"""`python -m warc2gpt.train` / `torchrun --nproc_per_node=N -m warc2gpt.train`: the bare entry.

Needs only torch, numpy, pyyaml and tqdm; MLflow is used when installed and skipped otherwise.
"""

from __future__ import annotations

import argparse
import sys

from warc2gpt.config import ConfigError
from warc2gpt.offline import apply_offline_defaults
from warc2gpt.train.command import add_train_options, run


def main(argv: list[str] | None = None) -> int:
    apply_offline_defaults()
    parser = argparse.ArgumentParser(
        prog="python -m warc2gpt.train", description="Pretrain the GPT on the token shards."
    )
    add_train_options(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except ConfigError as exc:
        print(f"warc2gpt train: configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
