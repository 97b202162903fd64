"""The dedup work directory: which shards take part, where each step writes, and when the
files of an earlier run still apply (same inputs, same settings) or must be thrown away."""

from __future__ import annotations

import glob
import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from warc2gpt.atomic import atomic_write, staging_path, write_json
from warc2gpt.config import DedupSettings
from warc2gpt.dedup.minhash import NORMALISATION

# Settings that change the result of the work files; others (workers, runner, ...) do not.
FINGERPRINT_KEYS = ("exact", "near", "ngram", "bands", "rows", "seed", "fold_digits", "partitions")
SHARD_BITS = 32  # a document's global id: shard index << 32 | row in the shard
EXACT = "exact"
WORK_SUBDIRS = ("signatures", "edges", "removed", "earlier", "filtered")


def global_ids(shard: int, rows: np.ndarray) -> np.ndarray:
    return (np.uint64(shard) << np.uint64(SHARD_BITS)) | rows.astype(np.uint64)


def split_ids(gids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Global ids -> (shard index, row) arrays."""
    gids = np.asarray(gids, dtype=np.uint64)
    return (gids >> np.uint64(SHARD_BITS)).astype(np.int64), (
        gids & np.uint64((1 << SHARD_BITS) - 1)
    ).astype(np.int64)


def resolve_inputs(patterns: Iterable[str]) -> list[Path]:
    """Expand globs into a sorted list of Parquet files; the order fixes each shard's index."""
    found: dict[str, Path] = {}
    for pattern in patterns:
        matches = glob.glob(pattern) if glob.has_magic(pattern) else [pattern]
        for match in matches:
            path = Path(match)
            if path.is_dir():
                for inner in sorted(path.glob("*.parquet")):
                    found[str(inner.resolve())] = inner
            elif path.is_file():
                found[str(path.resolve())] = path
    return [found[k] for k in sorted(found)]


def atomic_save(path: Path, **arrays: np.ndarray) -> None:
    """np.savez to a temporary name, then rename: a reader never sees half a file."""
    with atomic_write(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)


@dataclass(frozen=True)
class DedupPlan:
    """Everything a step needs to find its inputs and outputs; small and picklable."""

    settings: DedupSettings
    inputs: tuple[str, ...]
    work_dir: str
    output: str

    @property
    def work(self) -> Path:
        return Path(self.work_dir)

    @property
    def staging(self) -> Path:
        """Where this run builds the output folder; swapped in once every step is done."""
        return staging_path(self.output)

    def output_path(self, shard: int) -> Path:
        """Where the shard's kept documents are once the run has finished."""
        return Path(self.output) / Path(self.inputs[shard]).name

    def staged_output_path(self, shard: int) -> Path:
        return self.staging / Path(self.inputs[shard]).name

    def staged_removed_path(self, shard: int) -> Path:
        return self.staging / "removed" / Path(self.inputs[shard]).name

    def signature_path(self, shard: int) -> Path:
        """The shard's band keys and exact hashes; written last, so it marks the step done."""
        return self.work / "signatures" / f"{shard:05d}.npz"

    def minhash_path(self, shard: int) -> Path:
        """The shard's full MinHash signatures (rows x hashes), read for Jaccard estimates."""
        return self.work / "signatures" / f"{shard:05d}.minhash.npy"

    def edges_path(self, band: str, part: int) -> Path:
        return self.work / "edges" / f"{band}_p{part:04d}.npz"

    def removed_ids_path(self, shard: int) -> Path:
        return self.work / "removed" / f"{shard:05d}.npz"

    def earlier_path(self, shard: int) -> Path:
        """The shard's removals against the index (`dedup.index`); rewritten by every run."""
        return self.work / "earlier" / f"{shard:05d}.npz"

    @property
    def clusters_path(self) -> Path:
        return self.work / "clusters.json"

    def filter_stats_path(self, shard: int) -> Path:
        return self.work / "filtered" / f"{shard:05d}.json"

    @property
    def band_names(self) -> list[str]:
        names = [EXACT] if self.settings.exact else []
        if self.settings.near:
            names += [f"band{b:03d}" for b in range(self.settings.bands)]
        return names


def fingerprint(settings: DedupSettings, inputs: list[Path]) -> dict[str, Any]:
    files = []
    for path in inputs:
        stat = path.stat()
        files.append([str(path.resolve()), stat.st_size, stat.st_mtime_ns])
    return {
        "inputs": files,
        "settings": {k: getattr(settings, k) for k in FINGERPRINT_KEYS},
        "normalisation": NORMALISATION,
    }


def prepare(settings: DedupSettings) -> DedupPlan:
    """Resolve the inputs and make the work directory match them.

    Work files from a run over other inputs or with other settings are deleted; those of an
    interrupted run over the same ones are kept, so that run resumes.
    """
    inputs = resolve_inputs(settings.input)
    if not inputs:
        raise FileNotFoundError(
            f"dedup.input: no Parquet files match {settings.input}; run the curate stage first "
            "or point dedup.input at document shards"
        )
    names: dict[str, Path] = {}
    for path in inputs:
        if path.name in names:
            raise ValueError(
                f"dedup.input: {path} and {names[path.name]} share the name {path.name}, and "
                f"both would be written to {settings.output}/{path.name}; rename one"
            )
        names[path.name] = path
    output = Path(settings.output).resolve()
    for path in inputs:
        if output in path.resolve().parents:
            raise ValueError(
                f"dedup.input: {path} lies inside dedup.output ({settings.output}), which each "
                "run replaces whole; point dedup.output at a folder of its own"
            )
    work = Path(settings.work_dir)
    if settings.index:
        _check_index_folder(settings)
    manifest = work / "manifest.json"
    expected = fingerprint(settings, inputs)
    if manifest.exists():
        try:
            current = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            current = None
        if current != expected:
            # Only what this stage writes there: the directory may hold other things.
            for sub in WORK_SUBDIRS:
                shutil.rmtree(work / sub, ignore_errors=True)
            for name in ("clusters.json", "manifest.json"):
                (work / name).unlink(missing_ok=True)
    if not manifest.exists():
        work.mkdir(parents=True, exist_ok=True)
        write_json(manifest, expected)
    return DedupPlan(
        settings=settings,
        inputs=tuple(str(p) for p in inputs),
        work_dir=str(work),
        output=settings.output,
    )


def _check_index_folder(settings: DedupSettings) -> None:
    """The index must survive the run: not inside the output folder (replaced whole) nor
    sharing a folder with the work files (wiped when the inputs change)."""
    index = Path(settings.index).resolve()
    for key in ("output", "work_dir"):
        other = Path(getattr(settings, key)).resolve()
        if index == other or other in index.parents or index in other.parents:
            raise ValueError(
                f"dedup.index: {settings.index} overlaps dedup.{key} ({getattr(settings, key)}); "
                "the index outlives every run's outputs and work files: give it a folder of "
                "its own (data/dedup_index)"
            )
