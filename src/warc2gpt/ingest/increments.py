"""The increments state file (`ingest.state`): which WARC files each scheduled increment took.

With `ingest.mode: increment` every ingest run takes the next `ingest.per_run` files its sources
name that no earlier increment took, and once they are all downloaded appends one entry:

    {"increments": [{"id": 1, "files": ["a.warc.gz"], "sources": ["https://.../a.warc.gz"],
                     "sha256": "<sha256 of the file names joined by newlines>",
                     "taken_at": "2024-06-01T02:00:00+00:00"}, ...]}

Later stages read the last entry's id: it names what `ingest.output` holds now (tokenize tags
its shards with it). Standard library only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from warc2gpt.atomic import write_text


class IncrementStateError(ValueError):
    """A state file that cannot be read as the list of earlier increments."""


def read_increments(path: str | Path) -> list[dict[str, Any]]:
    """The increments recorded in the state file, oldest first; none when it does not exist."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["increments"]
        if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e["id"], int) and isinstance(e["files"], list)
            for e in entries
        ):
            raise TypeError("expected a list of {id, files, ...} entries")
    except (ValueError, KeyError, TypeError) as exc:
        raise IncrementStateError(
            f"{path}: not an increments state file ({type(exc).__name__}: {exc}); restore it "
            "(`git checkout` or a backup): without it every file would count as new"
        ) from None
    return entries


def current_increment(path: str | Path) -> int:
    """The id of the last recorded increment; 0 when none is recorded."""
    entries = read_increments(path)
    return entries[-1]["id"] if entries else 0


def taken_files(entries: Iterable[dict[str, Any]]) -> set[str]:
    """Every file name an earlier increment took."""
    return {name for entry in entries for name in entry["files"]}


def names_digest(names: Sequence[str]) -> str:
    """sha256 of the file names joined by newlines: one increment's identity."""
    return hashlib.sha256("\n".join(names).encode("utf-8")).hexdigest()


def new_increment(
    earlier: Sequence[dict[str, Any]], files: Sequence[str], sources: Sequence[str]
) -> dict[str, Any]:
    """The entry of the increment after `earlier`: the files it took and where from."""
    return {
        "id": max((e["id"] for e in earlier), default=0) + 1,
        "files": list(files),
        "sources": list(sources),
        "sha256": names_digest(files),
        "taken_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_increments(path: str | Path, entries: Sequence[dict[str, Any]]) -> None:
    """The state file holding `entries`, written atomically."""
    write_text(path, json.dumps({"increments": list(entries)}, indent=1) + "\n")
