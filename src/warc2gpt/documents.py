"""The document schema that stages exchange, and atomic Parquet shard writing.

Documents travel as Parquet rows (zstd). Kept documents carry `id, url, date, text, language,
language_score` plus stage-specific columns; removed documents add `filter_reason`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from warc2gpt.atomic import atomic_path, atomic_write  # noqa: F401 - atomic_path re-exported

DOCUMENT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("url", pa.string()),
        ("date", pa.string()),
        ("text", pa.string()),
        ("language", pa.string()),
        ("language_score", pa.float32()),
        ("source_file", pa.string()),
        ("source_offset", pa.int64()),
        ("pii_replacements", pa.int32()),
    ]
)
REMOVED_SCHEMA = DOCUMENT_SCHEMA.append(pa.field("filter_reason", pa.string()))


@dataclass
class Document:
    """One web page's text on its way through the filters."""

    id: str
    url: str
    text: str
    date: str = ""
    language: str = ""
    language_score: float = 0.0
    source_file: str = ""
    source_offset: int = -1
    pii_replacements: int = 0
    # Scratch space filters may share (e.g. word splits); never written out.
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in DOCUMENT_SCHEMA.names}


def write_parquet(path: str | Path, rows: Iterable[dict[str, Any]], schema: pa.Schema) -> int:
    """Write rows to `path` atomically (temporary file + rename); returns the row count."""
    rows = list(rows)
    table = pa.Table.from_pylist(rows, schema=schema)
    with atomic_write(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return len(rows)


def iter_documents(
    paths: Iterable[str | Path], columns: list[str] | None = None, batch_size: int = 1024
) -> Iterator[dict[str, Any]]:
    """Stream rows from Parquet shards without loading whole files."""
    for path in paths:
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=batch_size, columns=columns):
            yield from batch.to_pylist()


def iter_texts(paths: Iterable[str | Path], batch_size: int = 1024) -> Iterator[str]:
    """Stream the `text` column of Parquet shards."""
    for row in iter_documents(paths, columns=["text"], batch_size=batch_size):
        yield row["text"]
