"""Dedup throughput on >= 100k real-text documents with planted duplicates.

Measures (1) MinHash signatures alone, in this process, as documents per CPU second (one core),
and (2) the whole stage (`run_local("dedup", ...)`: signatures, buckets, clusters, filter) in a fresh process
with its workers: documents per wall second, per CPU second, and peak memory (max RSS).

    python benchmarks/dedup_throughput.py [--docs 100000] [--shards 8] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import real_text  # noqa: E402

from warc2gpt.dedup.minhash import MinHasher  # noqa: E402
from warc2gpt.documents import DOCUMENT_SCHEMA, write_parquet  # noqa: E402

DUPLICATE_SHARE = 0.1  # of the documents are copies (exact or 1-3% of words edited)

STAGE = """
import json, resource, sys, time
from warc2gpt.config import load_params
from warc2gpt.stages import run_local
params = load_params("params.yaml", json.loads(sys.argv[1]))
wall, cpu = time.perf_counter(), time.process_time()
metrics = run_local("dedup", params)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
children = resource.getrusage(resource.RUSAGE_CHILDREN)
# VmHWM, not ru_maxrss: ru_maxrss survives exec and would report the parent's size.
status = open("/proc/self/status").read().split("VmHWM:")[1].split()[0]
print(json.dumps({"metrics": metrics, "wall": wall,
                  "cpu": cpu + children.ru_utime + children.ru_stime,
                  "peak_rss_mb": int(status) / 1024, "child_peak_rss_mb": children.ru_maxrss / 1024}))
"""


def make_corpus(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    pool = real_text.paragraphs()
    vocabulary = sorted({w for p in pool[:5000] for w in p.split()})
    originals = real_text.documents(
        count - int(count * DUPLICATE_SHARE), seed=seed, min_paragraphs=2, pool=pool
    )
    docs = list(originals)
    while len(docs) < count:
        source = rng.choice(originals)
        fraction = rng.choice([0.0, 0.01, 0.02, 0.03])
        docs.append(
            source if fraction == 0 else real_text.edit_words(source, fraction, rng, vocabulary)
        )
    rng.shuffle(docs)
    return docs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    started = time.perf_counter()
    docs = make_corpus(args.docs, args.seed)
    words = np.mean([len(d.split()) for d in docs[:5000]])
    chars = np.mean([len(d) for d in docs[:5000]])
    print(
        f"corpus: {len(docs)} documents, mean {words:.0f} words / {chars:.0f} characters, "
        f"{DUPLICATE_SHARE:.0%} planted copies (built in {time.perf_counter() - started:.0f} s)"
    )

    hasher = MinHasher()
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(0, len(docs), args.batch_size):
        hasher.signatures(docs[i : i + args.batch_size])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        per_shard = -(-len(docs) // args.shards)
        for s in range(args.shards):
            rows = [
                {"id": f"{s}-{i}", "url": f"https://example.org/{s}/{i}", "text": t}
                for i, t in enumerate(docs[s * per_shard : (s + 1) * per_shard])
            ]
            write_parquet(root / f"in/{s:03d}.parquet", rows, DOCUMENT_SCHEMA)
        del docs, rows
        overrides = [
            f"dedup.input=[{root}/in/*.parquet]",
            f"dedup.output={root}/out",
            f"dedup.work_dir={root}/work",
            f"dedup.metrics={root}/dedup.json",
            f"dedup.workers={args.workers}",
            f"dedup.batch_size={args.batch_size}",
            "tracking.enabled=false",
        ]
        done = subprocess.run(
            [sys.executable, "-c", STAGE, json.dumps(overrides)],
            capture_output=True,
            text=True,
            check=True,
        )
        stage = json.loads(done.stdout.strip().splitlines()[-1])

    m = stage["metrics"]
    n = m["docs_in"]
    print(
        f"stage: {n} in -> {m['docs_out']} out; exact {m['exact_duplicates']}, near "
        f"{m['near_duplicates']} in {m['near_duplicate_clusters']} clusters; "
        f"{args.shards} shards, {args.workers} workers"
    )
    print()
    print(f"{'step':<28} {'seconds':>8} {'docs/s':>9} {'docs/s/core':>12}")
    print(f"{'signatures (1 process)':<28} {wall:>8.2f} {n / wall:>9.0f} {n / cpu:>12.0f}")
    print(
        f"{'stage: signature tasks':<28} {m['seconds']['signatures']:>8.2f} "
        f"{n / m['seconds']['signatures']:>9.0f} {m['signature_docs_per_cpu_second']:>12.0f}"
    )
    for step in ("buckets", "clusters", "filter"):
        print(
            f"{'stage: ' + step:<28} {m['seconds'][step]:>8.2f} "
            f"{n / max(m['seconds'][step], 1e-9):>9.0f} {'':>12}"
        )
    print(
        f"{'stage: total':<28} {stage['wall']:>8.2f} {n / stage['wall']:>9.0f} "
        f"{n / stage['cpu']:>12.0f}"
    )
    print()
    print(
        f"peak memory (max RSS): stage process {stage['peak_rss_mb']:.0f} MB, "
        f"largest worker {stage['child_peak_rss_mb']:.0f} MB"
    )
    print(
        "removed beyond the planted copies: documents that share most of their text by chance "
        "(the corpora hold ~3M words, so 100k documents reuse each paragraph ~10 times)"
    )
    print(
        "docs/s/core = documents / CPU seconds (user + system, all processes), so it does not "
        "depend on other load on the machine"
    )


if __name__ == "__main__":
    main()
