"""BPE training time and peak memory per vocabulary size, on the real text in ../shared/data.

Every document of ../shared/data/text (Gutenberg Shakespeare and Milton, WikiText-2, NLTK
corpora, Common Crawl samples: ~22 MB) goes into one Parquet shard; each vocabulary is then
trained in a fresh process streaming that shard, so its peak resident memory is its own.

    python benchmarks/tokenizer_train.py [--vocab 8192 32768] [--input 'data/dedup/*.parquet']
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("WARC2GPT_SHARED_DATA", ROOT.parent / "shared" / "data"))


def text_corpus(out: Path) -> list[Path]:
    """Every document of ../shared/data/text as one Parquet shard."""
    from warc2gpt.tokenizer.textfiles import text_files_to_parquet

    text_dir = SHARED_DATA / "text"
    if not text_dir.is_dir():
        raise SystemExit(f"real text not found at {text_dir}: set WARC2GPT_SHARED_DATA")
    paths = sorted(p for p in text_dir.rglob("*") if p.is_file())
    text_files_to_parquet(paths, out)
    return [out]


def train_once(inputs: list[str], vocab_size: int, out: str) -> dict:
    """Child process: train one vocabulary and report time and peak memory."""
    import tiktoken  # noqa: F401 - loaded before the baseline, as training loads it
    import tokenizers  # noqa: F401

    from warc2gpt.config import TokenizerSettings
    from warc2gpt.tokenizer.train import train_tokenizer

    settings = TokenizerSettings(input=inputs, output=out, vocab_size=vocab_size)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    tokenizer, metrics = train_tokenizer(settings, [Path(p) for p in inputs])
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "vocab": vocab_size,
        "reached": tokenizer.vocab_size,
        "documents": metrics["documents"],
        "chars": metrics["characters"],
        "seconds": seconds,
        # Every thread of the child, imports and Parquet reading included.
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        # ru_maxrss is in KiB on Linux.
        "peak_mib": usage.ru_maxrss / 1024,
        "import_mib": base / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, nargs="+", default=[8192, 32768])
    parser.add_argument("--input", action="append", help="Parquet globs (default: the text corpus)")
    parser.add_argument(
        "--child", nargs=3, metavar=("INPUTS_JSON", "VOCAB", "OUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        inputs, vocab, out = args.child
        print(json.dumps(train_once(json.loads(inputs), int(vocab), out)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        if args.input:
            from warc2gpt.tokenizer.train import resolve_corpus

            inputs = [str(p) for pattern in args.input for p in resolve_corpus([pattern])]
        else:
            inputs = [str(p) for p in text_corpus(Path(tmp) / "text.parquet")]
        size = sum(Path(p).stat().st_size for p in inputs)
        rows = []
        for vocab in args.vocab:
            out = Path(tmp) / f"tok-{vocab}"
            child = subprocess.run(
                [sys.executable, __file__, "--child", json.dumps(inputs), str(vocab), str(out)],
                check=True,
                capture_output=True,
                text=True,
            )
            rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
    first = rows[0]
    print(
        f"corpus: {first['documents']} documents, {first['chars'] / 1e6:.1f} M characters "
        f"({size / 1e6:.1f} MB Parquet); {os.cpu_count()} CPU cores visible to the trainer"
    )
    print(
        f"{'vocab':>8} {'reached':>8} {'wall s':>7} {'CPU s':>6} {'Mchar/s':>8} {'peak RSS MiB':>13}"
    )
    for row in rows:
        print(
            f"{row['vocab']:>8} {row['reached']:>8} {row['seconds']:>7.1f} "
            f"{row['cpu_seconds']:>6.1f} {row['chars'] / 1e6 / row['seconds']:>8.2f} "
            f"{row['peak_mib']:>13.0f}"
        )
    print(f"(a process that has only imported the trainer holds {first['import_mib']:.0f} MiB)")


if __name__ == "__main__":
    main()
