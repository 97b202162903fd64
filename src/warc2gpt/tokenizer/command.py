"""`warc2gpt tokenizer train|encode|decode|show` and `warc2gpt tokenize`."""

from __future__ import annotations

import argparse
import functools
import re
import sys
from collections.abc import Callable

from warc2gpt.cli import params_from_args
from warc2gpt.config import load_params, to_dict


def _reporting_errors(func: Callable[[argparse.Namespace], int]) -> Callable:
    """Print a tokenizer or shard problem as one line (exit 2) instead of a traceback."""

    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        from warc2gpt.tokenizer.bpe import TokenizerError
        from warc2gpt.tokenizer.shards import ShardError

        try:
            return func(args)
        except (TokenizerError, ShardError) as exc:
            print(f"warc2gpt: {exc}", file=sys.stderr)
            return 2

    return run


def register(sub: argparse._SubParsersAction) -> None:
    from warc2gpt.cli import add_params_options

    tokenizer = sub.add_parser(
        "tokenizer",
        help="train the BPE tokenizer, or look at how it cuts text",
        description="Train the byte-level BPE tokenizer on the corpus, or encode, decode and "
        "show text with it.",
    )
    actions = tokenizer.add_subparsers(dest="action", metavar="ACTION", required=True)

    train = actions.add_parser(
        "train",
        help="train on the corpus (the tokenizer stage)",
        description="Train the byte-level BPE on the Parquet corpus and "
        "save tokenizer.json and token_bytes.npy.",
    )
    add_params_options(train)
    train.add_argument(
        "--input",
        action="append",
        metavar="GLOB",
        help="Parquet shards (repeatable; default: tokenizer.input)",
    )
    train.add_argument("--output", help="tokenizer directory (default: tokenizer.output)")
    train.add_argument("--vocab-size", type=int, help="default: tokenizer.vocab_size")
    train.add_argument("--no-tracking", action="store_true", help="do not log to MLflow")
    train.set_defaults(func=run_train)

    for name, help_text, func in (
        ("encode", "print the token ids of TEXT", run_encode),
        ("show", "print TEXT with each token's span coloured, and its ids", run_show),
        ("decode", "print the text of token IDS", run_decode),
    ):
        action = actions.add_parser(name, help=help_text, description=help_text + ".")
        add_params_options(action)
        action.add_argument(
            "--tokenizer", metavar="DIR", help="tokenizer directory (default: tokenizer.output)"
        )
        if name == "decode":
            action.add_argument(
                "ids", nargs="*", metavar="ID", help="token ids (default: read from standard input)"
            )
        else:
            action.add_argument(
                "text", nargs="?", metavar="TEXT", help="text to encode (default: standard input)"
            )
        if name == "show":
            action.add_argument(
                "--color",
                choices=["auto", "always", "never"],
                default="auto",
                help="colour spans (default: when writing to a terminal)",
            )
        action.set_defaults(func=func)

    tokenize = sub.add_parser(
        "tokenize",
        help="encode the corpus into train/val token shards",
        description="Encode every document (each after <|endoftext|>) into llm.c-layout token "
        "shards, split into train and val by a hash of the document id.",
    )
    add_params_options(tokenize)
    tokenize.add_argument("--workers", type=int, help="processes (default: tokenize.workers)")
    tokenize.add_argument("--no-tracking", action="store_true", help="do not log to MLflow")
    tokenize.set_defaults(func=run_tokenize_command)


@_reporting_errors
def run_train(args: argparse.Namespace) -> int:
    from warc2gpt.tokenizer.train import train_tokenizer
    from warc2gpt.tracking import log_stage_metrics, write_metrics

    params = params_from_args(
        args,
        "tokenizer",
        {
            "input": args.input,
            "output": args.output,
            "vocab_size": args.vocab_size,
        },
    )
    tokenizer, metrics = train_tokenizer(params.tokenizer)
    write_metrics(params.tokenizer.metrics, metrics)
    print(
        f"tokenizer: {metrics['documents']} documents, vocabulary {tokenizer.vocab_size} "
        f"({tokenizer.merges} merges) in {metrics['seconds']:.1f} s -> {params.tokenizer.output}"
    )
    log_stage_metrics(
        "tokenizer",
        params.tracking,
        to_dict(params.tokenizer),
        metrics,
        artifacts=[params.tokenizer.metrics],
    )
    return 0


def _tokenizer(args: argparse.Namespace):
    from warc2gpt.tokenizer.bpe import Tokenizer

    directory = args.tokenizer or load_params(args.params, args.overrides).tokenizer.output
    return Tokenizer.load(directory)


def _text(args: argparse.Namespace) -> str:
    return sys.stdin.read() if args.text is None else args.text


@_reporting_errors
def run_encode(args: argparse.Namespace) -> int:
    print(" ".join(map(str, _tokenizer(args).encode(_text(args)))))
    return 0


@_reporting_errors
def run_decode(args: argparse.Namespace) -> int:
    tokenizer = _tokenizer(args)
    raw = " ".join(args.ids) if args.ids else sys.stdin.read()
    # Accept `1 2 3`, `1,2,3` and `[1, 2, 3]` alike.
    ids = [int(match) for match in re.findall(r"-?\d+", raw)]
    bad = [i for i in ids if not 0 <= i < tokenizer.vocab_size]
    if bad:
        print(
            f"warc2gpt: token id {bad[0]} is outside the vocabulary (0..{tokenizer.vocab_size - 1})",
            file=sys.stderr,
        )
        return 2
    sys.stdout.write(tokenizer.decode(ids) + "\n")
    return 0


@_reporting_errors
def run_show(args: argparse.Namespace) -> int:
    from warc2gpt.tokenizer.show import render

    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    print(render(_tokenizer(args), _text(args), color=color))
    return 0


@_reporting_errors
def run_tokenize_command(args: argparse.Namespace) -> int:
    from warc2gpt.tokenizer.tokenize import format_summary, run_tokenize
    from warc2gpt.tracking import log_stage_metrics, write_metrics

    params = params_from_args(args, "tokenize", {"workers": args.workers})
    metrics = run_tokenize(params)
    write_metrics(params.tokenize.metrics, metrics)
    print(format_summary(metrics))
    log_stage_metrics(
        "tokenize",
        params.tracking,
        to_dict(params.tokenize),
        metrics,
        artifacts=[params.tokenize.metrics],
    )
    return 0
