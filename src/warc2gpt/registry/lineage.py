"""What leads a registered model back to its code and data: a few tags and one JSON record.

`dvc.lock` records the content hash of every stage output, so its own sha256 names the exact
data a model was trained on. A model version carries that hash, the git revision and a handful
of figures as tags (lineage first, so the registry UI stays readable); the full record (the
hash of each output dvc.lock lists and every numeric figure of the stage metrics) is one JSON
artifact, `lineage.json`, on the run that logged the model.

A model trained on scheduled increments also records what it has seen and where it came from:
the increments up to its own in the ingest state file (their count, the count of their WARC
files and the sha256 of that list, the list itself as `warc_files.txt`), and the model it
continued (its training summary's `parent`): the tags `data.increments` and `model.parent`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from warc2gpt.tracking import numeric_metrics

log = logging.getLogger(__name__)

LINEAGE_ARTIFACT = "lineage.json"
WARC_FILES_ARTIFACT = "warc_files.txt"
# Tag -> the figures it may come from (`<stage>.<key>`), the first one present wins.
FIGURE_TAGS: dict[str, tuple[str, ...]] = {
    "data.documents": ("dedup.docs_out", "curate.kept"),
    "data.train_tokens": ("tokenize.train_tokens",),
    "model.params": ("evaluate.model_params", "train.params"),
}


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


def dvc_lock_record(path: str | Path) -> dict[str, Any]:
    """sha256 of dvc.lock, its stages, and the recorded hash of each stage output it lists."""
    path = Path(path)
    if not path.is_file():
        return {}
    data = path.read_bytes()
    record: dict[str, Any] = {"sha256": hashlib.sha256(data).hexdigest()}
    try:
        lock = yaml.safe_load(data) or {}
    except yaml.YAMLError:
        return record  # the file hash still pins it; the per-output view is a convenience
    outputs = {}
    for info in (lock.get("stages") or {}).values():
        for out in (info or {}).get("outs") or []:
            digest = out.get("md5") or out.get("etag") or out.get("checksum")
            if out.get("path") and digest:
                outputs[out["path"]] = str(digest)
    record["stages"] = sorted(lock.get("stages") or {})
    record["outputs"] = outputs
    return record


def stage_figures(by_stage: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """Every numeric figure of each stage's last run, as `<stage>.<key>`."""
    figures: dict[str, float] = {}
    for stage, values in by_stage.items():
        figures.update(numeric_metrics(values, prefix=stage))
    return figures


def warc_files_seen(state_file: str | Path, increment: int | None) -> dict[str, Any]:
    """The increments up to `increment` (every one when None) in the ingest state file and
    their WARC files: {"count", "ids", "warc_files", "sha256", "files"}; {} without the file.

    The sha256 is of the file names joined by newlines, as the state file hashes one
    increment's, so a model of one increment carries that increment's hash.
    """
    path = Path(state_file)
    if not path.is_file():
        return {}
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["increments"]
        seen = [e for e in entries if increment is None or int(e["id"]) <= increment]
        files = [str(name) for entry in seen for name in entry["files"]]
        ids = [int(e["id"]) for e in seen]
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("%s is not an increments state file (%s): lineage without it", path, exc)
        return {}
    return {
        "count": len(seen),
        "ids": ids,
        "warc_files": len(files),
        "sha256": hashlib.sha256("\n".join(files).encode("utf-8")).hexdigest(),
        "files": files,
    }


def lineage_record(
    dvc_lock: str | Path,
    by_stage: Mapping[str, Mapping[str, Any]],
    cwd: str | Path = ".",
    *,
    increments: Mapping[str, Any] | None = None,
    parent: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The full lineage of a model: git revision, dvc.lock and every stage figure; the
    increments it has seen (`warc_files_seen`, the file list left to its own artifact) and
    the model it continued, when there are."""
    record: dict[str, Any] = {
        "git_revision": git_revision(cwd),
        "dvc_lock": dvc_lock_record(dvc_lock),
        "figures": stage_figures(by_stage),
    }
    if increments:
        record["increments"] = {k: v for k, v in increments.items() if k != "files"}
        record["increments"]["files_artifact"] = WARC_FILES_ARTIFACT
    if parent:
        record["parent"] = dict(parent)
    return record


def parent_tag(parent: Mapping[str, Any], model_name: str) -> str | None:
    """The parent as the version tag names it: its version when it is one of `model_name`'s,
    `NAME/VERSION` for another registered model, else its source (a folder, a runs:/ URI)."""
    version = parent.get("version")
    if version is None:
        return parent.get("uri") or parent.get("source")
    name = parent.get("model_name")
    return str(version) if name in (None, model_name) else f"{name}/{version}"


def lineage_tags(record: dict[str, Any], model_name: str = "") -> dict[str, str]:
    """The version's lineage tags, in order: git revision, dvc.lock hash, FIGURE_TAGS, the
    increments seen and the parent (`model_name` is the registered model being tagged)."""
    tags: dict[str, str] = {}
    if record.get("git_revision"):
        tags["git.revision"] = record["git_revision"]
    if record.get("dvc_lock", {}).get("sha256"):
        tags["dvc.lock.sha256"] = record["dvc_lock"]["sha256"]
    figures = record.get("figures", {})
    for tag, sources in FIGURE_TAGS.items():
        value = next((figures[s] for s in sources if s in figures), None)
        if value is not None:
            tags[tag] = str(int(value)) if float(value).is_integer() else f"{value:.6f}"
    # One tag for both counts: a version's tags stay few enough to read at a glance.
    if record.get("increments"):
        seen = record["increments"]
        tags["data.increments"] = f"{seen['count']} ({seen['warc_files']} WARC files)"
    if record.get("parent"):
        value = parent_tag(record["parent"], model_name)
        if value:
            tags["model.parent"] = value
    return tags
