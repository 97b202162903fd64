"""What leads a registered model back to its code and data: a few tags and one JSON record.

`dvc.lock` records the content hash of every stage output, so its own sha256 names the exact
data a model was trained on. A model version carries that hash, the git revision and a handful
of figures as tags (lineage first, so the registry UI stays readable); the full record (the
hash of each output dvc.lock lists and every numeric figure of the stage metrics) is one JSON
artifact, `lineage.json`, on the run that logged the model.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from warc2gpt.tracking import numeric_metrics

LINEAGE_ARTIFACT = "lineage.json"
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


def lineage_record(
    dvc_lock: str | Path, by_stage: Mapping[str, Mapping[str, Any]], cwd: str | Path = "."
) -> dict[str, Any]:
    """The full lineage of a model: git revision, dvc.lock and every stage figure."""
    return {
        "git_revision": git_revision(cwd),
        "dvc_lock": dvc_lock_record(dvc_lock),
        "figures": stage_figures(by_stage),
    }


def lineage_tags(record: dict[str, Any]) -> dict[str, str]:
    """The version's lineage tags, in order: git revision, dvc.lock hash, then FIGURE_TAGS."""
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
    return tags
