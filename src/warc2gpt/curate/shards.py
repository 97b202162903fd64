"""The shards of one input file, written as the file is read: memory stays flat, a killed run
resumes inside the file.

Kept and removed documents are buffered up to `flush_docs` (or `FLUSH_BYTES` of text), then
written as one part under `<output>/.partial/<name>/` followed by a checkpoint: the reader's
position (the offset of the last page handled) and every count so far. A run that finds a
checkpoint made with the same fingerprint loads its counts, drops parts written after it, and
reads on from that offset. When the file ends, the parts become the row groups of the final
shards (written to a temporary name and renamed), and the partial folder goes.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from warc2gpt.documents import DOCUMENT_SCHEMA, REMOVED_SCHEMA, atomic_path
from warc2gpt.tracking import write_metrics

# A buffer is flushed at whichever comes first: `flush_docs` documents or this much text.
FLUSH_BYTES = 16 << 20
PARTIAL = ".partial"
KINDS = {"kept": DOCUMENT_SCHEMA, "removed": REMOVED_SCHEMA}


def paths_for(output: str | Path, name: str) -> tuple[Path, Path, Path]:
    """(kept shard, removed shard, stats marker) of one input file."""
    out = Path(output)
    return (
        out / f"{name}.parquet",
        out / "removed" / f"{name}.parquet",
        out / "stats" / f"{name}.json",
    )


def partial_dir(output: str | Path, name: str) -> Path:
    return Path(output) / PARTIAL / name


class FileShards:
    """The kept and removed shards of one input file, streamed in parts with checkpoints."""

    def __init__(self, output: str | Path, name: str, fingerprint: str, flush_docs: int):
        self.final = dict(zip(KINDS, paths_for(output, name)[:2], strict=True))
        self.dir = partial_dir(output, name)
        self.fingerprint = fingerprint
        self.flush_docs = flush_docs
        self.rows: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
        self.text_bytes = 0
        self.parts = 0

    @property
    def checkpoint(self) -> Path:
        return self.dir / "checkpoint.json"

    def part(self, kind: str, index: int) -> Path:
        return self.dir / f"{kind}-{index:05d}.parquet"

    def resume(self) -> dict[str, Any] | None:
        """The state saved by an interrupted run of the same work, or None (then starts clean)."""
        state = None
        if self.checkpoint.exists():
            try:
                saved = json.loads(self.checkpoint.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                saved = {}
            if saved.get("fingerprint") == self.fingerprint:
                state = saved
        if state is None:
            self.discard()
            return None
        self.parts = int(state["parts"])
        for path in self.dir.glob("*.parquet"):  # parts written after the last checkpoint
            if int(path.stem.rsplit("-", 1)[1]) >= self.parts:
                path.unlink()
        return state

    def add(self, row: dict[str, Any], removed: bool) -> None:
        self.rows["removed" if removed else "kept"].append(row)
        self.text_bytes += len(row["text"])

    @property
    def full(self) -> bool:
        pending = len(self.rows["kept"]) + len(self.rows["removed"])
        return pending >= self.flush_docs or self.text_bytes >= FLUSH_BYTES

    def flush(self, state: dict[str, Any]) -> None:
        """Write the buffered documents as the next part, then the checkpoint `state`."""
        self.dir.mkdir(parents=True, exist_ok=True)
        for kind, schema in KINDS.items():
            if self.rows[kind]:
                _write(self.part(kind, self.parts), [_table(self.rows[kind], schema)], schema)
        self.parts += 1
        self.rows = {kind: [] for kind in KINDS}
        self.text_bytes = 0
        write_metrics(
            self.checkpoint, {**state, "fingerprint": self.fingerprint, "parts": self.parts}
        )

    def finish(self) -> None:
        """The parts and what is still buffered become the final shards; the parts go."""
        for kind, schema in KINDS.items():
            parts = [self.part(kind, i) for i in range(self.parts)]
            tables = (pq.read_table(p) for p in parts if p.exists())
            tail = [_table(self.rows[kind], schema)] if self.rows[kind] else []
            _write(self.final[kind], itertools.chain(tables, tail), schema)
        self.discard()

    def discard(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema)


def _write(path: Path, tables, schema: pa.Schema) -> None:
    """Tables as the row groups of one Parquet file, written to a temporary name and renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = atomic_path(path)
    try:
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            wrote = False
            for table in tables:
                writer.write_table(table, row_group_size=max(table.num_rows, 1))
                wrote = True
            if not wrote:
                writer.write_table(schema.empty_table())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def stale_partials(output: str | Path, names: set[str]) -> list[Path]:
    """Partial folders of input files that are no longer among the inputs."""
    root = Path(output) / PARTIAL
    return sorted(p for p in root.glob("*") if p.is_dir() and p.name not in names)
