"""Token shards for the GPU check's real-data runs: ../shared/data/text in GPT-2's vocabulary.

Every document under ../shared/data/text is encoded with tiktoken's r50k (GPT-2) ranks from
../shared/data/tokenizers (no download), documents joined by <|endoftext|>; every 16th document
goes to the validation shard. The GPU machine has no ../shared, so the shards are made here and
carried along (`run` with carry=[".gpu_data"]):

    python benchmarks/gpu_data.py            # -> .gpu_data/tokens/{train,val}_000000.bin
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tokenize_throughput import SHARED_DATA, reference_encodings  # noqa: E402

EOT = 50256
VAL_EVERY = 16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / ".gpu_data" / "tokens")
    args = parser.parse_args()

    from warc2gpt.tokenizer.shards import write_token_shard
    from warc2gpt.tokenizer.textfiles import iter_text_documents

    r50k = reference_encodings()["tiktoken r50k (GPT-2)"]
    paths = sorted(p for p in (SHARED_DATA / "text").rglob("*") if p.is_file())
    splits: dict[str, list[int]] = {"train": [], "val": []}
    docs = 0
    for i, doc in enumerate(iter_text_documents(paths)):
        split = "val" if i % VAL_EVERY == VAL_EVERY - 1 else "train"
        splits[split].append(EOT)
        splits[split].extend(r50k.encode_ordinary(doc.text))
        docs += 1
    print(f"{docs} documents from {len(paths)} files")
    for split, tokens in splits.items():
        path = args.out / f"{split}_000000.bin"
        n = write_token_shard(path, np.asarray(tokens, dtype=np.int64), 50257)
        print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {n:,} tokens")


if __name__ == "__main__":
    main()
