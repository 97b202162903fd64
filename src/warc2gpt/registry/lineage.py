"""Tags that lead a registered model back to its code and data: git revision, dvc.lock, stats.

`dvc.lock` records the content hash of every stage output, so its own hash (and the hashes of
the outputs it lists) name the exact data a model was trained on.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterable
from pathlib import Path

import yaml

from warc2gpt.tracking import numeric_metrics

# MLflow caps tag values; a hash or a figure is far below this.
MAX_TAG_CHARS = 5000


def git_revision(cwd: str | Path = ".") -> str | None:
    """HEAD's commit, with `-dirty` when tracked files differ from it; None outside git."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()

    try:
        revision = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{revision}-dirty" if dirty else revision


def dvc_lock_tags(path: str | Path) -> dict[str, str]:
    """sha256 of dvc.lock, and the recorded hash of each stage output it lists."""
    path = Path(path)
    if not path.is_file():
        return {}
    data = path.read_bytes()
    tags = {"dvc.lock.sha256": hashlib.sha256(data).hexdigest()}
    try:
        lock = yaml.safe_load(data) or {}
    except yaml.YAMLError:
        return tags  # the file hash still pins it; the per-output view is a convenience
    for stage, info in (lock.get("stages") or {}).items():
        for out in (info or {}).get("outs") or []:
            digest = out.get("md5") or out.get("etag") or out.get("checksum")
            if out.get("path") and digest:
                tags[f"dvc.out.{out['path']}"] = str(digest)
        tags.setdefault(f"dvc.stage.{stage}", "locked")
    return tags


def data_stat_tags(metric_files: Iterable[str | Path]) -> dict[str, str]:
    """Numeric figures of the stage metrics files that exist, as `data.<file stem>.<key>` tags."""
    tags: dict[str, str] = {}
    for path in map(Path, metric_files):
        if not path.is_file():
            continue
        try:
            metrics = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            continue  # a half-written file from a killed stage: no figures rather than none at all
        if isinstance(metrics, dict):
            for key, value in numeric_metrics(metrics, prefix=path.stem).items():
                tags[f"data.{key}"] = f"{value:g}"
    return tags


def lineage_tags(
    dvc_lock: str | Path, metric_files: Iterable[str | Path], cwd: str | Path = "."
) -> dict[str, str]:
    """Every lineage tag for a model version."""
    tags: dict[str, str] = {}
    revision = git_revision(cwd)
    if revision:
        tags["git.revision"] = revision
    tags.update(dvc_lock_tags(dvc_lock))
    tags.update(data_stat_tags(metric_files))
    return {k: v[:MAX_TAG_CHARS] for k, v in tags.items()}
