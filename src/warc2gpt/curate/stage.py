"""The curate stage: WARC files in, FineWeb-quality Parquet documents out.

Per input file: read pages -> URL filter -> main-text extraction -> language ID -> Gopher
repetition -> Gopher quality -> C4 -> FineWeb quality -> PII scrub. Kept documents go to
`<output>/<name>.parquet`, removed ones with their reason to `<output>/removed/<name>.parquet`,
the file's step counts to `<output>/stats/<name>.json`, written last: a file whose stats exist is
done. Documents are written as the file is read, in parts with a checkpoint after each
(curate/shards.py), so memory stays flat and a killed run resumes inside the file it was on,
never writing a document twice.

A file that cannot be read is listed in the metrics (`files_failed`) while the others go on; the
run then fails with one error only if some input was not a WARC/WET/ARC file at all.
"""

from __future__ import annotations

import ctypes
import glob
import hashlib
import json
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow

from warc2gpt.config import CurateSettings, Params, to_dict
from warc2gpt.curate.chain import StepStats, chain_for
from warc2gpt.curate.shards import FileShards, paths_for, stale_partials
from warc2gpt.curate.steps.url_filter import blocklist_report
from warc2gpt.ingest.warc import NotWarcError, ReadCounts, ReadProblem, iter_pages
from warc2gpt.mapper import LocalMapper, Mapper, WorkerLost, advance
from warc2gpt.progress import Progress
from warc2gpt.stages import headline
from warc2gpt.tracking import write_metrics

WARC_SUFFIXES = (".gz", ".warc", ".wet", ".arc")
DEFAULT_INPUT_PATTERNS = ("*.warc.gz", "*.warc", "*.wet.gz", "*.warc.wet.gz")
# Printed by `warc2gpt curate` as one line (and a non-zero exit) instead of a traceback.
USER_ERRORS = (NotWarcError, FileNotFoundError)
# Read problems listed by name, per file and per run; beyond these they are only counted.
MAX_EXAMPLES = 50


def output_name(path: str | Path) -> str:
    """`CC-MAIN-...-00000.warc.gz` -> `CC-MAIN-...-00000`: the name of its shards."""
    name = Path(path).name
    while name.endswith(WARC_SUFFIXES):
        name = name[: name.rfind(".")]
    return name


def resolve_inputs(patterns: Iterable[str], default_dir: str) -> list[Path]:
    """Expand globs (and directories) into a sorted, de-duplicated list of input files."""
    patterns = list(patterns) or [str(Path(default_dir) / p) for p in DEFAULT_INPUT_PATTERNS]
    found: dict[str, Path] = {}
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            matches = [str(path / p) for p in DEFAULT_INPUT_PATTERNS]
            hits = [m for p in matches for m in glob.glob(p)]
        else:
            hits = glob.glob(pattern)
        for hit in hits:
            found[os.path.abspath(hit)] = Path(hit)
    files = sorted(found.values(), key=lambda p: str(p))
    if not files:
        raise FileNotFoundError(
            f"no WARC files match {', '.join(patterns)}: run the ingest stage first or set "
            "curate.input (or --input) to WARC paths/globs"
        )
    names = Counter(output_name(p) for p in files)
    clashes = sorted(n for n, c in names.items() if c > 1)
    if clashes:
        raise ValueError(f"several input files would write the shard {clashes[0]}: rename them")
    return files


# Settings that only change how the work is spread, not what it produces.
_NOT_IN_FINGERPRINT = (
    "input",
    "output",
    "metrics",
    "workers",
    "runner",
    "cluster_address",
    "flush_docs",
)


LIST_IDENTITY = ("blocklist", "domains", "urls")


