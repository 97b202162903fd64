"""Atomic writes: a file appears whole under its name or not at all, and a folder a stage
produces as a whole is built beside it and swapped in, so a failed or killed run leaves the
previous outputs complete and usable.

Standard library only: the bare training entry (`python -m warc2gpt.train`) writes through it on
machines without the data stack.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

# The names `atomic_path` gives; one found in a folder is what a killed writer left.
_TEMPORARY_NAME = re.compile(r"^\..+\.tmp-\d+$")


def atomic_path(path: str | Path) -> Path:
    """A temporary sibling name whose rename onto `path` completes a write."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


@contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yields a temporary sibling of `path` to write; it is renamed onto `path` when the block
    ends normally and removed when the block raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = atomic_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> None:
    """`text` (UTF-8) to `path`, atomically."""
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, data: Any) -> None:
    """`data` as indented JSON with sorted keys, atomically."""
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def staging_path(output: str | Path) -> Path:
    """Where the next version of the folder `output` is built: `.<name>.staging` beside it."""
    output = Path(os.path.abspath(output))
    return output.with_name(f".{output.name}.staging")


def previous_path(output: str | Path) -> Path:
    """Where the replaced version of `output` waits during a swap: `.<name>.previous`."""
    output = Path(os.path.abspath(output))
    return output.with_name(f".{output.name}.previous")


def restore_interrupted_swap(output: str | Path) -> None:
    """Finish what a swap killed halfway left: the previous version put back when the new one
    never arrived, or removed when it did."""
    output, previous = Path(output), previous_path(output)
    if not (previous.exists() or previous.is_symlink()):
        return
    if output.exists() or output.is_symlink():
        _remove(previous)
    else:
        os.replace(previous, output)


class StagedDirectory:
    """A stage's output folder, rebuilt in a staging folder beside it and swapped in whole.

    While the stage works, `output` keeps the previous run's complete folder. `commit` renames
    that folder aside, renames the staging folder in, and only then removes the old one, so at
    every instant a complete version exists (a swap killed between the renames is undone by the
    next run). Leaving the `with` block without `commit` (an exception) removes the staging
    folder and leaves `output` as it was.

    `owns(name)` says which top-level entries of the folder are the stage's: the new version
    replaces those, and any other entry of the old folder is carried into the new one.
    """

    def __init__(self, output: str | Path, owns: Callable[[str], bool]) -> None:
        self.output = Path(output)
        self.path = staging_path(output)
        self.owns = owns
        self.committed = False

    def __enter__(self) -> StagedDirectory:
        here = Path.cwd().resolve()
        target = self.output.resolve()
        if target == here or target in here.parents:
            raise ValueError(
                f"{self.output}: a stage replaces its output folder whole, and this one holds "
                "the working directory; point the setting at a folder of its own"
            )
        restore_interrupted_swap(self.output)
        _remove(self.path)
        self.path.mkdir(parents=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.committed:
            _remove(self.path)

    def stale(self) -> list[str]:
        """The stage's files in `output` that the new version lacks, what `commit` drops: their
        paths inside the folder (`removed/a.parquet`)."""
        if not self.output.is_dir():
            return []
        found = []
        for path in sorted(self.output.rglob("*")):
            inside = path.relative_to(self.output)
            if path.is_dir() or not self.owns(inside.parts[0]) or (self.path / inside).exists():
                continue
            found.append(inside.as_posix())
        return found

    def commit(self) -> None:
        """Swap the staging folder in as `output` and remove the previous version."""
        old = self.output
        if old.is_dir():
            for entry in old.iterdir():
                kept = self.path / entry.name
                if not (self.owns(entry.name) or _TEMPORARY_NAME.match(entry.name)) and not (
                    kept.exists() or kept.is_symlink()
                ):
                    _carry(entry, kept)
        previous = previous_path(old)
        _remove(previous)
        if old.exists() or old.is_symlink():
            os.replace(old, previous)
        os.replace(self.path, old)
        self.committed = True
        _remove(previous)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _carry(source: Path, target: Path) -> None:
    """Put `source` at `target` too, leaving `source` whole (hard links where possible)."""
    if source.is_symlink():
        os.symlink(os.readlink(source), target)
    elif source.is_dir():
        shutil.copytree(source, target, symlinks=True, copy_function=_link_or_copy)
    else:
        _link_or_copy(source, target)


def _link_or_copy(source: str | Path, target: str | Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
