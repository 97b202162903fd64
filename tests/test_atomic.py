"""Atomic writes: whole files or none, and output folders swapped in whole."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from warc2gpt.atomic import (
    StagedDirectory,
    atomic_write,
    previous_path,
    staging_path,
    write_json,
)
from warc2gpt.tracking import write_metrics


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    write_metrics(path, {"loss": 1.0})
    with pytest.raises(TypeError), atomic_write(path) as tmp:
        tmp.write_text('{"loss": 2.0')  # half of the new file
        raise TypeError("not JSON serializable")
    assert path.read_text() == '{\n  "loss": 1.0\n}\n'
    with pytest.raises(TypeError):
        write_json(path, {"loss": object()})
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def _folder(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True)
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    return path


def _files(path: Path) -> dict[str, str]:
    return {p.relative_to(path).as_posix(): p.read_text() for p in path.rglob("*") if p.is_file()}


def _owns_shards(name: str) -> bool:
    return name.endswith(".bin") or name == "sub"


def test_commit_replaces_the_stages_files_and_keeps_the_others(tmp_path: Path) -> None:
    out = _folder(tmp_path / "out", {"a.bin": "old", "b.bin": "old", "sub/c.bin": "old"})
    (out / "notes.txt").write_text("mine")
    (out / ".a.bin.tmp-99").write_text("what a killed writer left")
    with StagedDirectory(out, _owns_shards) as staged:
        (staged.path / "a.bin").write_text("new")
        assert staged.stale() == ["b.bin", "sub/c.bin"]
        assert _files(out)["a.bin"] == "old"  # nothing changes before the commit
        staged.commit()
    assert _files(out) == {"a.bin": "new", "notes.txt": "mine"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_failure_before_commit_changes_nothing(tmp_path: Path) -> None:
    out = _folder(tmp_path / "out", {"a.bin": "old"})
    with pytest.raises(RuntimeError), StagedDirectory(out, _owns_shards) as staged:
        (staged.path / "a.bin").write_text("new")
        raise RuntimeError("the work failed")
    assert _files(out) == {"a.bin": "old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_swap_killed_between_its_renames_is_undone_by_the_next_run(tmp_path: Path) -> None:
    out = _folder(tmp_path / "out", {"a.bin": "old"})
    # Killed after the old folder went aside, before the new one came in.
    os.replace(out, previous_path(out))
    _folder(staging_path(out), {"a.bin": "half"})
    with StagedDirectory(out, _owns_shards) as staged:
        assert _files(out) == {"a.bin": "old"}  # put back before any work
        assert list(staged.path.iterdir()) == []  # the killed run's staging is not reused
    assert _files(out) == {"a.bin": "old"}  # left without a commit: nothing changes
    # Killed after the new folder came in, before the old one was removed.
    _folder(previous_path(out), {"a.bin": "older"})
    with StagedDirectory(out, _owns_shards):
        pass
    assert _files(out) == {"a.bin": "old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_first_run_creates_the_folder(tmp_path: Path) -> None:
    with StagedDirectory(tmp_path / "new" / "out", _owns_shards) as staged:
        (staged.path / "a.bin").write_text("new")
        assert staged.stale() == []
        staged.commit()
    assert _files(tmp_path / "new" / "out") == {"a.bin": "new"}


def test_the_working_directory_is_never_swapped(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for output in (".", str(tmp_path.parent)):
        with pytest.raises(ValueError, match="holds the working directory"):
            with StagedDirectory(output, _owns_shards):
                pass
