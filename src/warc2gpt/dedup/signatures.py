"""Step 1, one task per shard: exact hashes and MinHash signatures of every document, then the
shard's band buckets (band keys sorted, with their rows) written to the work directory."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from warc2gpt.atomic import atomic_write
from warc2gpt.dedup.minhash import EMPTY, MinHasher
from warc2gpt.dedup.plan import EXACT, DedupPlan, atomic_save
from warc2gpt.mapper import advance


def hasher_for(plan: DedupPlan) -> MinHasher:
    s = plan.settings
    return MinHasher(
        ngram=s.ngram, bands=s.bands, rows=s.rows, seed=s.seed, fold_digits=s.fold_digits
    )


def _load_stats(path: os.PathLike) -> dict[str, Any]:
    with np.load(path) as stored:
        return {
            "docs": int(stored["docs"]),
            "seconds": float(stored["seconds"]),
            "cpu_seconds": float(stored["cpu_seconds"]),
            "resumed": True,
        }


def shard_signatures(plan: DedupPlan, shard: int) -> dict[str, Any]:
    """Hash one shard; a shard whose bucket file exists is done and is not read again."""
    out = plan.signature_path(shard)
    if out.exists():
        return _load_stats(out)
    started, cpu_started = time.perf_counter(), time.process_time()
    settings = plan.settings
    hasher = hasher_for(plan)
    source = plan.inputs[shard]
    parquet = pq.ParquetFile(source)
    if "text" not in parquet.schema_arrow.names:
        raise ValueError(
            f"{source}: no `text` column; dedup reads document shards "
            f"(warc2gpt.documents.DOCUMENT_SCHEMA)"
        )
    n_docs = parquet.metadata.num_rows
    exact = np.empty(n_docs, dtype=np.uint64)
    signatures = np.empty((n_docs, hasher.num_hashes) if settings.near else (0, 0), np.uint64)
    row = 0
    for batch in parquet.iter_batches(batch_size=settings.batch_size, columns=["text"]):
        texts = [t or "" for t in batch.column(0).to_pylist()]
        words, offsets = hasher.words(texts)
        exact[row : row + len(texts)] = hasher.exact_hashes(words, offsets)
        if settings.near:
            grams, gram_offsets = hasher.shingles(words, offsets)
            signatures[row : row + len(texts)] = hasher.signatures_of_shingles(grams, gram_offsets)
        row += len(texts)
        advance(len(texts))
    if row != n_docs:
        raise ValueError(
            f"{source}: read {row} rows but the footer says {n_docs}; the file "
            "may be truncated: rerun the curate stage for it"
        )

    buckets: dict[str, np.ndarray] = {}
    if settings.exact:
        _add_bucket(buckets, EXACT, exact, np.arange(n_docs, dtype=np.uint32))
    if settings.near:
        _save_npy(plan.minhash_path(shard), signatures)
        # A document without words has no shingles: it would share every band with the others.
        has_words = np.flatnonzero(signatures[:, 0] != EMPTY).astype(np.uint32)
        keys = hasher.band_keys(signatures[has_words])
        for band in range(settings.bands):
            _add_bucket(buckets, f"band{band:03d}", keys[:, band], has_words)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    atomic_save(
        out,
        docs=np.int64(n_docs),
        seconds=np.float64(seconds),
        cpu_seconds=np.float64(cpu_seconds),
        **buckets,
    )
    return {"docs": n_docs, "seconds": seconds, "cpu_seconds": cpu_seconds, "resumed": False}


def _add_bucket(
    buckets: dict[str, np.ndarray], name: str, keys: np.ndarray, rows: np.ndarray
) -> None:
    order = np.argsort(keys, kind="stable")
    buckets[f"{name}_keys"] = keys[order]
    buckets[f"{name}_rows"] = rows[order]


def _save_npy(path: os.PathLike, array: np.ndarray) -> None:
    with atomic_write(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array)
