"""Near-duplicate detection quality of the dedup stage on real text with planted near-duplicates.

Every base document may get one copy with a known fraction of its words replaced; the true
Jaccard similarity of each pair is computed on the same normalised 5-gram shingles the stage
uses. The stage then runs as in production (Parquet shards in, Parquet out), and the table shows
the detection rate per similarity bin next to the LSH S-curve 1-(1-s^r)^b, then recall and
precision at Jaccard 0.8 and 0.9.

    python benchmarks/dedup_quality.py [--docs 4000] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import real_text  # noqa: E402

from warc2gpt.config import load_params  # noqa: E402
from warc2gpt.dedup.minhash import MinHasher, lsh_probability  # noqa: E402
from warc2gpt.dedup.plan import prepare, split_ids  # noqa: E402
from warc2gpt.documents import DOCUMENT_SCHEMA, write_parquet  # noqa: E402
from warc2gpt.stages import run_local  # noqa: E402

EDIT_FRACTIONS = [0.0, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.07, 0.1, 0.15]
BINS = [0.0, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0001]
SHARDS = 4


def shingles(hasher: MinHasher, texts: list[str]) -> list[set[int]]:
    words, offsets = hasher.words(texts)
    grams, gram_offsets = hasher.shingles(words, offsets)
    return [set(grams[gram_offsets[i] : gram_offsets[i + 1]].tolist()) for i in range(len(texts))]


def jaccard(a: set[int], b: set[int]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=4000, help="base documents")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    pool = real_text.paragraphs()
    vocabulary = sorted({w for p in pool[:5000] for w in p.split()})
    bases = real_text.documents(args.docs, seed=args.seed, min_paragraphs=2, pool=pool)
    copies = [(i, rng.choice(EDIT_FRACTIONS)) for i in range(0, args.docs, 2)]
    texts = bases + [real_text.edit_words(bases[i], f, rng, vocabulary) for i, f in copies]
    # Copies come after every base in shard order, so the base is the survivor of its pair.
    settings = load_params("params.yaml").dedup
    hasher = MinHasher(
        settings.ngram, settings.bands, settings.rows, settings.seed, settings.fold_digits
    )

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        per_shard = -(-len(texts) // SHARDS)
        position = {}
        for s in range(SHARDS):
            chunk = range(s * per_shard, min(len(texts), (s + 1) * per_shard))
            rows = [{"id": str(i), "url": f"doc/{i}", "text": texts[i]} for i in chunk]
            position.update({(s, r): i for r, i in enumerate(chunk)})
            write_parquet(root / f"in/{s:02d}.parquet", rows, DOCUMENT_SCHEMA)
        params = load_params(
            "params.yaml",
            [
                f"dedup.input=[{root}/in/*.parquet]",
                f"dedup.output={root}/out",
                f"dedup.work_dir={root}/work",
                f"dedup.metrics={root}/dedup.json",
                "dedup.workers=1",
                "dedup.exact=false",
                "tracking.enabled=false",
            ],
        )
        metrics = run_local("dedup", params)
        plan = prepare(params.dedup)
        removed: dict[int, int] = {}  # removed document -> the document it duplicates
        for s in range(SHARDS):
            with np.load(plan.removed_ids_path(s)) as stored:
                for row, keeper in zip(stored["rows"], stored["keepers"], strict=True):
                    ks, kr = split_ids(np.array([keeper], dtype=np.uint64))
                    removed[position[(s, int(row))]] = position[(int(ks[0]), int(kr[0]))]

    sets = shingles(hasher, texts)
    pair_j = np.array([jaccard(sets[i], sets[args.docs + k]) for k, (i, _) in enumerate(copies)])
    found = np.array([args.docs + k in removed for k in range(len(copies))])
    expected = lsh_probability(pair_j, settings.bands, settings.rows)

    print(
        f"dedup quality: {len(bases)} real-text documents + {len(copies)} edited copies, "
        f"{settings.ngram}-gram shingles, {settings.bands} bands x {settings.rows} rows "
        f"({metrics['seconds']['total']:.1f} s)"
    )
    print()
    print(f"{'true Jaccard':>14} {'pairs':>6} {'found':>6} {'rate':>6} {'S-curve':>8}")
    for lo, hi in zip(BINS[:-1], BINS[1:], strict=True):
        in_bin = (pair_j >= lo) & (pair_j < hi)
        if in_bin.any():
            label = f"[{lo:.2f}, {min(hi, 1):.2f}{']' if hi > 1 else ')'}"
            print(
                f"{label:>14} {in_bin.sum():>6} {found[in_bin].sum():>6} "
                f"{found[in_bin].mean():>6.3f} {expected[in_bin].mean():>8.3f}"
            )
    print()
    print(f"{'threshold':>9} {'recall':>7} {'S-curve':>8} {'precision':>10} {'removed':>8}")
    removed_j = {doc: jaccard(sets[doc], sets[keeper]) for doc, keeper in removed.items()}
    for t in (0.7, 0.8, 0.9):
        above = pair_j >= t
        recall = found[above].mean() if above.any() else float("nan")
        precision = np.mean([j >= t for j in removed_j.values()]) if removed_j else float("nan")
        print(
            f"{t:>9.1f} {recall:>7.3f} {expected[above].mean():>8.3f} {precision:>10.3f} "
            f"{len(removed_j):>8}"
        )
    unrelated = [d for d in removed if d < args.docs and removed[d] < args.docs]
    print(
        f"\nbase documents removed as duplicates of other bases: {len(unrelated)} "
        f"(their true Jaccard: {sorted(round(removed_j[d], 3) for d in unrelated)[:10]})"
    )
    print(
        "precision: share of removed documents whose true Jaccard with the kept one is at least "
        "the threshold;\n  it depends on how many planted pairs lie just below it "
        f"(edit fractions drawn from {EDIT_FRACTIONS})"
    )
    print(
        f"S-curve: P(0.8) = {lsh_probability(0.8, settings.bands, settings.rows):.3f}, "
        f"P(0.9) = {lsh_probability(0.9, settings.bands, settings.rows):.3f}"
    )


if __name__ == "__main__":
    main()
