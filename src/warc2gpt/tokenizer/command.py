"""`warc2gpt tokenizer`: train the BPE tokenizer, or look at how it cuts text.

Train the byte-level BPE tokenizer on the corpus (`train`), or encode, decode and show text
with it; `warc2gpt tokenize` encodes the corpus into token shards.
"""

from __future__ import annotations

import argparse
import functools
import re
import sys
from collections.abc import Callable

from warc2gpt.cli import (
    inputs_option,
    option,
    output_option,
    stage_command,
    workers_option,
)
from warc2gpt.config import load_params


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


TRAIN_DOC = """`warc2gpt tokenizer train`: train on the corpus (the tokenizer stage).

Train the byte-level BPE on the Parquet corpus and save tokenizer.json and token_bytes.npy.
"""
TOKENIZE_DOC = """`warc2gpt tokenize`: encode the corpus into train/val token shards.

Encode every document (each after <|endoftext|>) into llm.c-layout token shards, split into
train and val by a hash of the document id.
"""
register_train = stage_command(
    "tokenizer",
    TRAIN_DOC,
    [
        inputs_option("Parquet shards (default: tokenizer.input)"),
        output_option("tokenizer directory (default: tokenizer.output)"),
        option("--vocab-size", "vocab_size", type=int, help="default: tokenizer.vocab_size"),
    ],
    command="train",
)
register_tokenize = stage_command("tokenize", TOKENIZE_DOC, [workers_option("tokenize")])


def register(sub: argparse._SubParsersAction) -> None:
    from warc2gpt.cli import add_params_options, command_parser

    tokenizer = command_parser(sub, "tokenizer", __doc__)
    actions = tokenizer.add_subparsers(dest="action", metavar="ACTION", required=True)

    register_train(actions)

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

    register_tokenize(sub)


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
    # Accept `1 2 3`, `1,2,3` and `[1, 2, 3]` alike; any other piece is not an id.
    pieces = [piece for piece in re.split(r"[\s,\[\]]+", raw) if piece]
    wrong = next((piece for piece in pieces if not re.fullmatch(r"[-+]?\d+", piece)), None)
    if wrong is not None:
        print(
            f"warc2gpt: token {wrong!r} is not a whole-number id; give ids as 1 2 3, 1,2,3 "
            "or [1, 2, 3]",
            file=sys.stderr,
        )
        return 2
    ids = [int(piece) for piece in pieces]
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
