"""Encoding throughput (MB of UTF-8 text per second) on 1 and 2 cores: ours next to tiktoken.

The text is every document of ../shared/data/text (~22 MB). Rows:
- `encode`: the encoder alone over all documents: one thread (1 core), then tiktoken's batch
  call on two threads (2 cores; the encoder releases the GIL). GPT-2 (r50k) and cl100k are
  built with `tiktoken.Encoding` from the rank files in ../shared/data/tokenizers.
- `stage`: the tokenize stage itself (`run_local("tokenize", ...)`, the path the CLI takes; the Prefect
  flow adds its runner's start-up): Parquet in, split, encode, shards out, on 1 and 2 worker
  threads (the default runner) over 4 input shards.

    python benchmarks/tokenize_throughput.py [--vocab 4096 32768] [--repeats 3]
"""

from __future__ import annotations

import argparse
import base64
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("WARC2GPT_SHARED_DATA", ROOT.parent / "shared" / "data"))

# The split patterns tiktoken ships for these encodings (possessive forms, tiktoken >= 0.8).
R50K_PATTERN = (
    r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
)
CL100K_PATTERN = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""


def load_ranks(path: Path) -> dict[bytes, int]:
    """A `.tiktoken` rank file: one `base64(token) rank` per line."""
    ranks = {}
    for line in path.read_text(encoding="ascii").splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def reference_encodings():
    """GPT-2 and cl100k as tiktoken encodings, from local rank files (no download)."""
    import tiktoken

    folder = SHARED_DATA / "tokenizers"
    r50k = tiktoken.Encoding(
        "r50k_base",
        pat_str=R50K_PATTERN,
        mergeable_ranks=load_ranks(folder / "r50k_base.tiktoken"),
        special_tokens={"<|endoftext|>": 50256},
        explicit_n_vocab=50257,
    )
    cl100k = tiktoken.Encoding(
        "cl100k_base",
        pat_str=CL100K_PATTERN,
        mergeable_ranks=load_ranks(folder / "cl100k_base.tiktoken"),
        special_tokens={"<|endoftext|>": 100257},
    )
    return {"tiktoken r50k (GPT-2)": r50k, "tiktoken cl100k": cl100k}


def timed(fn) -> tuple[float, float]:
    """Wall-clock and CPU seconds of this process for one call."""
    start, start_cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - start, time.process_time() - start_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, nargs="+", default=[4096, 32768])
    parser.add_argument("--repeats", type=int, default=3, help="best of N runs (default 3)")
    args = parser.parse_args()

    from warc2gpt.config import parse_params
    from warc2gpt.documents import DOCUMENT_SCHEMA, write_parquet
    from warc2gpt.stages import run_local
    from warc2gpt.tokenizer.bpe import Tokenizer, train_bpe
    from warc2gpt.tokenizer.textfiles import iter_text_documents

    text_dir = SHARED_DATA / "text"
    if not text_dir.is_dir():
        raise SystemExit(f"real text not found at {text_dir}: set WARC2GPT_SHARED_DATA")
    docs = list(iter_text_documents(sorted(p for p in text_dir.rglob("*") if p.is_file())))
    texts = [d.text for d in docs]
    megabytes = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    print(
        f"text: {len(texts)} documents, {megabytes:.1f} MB UTF-8; best of {args.repeats}; "
        f"{os.cpu_count()} cores on this machine"
    )

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        inputs = []
        for shard in range(4):
            path = tmp / "corpus" / f"{shard:05d}.parquet"
            write_parquet(path, (d.row() for d in docs[shard::4]), DOCUMENT_SCHEMA)
            inputs.append(str(path))

        encoders = {}
        for vocab in args.vocab:
            directory = tmp / f"tokenizer-{vocab}"
            train_bpe(texts, vocab_size=vocab).save(directory)
            encoders[f"warc2gpt {vocab // 1024}k"] = (Tokenizer.load(directory), directory)
        for name, encoding in reference_encodings().items():
            encoders[name] = (encoding, None)

        # (what, encoder, cores) -> the call to time.
        runs = {}
        for name, (encoder, directory) in encoders.items():
            ours = isinstance(encoder, Tokenizer)
            encode = encoder.encode if ours else encoder.encode_ordinary
            batch = encoder.encode_batch if ours else encoder.encode_ordinary_batch
            runs["encode", name, 1] = lambda f=encode: [f(t) for t in texts]
            runs["encode", name, 2] = lambda f=batch: f(texts, num_threads=2)
            if directory is None:
                continue
            for workers in (1, 2):
                params = parse_params(
                    {
                        "tokenizer": {"output": str(directory)},
                        "tokenize": {
                            "input": inputs,
                            "output": str(tmp / "tokens"),
                            "workers": workers,
                        },
                    }
                )
                # One worker runs in this process, so its CPU time is measured too.
                runs["stage", name, workers] = lambda p=params: run_local("tokenize", p)
        # Rounds interleave the encoders, so a burst of other load hurts none of them alone.
        best = {key: (float("inf"), float("inf")) for key in runs}
        for _ in range(args.repeats):
            for key, fn in runs.items():
                wall, cpu = timed(fn)
                best[key] = (min(best[key][0], wall), min(best[key][1], cpu))
        rows = []
        for what, name, cores in runs:
            if cores == 1:
                (one, one_cpu), (two, _) = best[what, name, 1], best[what, name, 2]
                rows.append((what, name, megabytes / one_cpu, megabytes / one, megabytes / two))

    print(f"\n{'what':<7} {'encoder':<24} {'MB/CPU-s':>9} {'1 core MB/s':>12} {'2 cores MB/s':>13}")
    for what, name, per_cpu, one, two in rows:
        print(f"{what:<7} {name:<24} {per_cpu:>9.1f} {one:>12.1f} {two:>13.1f}")
    load = os.getloadavg()[0]
    print(
        f"\nMB/CPU-s: text per CPU-second of one core, robust to other load (1-minute load "
        f"average now {load:.1f}); the MB/s columns are wall-clock."
    )


if __name__ == "__main__":
    main()