def work_fingerprint(path: Path, settings: CurateSettings) -> str:
    """What a file's shards were made from: the input file's identity and the chain's settings.

    A finished file is only skipped when this matches, so a run with other thresholds, another
    URL blocklist (or a changed input) redoes the file instead of keeping shards made the old
    way.
    """
    stat = path.stat()
    chain = {k: v for k, v in to_dict(settings).items() if k not in _NOT_IN_FINGERPRINT}
    # The lists the URL filter found, not where: the same list from another folder is the same.
    lists = {k: v for k, v in blocklist_report(settings).items() if k in LIST_IDENTITY}
    text = json.dumps([path.name, stat.st_size, chain, lists], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def stale_outputs(output: str | Path, names: Iterable[str]) -> list[Path]:
    """Shards (and unfinished parts) of input files that are no longer among the inputs."""
    keep = set(names)
    stale = []
    for stats_path in sorted((Path(output) / "stats").glob("*.json")):
        if stats_path.stem not in keep:
            stale += [
                p for p in (*paths_for(output, stats_path.stem)[:2], stats_path) if p.exists()
            ]
    return stale + stale_partials(output, keep)


def curate_file(path: str | Path, settings: CurateSettings, force: bool = False) -> dict[str, Any]:
    """Curate one WARC/WET file into its shards; returns the file's stats (also on disk).

    A file already done with the same input and settings (its stats marker holds the same
    fingerprint) is skipped; one interrupted after a checkpoint goes on from there. Documents
    are written every `settings.flush_docs`, so memory does not grow with the file. Progress
    goes to the enclosing map as input bytes and documents.
    """
    path = Path(path)
    name = output_name(path)
    kept_path, _, stats_path = paths_for(settings.output, name)
    fingerprint = work_fingerprint(path, settings)
    if stats_path.exists() and kept_path.exists() and not force:
        stats = json.loads(stats_path.read_text(encoding="utf-8"))
        if stats.get("fingerprint") == fingerprint:
            stats["resumed"] = True
            advance(path.stat().st_size, docs=stats["pages"])
            return stats

    shards = FileShards(settings.output, name, fingerprint, settings.flush_docs)
    if force:
        shards.discard()
    state = FileState.load(shards.resume())
    chain = chain_for(settings)
    tally = chain.tally()
    for step_name, saved in state.steps.items():
        tally[step_name].merge(saved)
    size = path.stat().st_size
    problems: list[ReadProblem] = []
    started = time.perf_counter()
    source = str(path)
    position = min(max(state.after, 0), size)
    advance(position, docs=state.kept + state.removed)
    try:
        for page in iter_pages(
            path, problems, settings.max_record_bytes, state.counts, state.after
        ):
            outcome = chain.apply(page, source, tally)
            row = outcome.doc.row()
            if outcome.step:
                row["filter_reason"] = f"{outcome.step}:{outcome.reason}"
                state.removed += 1
            else:
                state.kept += 1
                state.pii_replacements += row["pii_replacements"]
            shards.add(row, removed=bool(outcome.step))
            state.after = page.offset
            if shards.full:
                state.take(problems)
                shards.flush(state.saved(tally, time.perf_counter() - started))
                release_memory()
            advance(max(min(page.offset, size) - position, 0), docs=1)
            position = max(position, min(page.offset, size))
    except Exception as exc:  # one unreadable file must not stop the others
        advance(max(size - position, 0) if path.exists() else 0)
        return failed_file(source, exc)
    advance(max(size - position, 0))
    state.take(problems)
    shards.finish()
    stats = {
        "file": source,
        "fingerprint": fingerprint,
        "pages": state.kept + state.removed,
        "kept": state.kept,
        "removed": state.removed,
        "pii_replacements": state.pii_replacements,
        "records": state.counts.records,
        "skipped_records": dict(sorted(state.counts.skipped.items())),
        "read_problems": state.problems,
        "read_problem_examples": state.examples,
        "seconds": round(state.seconds + time.perf_counter() - started, 4),
        "steps": {n: s.to_dict() for n, s in tally.items()},
    }
    if state.resumed_docs:
        stats["resumed_docs"] = state.resumed_docs
    write_metrics(stats_path, stats)
    return stats


def release_memory() -> None:
    """Give back what a long file leaves behind: the extractors' caches, and freed pages of the
    heap and of Arrow's memory pool."""
    if meta := sys.modules.get("trafilatura.meta"):
        meta.reset_caches()
    pyarrow.default_memory_pool().release_unused()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:  # not glibc (macOS, musl): nothing to trim
        return None


_LIBC = _glibc()


@dataclass
class FileState:
    """What reading one file has produced so far: saved at each checkpoint, loaded on resume."""

    after: int = -1  # offset of the last page handled
    kept: int = 0
    removed: int = 0
    pii_replacements: int = 0
    problems: int = 0
    examples: list[str] = field(default_factory=list)
    counts: ReadCounts = field(default_factory=ReadCounts)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0
    resumed_docs: int = 0

    @classmethod
    def load(cls, saved: dict[str, Any] | None) -> FileState:
        if not saved:
            return cls()
        counts = ReadCounts(
            saved["records"], saved["read_pages"], Counter(saved["skipped_records"])
        )
        return cls(
            saved["after"], saved["kept"], saved["removed"], saved["pii_replacements"],
            saved["read_problems"], saved["read_problem_examples"], counts, saved["steps"],
            saved["seconds"], saved["kept"] + saved["removed"],
        )  # fmt: skip

    def take(self, problems: list[ReadProblem]) -> None:
        """Count the reader's new problems, keeping the first few as examples."""
        self.problems += len(problems)
        self.examples += [str(p) for p in problems[: max(MAX_EXAMPLES - len(self.examples), 0)]]
        problems.clear()

    def saved(self, tally: dict[str, StepStats], seconds: float) -> dict[str, Any]:
        return {
            "after": self.after,
            "kept": self.kept,
            "removed": self.removed,
            "pii_replacements": self.pii_replacements,
            "read_problems": self.problems,
            "read_problem_examples": self.examples,
            "records": self.counts.records,
            "read_pages": self.counts.pages,
            "skipped_records": dict(self.counts.skipped),
            "steps": {n: s.to_dict() for n, s in tally.items()},
            "seconds": self.seconds + seconds,
        }


def _lost_file(call: tuple, reason: str) -> dict[str, Any]:
    """The stats of a file whose worker process died twice while curating it."""
    return failed_file(call[0], WorkerLost(f"{call[0]}: {reason}"))


def failed_file(source: str, exc: Exception) -> dict[str, Any]:
    """The stats of a file that could not be read: no shards, no marker (a later run retries)."""
    reason = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
    if not isinstance(exc, NotWarcError | OSError):
        reason = f"{type(exc).__name__}: {reason}"
    return {
        "file": source,
        "failed": reason[:300],
        "not_warc": isinstance(exc, NotWarcError),
        "pages": 0,
        "kept": 0,
        "removed": 0,
        "records": 0,
        "skipped_records": {},
        "read_problems": 0,
        "read_problem_examples": [],
        "steps": {},
    }


# The figures of metrics/curate.json; the per-step table stays in <output>/stats.json.
HEADLINE = ["kept"]


def summarize(
    file_stats: list[dict[str, Any]], wall_seconds: float, workers: int
) -> dict[str, Any]:
    """Merge per-file stats into the stage's metrics."""
    steps: dict[str, StepStats] = {}
    for stats in file_stats:
        for name, step in stats["steps"].items():
            steps.setdefault(name, StepStats()).merge(step)
    pages = sum(s["pages"] for s in file_stats)
    examples = [p for s in file_stats for p in s["read_problem_examples"]]
    skipped: Counter = Counter()
    for stats in file_stats:
        skipped.update(stats.get("skipped_records", {}))
    return {
        "files": len(file_stats),
        "files_resumed": sum(1 for s in file_stats if s.get("resumed")),
        "files_failed": [
            {"file": s["file"], "reason": s["failed"], "not_warc": s.get("not_warc", False)}
            for s in file_stats
            if s.get("failed")
        ],
        "records": sum(s.get("records", 0) for s in file_stats),
        "skipped_records": dict(sorted(skipped.items())),
        "pages": pages,
        "kept": sum(s["kept"] for s in file_stats),
        "removed": sum(s["removed"] for s in file_stats),
        "pii_replacements": sum(s.get("pii_replacements", 0) for s in file_stats),
        "read_problems": sum(s["read_problems"] for s in file_stats),
        "read_problem_examples": examples[:MAX_EXAMPLES],
        "wall_seconds": round(wall_seconds, 3),
        "workers": workers,
        "docs_per_second": round(pages / wall_seconds, 2) if wall_seconds > 0 else 0.0,
        "steps": {name: s.to_dict() for name, s in steps.items()},
    }


def summary(metrics: dict[str, Any]) -> str:
    """The table printed at the end of a run: per-step in / removed / kept / seconds."""
    lines = [f"{'step':<20}{'in':>8}{'removed':>9}{'kept':>8}{'seconds':>9}  top reasons"]
    for name, step in metrics["steps"].items():
        reasons = ", ".join(
            f"{r} {n}" for r, n in sorted(step["reasons"].items(), key=lambda kv: -kv[1])[:3]
        )
        lines.append(
            f"{name:<20}{step['in']:>8}{step['removed']:>9}{step['kept']:>8}"
            f"{step['seconds']:>9.2f}  {reasons}"
        )
    failed = metrics.get("files_failed", [])
    lines.append(
        f"{metrics['files']} files ({metrics['files_resumed']} already done, {len(failed)} failed), "
        f"{metrics.get('records', 0)} records: {metrics['pages']} pages, "
        f"{sum(metrics.get('skipped_records', {}).values())} other records skipped, "
        f"{metrics['read_problems']} unreadable; "
        f"{metrics['kept']} kept, {metrics['removed']} removed, "
        f"{metrics['pii_replacements']} PII replacements, "
        f"{metrics['docs_per_second']:.1f} docs/s with {metrics['workers']} worker(s)"
    )
    if lists := metrics.get("url_blocklist"):
        if lists["warning"]:
            lines.append(f"  WARNING: {lists['warning']}")
        else:
            where = f" from {lists['source']}" if lists["source"] else ""
            lines.append(
                f"  URL blocklist: {lists['blocklist']}, {lists['domains']:,} domains, "
                f"{lists['urls']:,} URLs{where}"
            )
    for failure in failed[:10]:
        lines.append(f"  failed file: {failure['reason']}")
    for problem in metrics["read_problem_examples"][:10]:
        lines.append(f"  unreadable: {problem}")
    for stale in metrics.get("pruned", [])[:10]:
        lines.append(f"  removed stale shard: {stale}")
    return "\n".join(lines)


def run(params: Params, mapper: Mapper) -> dict[str, Any]:
    """Curate every input file, one call per file on `mapper`; writes and returns the metrics.

    Shards of files no longer among the inputs are removed only once every file succeeded. A
    file that is not WARC/WET/ARC at all fails the run with one `NotWarcError` naming every
    such file, raised after the other files' shards and the metrics were written.
    """
    settings = params.curate
    files = resolve_inputs(settings.input, params.ingest.output)
    if isinstance(mapper, LocalMapper):
        chain_for(settings)  # built once here: threads share it, forked workers inherit it
    started = time.perf_counter()
    total = sum(f.stat().st_size for f in files)
    with Progress("curate", total=total, unit="B") as progress:
        calls = [(str(f), settings) for f in files]
        file_stats = mapper.map(curate_file, calls, progress, on_lost=_lost_file)
    metrics = summarize(file_stats, time.perf_counter() - started, settings.workers)
    metrics["url_blocklist"] = blocklist_report(settings)
    failed = metrics["files_failed"]
    stale = [] if failed else stale_outputs(settings.output, [output_name(f) for f in files])
    for path in stale:
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    metrics["pruned"] = [str(p) for p in stale]
    details = Path(settings.output) / "stats.json"
    write_metrics(details, metrics)
    write_metrics(settings.metrics, headline(metrics, HEADLINE))
    not_warc = [f["reason"] for f in failed if f["not_warc"]]
    if not_warc:
        raise NotWarcError(
            f"{'; '.join(not_warc)} ({len(not_warc)} of {len(files)} input files failed, the "
            f"others were curated; remove or replace them, details in {details})"
        )
    return metrics
