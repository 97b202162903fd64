"""What the flow tests share: `flows` importable in worker processes, shards read back."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def importable_flows(monkeypatch) -> None:
    """Worker processes import `flows` (task code travels by reference) from the project root."""
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    )


@pytest.fixture
def read_shards() -> Callable[[Path], dict[str, list[dict]]]:
    """Every Parquet shard under a folder (kept and removed), as rows by relative path."""

    def read(directory: Path) -> dict[str, list[dict]]:
        return {
            str(p.relative_to(directory)): pq.read_table(p).to_pylist()
            for p in sorted(directory.rglob("*.parquet"))
        }

    return read
