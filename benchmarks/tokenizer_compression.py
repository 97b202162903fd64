"""Compression (UTF-8 bytes per token) of our BPE next to GPT-2 (r50k) and cl100k, on held-out text.

Ours is trained on ../shared/data/text minus the held-out sets, which are real English it never
saw: LAMBADA's test passages (novels), WikiText-2 test (Wikipedia) and the Common Crawl samples
(web pages). More bytes per token means shorter sequences for the same text.

    python benchmarks/tokenizer_compression.py [--vocab 32768 50257]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("WARC2GPT_SHARED_DATA", ROOT.parent / "shared" / "data"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tokenize_throughput import reference_encodings  # noqa: E402


def held_out_sets(data: Path) -> dict[str, list[str]]:
    from warc2gpt.tokenizer.textfiles import iter_text_documents

    lambada = [
        json.loads(line)["text"]
        for line in (data / "eval" / "lambada_test.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    wikitext = [d.text for d in iter_text_documents([data / "text/wikitext-2/test.txt"])]
    web = [d.text for d in iter_text_documents(sorted((data / "text/dolma_cc_samples").iterdir()))]
    return {"LAMBADA test": lambada, "WikiText-2 test": wikitext, "Common Crawl": web}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, nargs="+", default=[32768, 50257])
    args = parser.parse_args()

    from warc2gpt.tokenizer.bpe import train_bpe
    from warc2gpt.tokenizer.textfiles import iter_text_documents

    text_dir = SHARED_DATA / "text"
    if not text_dir.is_dir():
        raise SystemExit(f"real text not found at {text_dir}: set WARC2GPT_SHARED_DATA")
    held_out = held_out_sets(SHARED_DATA)
    excluded = {text_dir / "wikitext-2" / "test.txt", *(text_dir / "dolma_cc_samples").iterdir()}
    train_files = sorted(p for p in text_dir.rglob("*") if p.is_file() and p not in excluded)
    train_texts = [d.text for d in iter_text_documents(train_files)]
    train_mb = sum(len(t.encode("utf-8")) for t in train_texts) / 1e6

    encoders = {}
    for vocab in args.vocab:
        started = time.perf_counter()
        tokenizer = train_bpe(train_texts, vocab_size=vocab)
        seconds = time.perf_counter() - started
        name = f"warc2gpt {vocab}"
        if tokenizer.vocab_size != vocab:
            name += f" (reached {tokenizer.vocab_size})"
        encoders[name] = tokenizer.encode
        print(f"trained {name} on {train_mb:.1f} MB in {seconds:.1f} s")
    for name, encoding in reference_encodings().items():
        encoders[f"{name} {encoding.n_vocab}"] = encoding.encode_ordinary

    sizes = {name: sum(len(t.encode("utf-8")) for t in texts) for name, texts in held_out.items()}
    header = "".join(f"{name:>17}" for name in held_out)
    print(
        "\nbytes per token (higher is better); held-out MB: "
        + ", ".join(f"{name} {size / 1e6:.2f}" for name, size in sizes.items())
    )
    print(f"{'tokenizer':<34}{header}")
    for name, encode in encoders.items():
        cells = ""
        for set_name, texts in held_out.items():
            tokens = sum(len(encode(t)) for t in texts)
            cells += f"{sizes[set_name] / tokens:>17.3f}"
        print(f"{name:<34}{cells}")


if __name__ == "__main__":
    main()
