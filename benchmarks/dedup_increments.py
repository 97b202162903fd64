"""Dedup cost per increment as the index of earlier increments grows (`dedup.index`).

Builds `--increments` increments of `--docs` real-text documents each (paragraphs of
../shared/data/text); every increment after the first also repeats documents of earlier ones:
`--copies` of its documents are copies of an earlier increment's, half exact (re-cased), half
with 1-3% of their words replaced. Each increment then runs through the whole stage
(`run_local("dedup", ...)`) with the same index folder, as scheduled runs do, and the table shows
per increment: documents in, planted copies, removed against the index, the index's size, the
lookup's and the whole run's seconds, and the run's CPU seconds (this process: the runner is
threads by default, so that is all of it; less noisy than wall time on a busy machine); then the
last/first ratios.

    python benchmarks/dedup_increments.py [--increments 30] [--docs 1000] [--copies 0.1]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import real_text  # noqa: E402

from warc2gpt.config import load_params  # noqa: E402
from warc2gpt.documents import DOCUMENT_SCHEMA, write_parquet  # noqa: E402
from warc2gpt.progress import set_enabled  # noqa: E402
from warc2gpt.stages import run_local  # noqa: E402

SHARDS = 2  # per increment


def increment_texts(
    k: int, count: int, copies: float, earlier: list[str], pool: list[str], vocabulary: list[str]
) -> tuple[list[str], int]:
    """Increment k's documents (new ones and copies of `earlier`), and how many are copies."""
    rng = random.Random(k)
    planted = int(count * copies) if earlier else 0
    texts = real_text.documents(count - planted, seed=1000 + k, min_paragraphs=2, pool=pool)
    for i in range(planted):
        source = rng.choice(earlier)
        if i % 2 == 0:
            texts.append(source.upper())
        else:
            fraction = rng.choice([0.01, 0.02, 0.03])
            texts.append(real_text.edit_words(source, fraction, rng, vocabulary))
    rng.shuffle(texts)
    return texts, planted


def write_increment(folder: Path, k: int, texts: list[str]) -> None:
    per_shard = -(-len(texts) // SHARDS)
    for s in range(SHARDS):
        part = texts[s * per_shard : (s + 1) * per_shard]
        rows = [
            {
                "id": f"i{k:03d}-{s}-{i}",
                "url": f"https://example.org/{k}/{s}/{i}",
                "date": "2024-05-01",
                "text": text,
                "language": "en",
                "language_score": 0.9,
                "source_file": f"inc{k:03d}.warc.gz",
                "source_offset": i,
                "pii_replacements": 0,
            }
            for i, text in enumerate(part)
        ]
        write_parquet(folder / f"inc{k:03d}-{s}.parquet", rows, DOCUMENT_SCHEMA)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--increments", type=int, default=30)
    parser.add_argument("--docs", type=int, default=1000, help="documents per increment")
    parser.add_argument("--copies", type=float, default=0.1, help="share copied from earlier")
    parser.add_argument("--runner", default="threads", choices=["threads", "processes"])
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    set_enabled(False)  # one table line per increment instead
    pool = real_text.paragraphs()
    vocabulary = sorted({w for p in pool[:5000] for w in p.split()})
    with tempfile.TemporaryDirectory(prefix="dedup-increments-") as tmp:
        root = Path(tmp)
        earlier: list[str] = []
        rows = []
        print(
            f"{'inc':>4} {'docs in':>8} {'planted':>8} {'exact':>6} {'near':>6} {'within':>7} "
            f"{'index docs':>11} {'lookup s':>9} {'append s':>9} {'total s':>8} {'cpu s':>6}"
        )
        for k in range(args.increments):
            texts, planted = increment_texts(k, args.docs, args.copies, earlier, pool, vocabulary)
            folder = root / "curated" / f"inc{k:03d}"
            write_increment(folder, k, texts)
            params = load_params(
                root / "params.yaml",
                [
                    f"dedup.input=[{folder}/*.parquet]",
                    f"dedup.output={root}/dedup",
                    f"dedup.work_dir={root}/dedup_work",
                    f"dedup.index={root}/dedup_index",
                    f"dedup.metrics={root}/dedup.json",
                    f"dedup.runner={args.runner}",
                    f"dedup.workers={args.workers}",
                    "tracking.enabled=false",
                ],
            )
            started, cpu_started = time.perf_counter(), time.process_time()
            metrics = run_local("dedup", params)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            against = metrics["removed_against_index"]
            seconds = metrics["seconds"]
            row = {
                "docs": metrics["docs_in"],
                "lookup": seconds["index_lookup"],
                "append": seconds["index_append"],
                "total": wall,
                "cpu": cpu,
            }
            rows.append(row)
            within = metrics["exact_duplicates"] + metrics["near_duplicates"]
            print(
                f"{k + 1:>4} {metrics['docs_in']:>8} {planted:>8} {against['exact']:>6} "
                f"{against['near']:>6} {within:>7} "
                f"{metrics['index_docs_after']:>11} {row['lookup']:>9.3f} {row['append']:>9.3f} "
                f"{wall:>8.2f} {cpu:>6.2f}",
                flush=True,
            )
            earlier += texts
    first, last = rows[0], rows[-1]
    head = rows[1:6]  # the first increment has no index to look up: compare with the next ones
    tail = rows[-5:]
    for key in ("lookup", "total", "cpu"):
        late, early = (statistics.median(r[key] for r in part) for part in (tail, head))
        print(
            f"{key:>6}: last/first {last[key] / first[key]:.2f}   "
            f"median of last 5 / median of increments 2-6 {late / early:.2f}"
        )


if __name__ == "__main__":
    main()
