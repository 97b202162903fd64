"""Step 4, one task per shard: copy the shard without the documents the clustering (and, with
`dedup.index`, the index) removed, streamed batch by batch, and put the removed ones, with their
reason (and the earlier document's id: `duplicate_of`), next to it. Both go to the run's staging
folder (`DedupPlan.staging`), which the stage swaps in once every shard is done."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from warc2gpt.atomic import atomic_path, write_json
from warc2gpt.dedup import earlier
from warc2gpt.dedup.clusters import REASONS
from warc2gpt.dedup.plan import DedupPlan, split_ids
from warc2gpt.mapper import advance

TEXT_HEAD_CHARS = 160
# Rows read and written at a time: each write becomes a row group, so not too small.
FILTER_BATCH_ROWS = 8192


class _AtomicParquet:
    """A streaming Parquet writer that appears under its name only once closed successfully."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.tmp = atomic_path(path)
        self.writer = pq.ParquetWriter(self.tmp, schema, compression="zstd")

    def write(self, table: pa.Table | pa.RecordBatch) -> None:
        if table.num_rows:
            self.writer.write(table)

    def commit(self) -> None:
        self.writer.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self.writer.close()
        self.tmp.unlink(missing_ok=True)


def sample_gids(plan: DedupPlan) -> set[int]:
    if not plan.clusters_path.exists():
        return set()
    summary = json.loads(plan.clusters_path.read_text(encoding="utf-8"))
    return {g for pair in summary.get("samples", []) for g in (pair["removed"], pair["kept"])}


def filter_shard(plan: DedupPlan, shard: int) -> dict[str, Any]:
    """Write `<name>.parquet` (and `removed/<name>.parquet`) into the staging folder; done when
    its stats and staged files exist (a call repeated within a run, after a lost worker)."""
    stats_path = plan.filter_stats_path(shard)
    outputs = [plan.staged_output_path(shard)]
    if plan.settings.write_removed:
        outputs.append(plan.staged_removed_path(shard))
    if stats_path.exists() and all(path.exists() for path in outputs):
        stats = json.loads(stats_path.read_text(encoding="utf-8"))
        stats["resumed"] = True
        return stats
    started = time.perf_counter()
    removed_path = plan.removed_ids_path(shard)
    if not removed_path.exists():
        raise FileNotFoundError(
            f"{removed_path}: the removal list of shard {shard} is missing; "
            "run the clustering step first"
        )
    with np.load(removed_path) as stored:
        rows, reasons = stored["rows"], stored["reasons"]
    reason_of = REASONS
    duplicate_of = None  # with dedup.index: the earlier document's id, per removed row
    if plan.settings.index:
        rows, reasons, duplicate_of = earlier.removals(plan, shard, rows, reasons)
        reason_of = {**REASONS, **earlier.EARLIER_REASONS}
    wanted = {}
    for gid in sample_gids(plan):
        s, r = split_ids(np.array([gid], dtype=np.uint64))
        if int(s[0]) == shard:
            wanted[int(r[0])] = gid
    reason_names = np.array([reason_of[k] for k in sorted(reason_of)], dtype=object)

    source = pq.ParquetFile(plan.inputs[shard])
    schema = source.schema_arrow
    kept = _AtomicParquet(plan.staged_output_path(shard), schema)
    dropped = None
    if plan.settings.write_removed:
        added = ["filter_reason"] + (["duplicate_of"] if duplicate_of is not None else [])
        removed_schema = schema
        for name in added:
            if name not in schema.names:
                removed_schema = removed_schema.append(pa.field(name, pa.string()))
        dropped = _AtomicParquet(plan.staged_removed_path(shard), removed_schema)
    counts = {"docs_in": 0, "kept": 0, **{name: 0 for name in reason_of.values()}}
    samples: dict[str, dict[str, str]] = {}
    try:
        start = 0
        for batch in source.iter_batches(batch_size=FILTER_BATCH_ROWS):
            n = batch.num_rows
            advance(n)
            lo, hi = np.searchsorted(rows, [start, start + n])
            keep = np.ones(n, dtype=bool)
            local = rows[lo:hi] - start
            keep[local] = False
            kept.write(batch.filter(pa.array(keep)))
            counts["docs_in"] += n
            counts["kept"] += int(keep.sum())
            for code, name in reason_of.items():
                counts[name] += int((reasons[lo:hi] == code).sum())
            if dropped is not None and hi > lo:
                gone = pa.Table.from_batches([batch.take(pa.array(local))])
                gone = gone.drop_columns([n for n in added if n in gone.schema.names])
                reason_column = pa.array(reason_names[reasons[lo:hi]].tolist(), pa.string())
                gone = gone.append_column("filter_reason", reason_column)
                if duplicate_of is not None:
                    ids = [i or None for i in duplicate_of[lo:hi].tolist()]
                    gone = gone.append_column("duplicate_of", pa.array(ids, pa.string()))
                dropped.write(gone)
            for row in [r for r in wanted if start <= r < start + n]:
                record = batch.slice(row - start, 1).to_pylist()[0]
                samples[str(wanted[row])] = {
                    "id": str(record.get("id", "")),
                    "url": str(record.get("url", "")),
                    "text": (record.get("text") or "")[:TEXT_HEAD_CHARS],
                }
            start += n
        if dropped is not None:
            dropped.commit()
        kept.commit()
    except BaseException:
        kept.abort()
        if dropped is not None:
            dropped.abort()
        raise
    stats = {
        "shard": shard,
        "input": plan.inputs[shard],
        "output": str(plan.output_path(shard)),
        **counts,
        "samples": samples,
        "seconds": time.perf_counter() - started,
    }
    write_json(stats_path, stats)
    stats["resumed"] = False
    return stats
