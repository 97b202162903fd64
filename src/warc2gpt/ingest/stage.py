"""The ingest stage: resolve `ingest.sources`, fetch every file into `ingest.output`, record
what came in (metrics/ingest.json). No sources means the built-in sample crawl.

`ingest.mode: increment` fetches only the next `ingest.per_run` files no earlier increment took
and records them in the state file (increments.py) once they are all in; with none left it
changes nothing in `ingest.output`, so nothing downstream reruns.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

from warc2gpt.atomic import write_text
from warc2gpt.config import IngestSettings, Params
from warc2gpt.ingest.download import DownloadError, DownloadResult, download, part_path
from warc2gpt.ingest.increments import (
    IncrementStateError,
    new_increment,
    read_increments,
    taken_files,
    write_increments,
)
from warc2gpt.ingest.sources import Source, resolve_sources, retry_policy
from warc2gpt.mapper import Mapper
from warc2gpt.stages import headline
from warc2gpt.tracking import write_metrics

log = logging.getLogger(__name__)
DEFAULT_METRICS = Path("metrics/ingest.json")
# Names this stage wrote into the output directory: pruning only ever touches those.
MANIFEST = ".ingest-manifest.json"


class IngestError(RuntimeError):
    """One or more sources could not be fetched."""


# Failures the command reports as one line, not a traceback.
USER_ERRORS = (IngestError, DownloadError, IncrementStateError)
# The source an increment records for a file of the built-in sample crawl.
SAMPLE_SOURCE = "sample"


def plan_ingest(settings: IngestSettings, taken: Collection[str] | None = None) -> list[Source]:
    """The files the current sources name, in order (the sample crawl's when there are none);
    given the files earlier increments `taken`, only the next `per_run` of the others."""
    if settings.sources:
        sources = resolve_sources(settings)
    else:
        from warc2gpt.ingest.sample import sample_file_names  # its own module, loaded only here

        sources = [Source(SAMPLE_SOURCE, name, SAMPLE_SOURCE) for name in sample_file_names()]
    if taken is not None:
        sources = [s for s in sources if s.name not in taken][: settings.per_run]
    if sources:
        output = Path(settings.output)
        _write_manifest(output, _read_manifest(output) | {s.name for s in sources})
    return sources


def fetch_source(
    source: Source, settings: IngestSettings, *, position: int = 0, progress: bool | None = None
) -> DownloadResult:
    """Fetch one planned file into the output directory (skips it when already complete)."""
    return download(
        source.url,
        Path(settings.output) / source.name,
        size=source.size,
        digest=source.digest,
        policy=retry_policy(settings),
        progress=progress,
        position=position,
    )


def ingest_sample(settings: IngestSettings, names: list[str] | None = None) -> list[DownloadResult]:
    """Write the built-in sample crawl into the output directory (only `names` when given)."""
    from warc2gpt.ingest.sample import write_sample_crawl  # its own module, loaded only here

    output = Path(settings.output)
    start = time.monotonic()
    paths = [Path(p) for p in write_sample_crawl(output, names=names)]
    seconds = time.monotonic() - start
    _write_manifest(output, _read_manifest(output) | {p.name for p in paths})
    return [DownloadResult(p, "sample", p.stat().st_size, "sample", seconds=seconds) for p in paths]


# The figures of metrics/ingest.json; every file's name, size and digest stay in the output
# folder's STATS file.
HEADLINE = ["files", "bytes", "downloaded", "skipped", "retries", "pruned"]
INCREMENT_HEADLINE = ["increment", "new_files"]
STATS = ".ingest-stats.json"


def finish_ingest(
    settings: IngestSettings,
    results: list[DownloadResult],
    seconds: float,
    metrics_path: str | Path = DEFAULT_METRICS,
    increment: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Prune what earlier runs left that is no longer wanted, write metrics; returns them.

    `increment`: the state entry of the increment these results are (increment mode).
    """
    output = Path(settings.output)
    keep = {r.path.name for r in results}
    pruned = prune_output(output, keep) if settings.prune else []
    _write_manifest(output, keep if settings.prune else _read_manifest(output) | keep)
    metrics = ingest_metrics(results, seconds, pruned)
    metrics["output"] = str(output)
    keys = HEADLINE
    if increment is not None:
        metrics |= {"increment": increment["id"], "new_files": len(increment["files"])}
        keys = HEADLINE + INCREMENT_HEADLINE
    write_metrics(output / STATS, metrics)
    write_metrics(metrics_path, headline(metrics, keys))
    return metrics


def run(params: Params, mapper: Mapper) -> dict[str, Any]:
    """Fetch every source, one call per file on `mapper` (threads), into `ingest.output`.

    Every source is attempted; if any failed, an IngestError lists them all after the others
    finished (their files stay complete). No sources: the built-in sample crawl.
    """
    settings = params.ingest
    if settings.mode == "increment":
        return run_increment(settings, mapper)
    start = time.monotonic()
    if not settings.sources:
        results = ingest_sample(settings)
    else:
        results = fetch_all(plan_ingest(settings), settings, mapper)
    return finish_ingest(settings, results, time.monotonic() - start, settings.metrics)


def run_increment(settings: IngestSettings, mapper: Mapper) -> dict[str, Any]:
    """Fetch the next `per_run` files no earlier increment took, then record them as the next
    increment. A failed fetch records nothing, so the next run takes the same files."""
    start = time.monotonic()
    earlier = read_increments(settings.state)
    plan = plan_ingest(settings, taken_files(earlier))
    if not plan:
        return nothing_new(settings, earlier, time.monotonic() - start)
    results = fetch_all(plan, settings, mapper)
    entry = new_increment(earlier, [r.path.name for r in results], [r.url for r in results])
    metrics = finish_ingest(settings, results, time.monotonic() - start, settings.metrics, entry)
    # Recorded last: a run that fails before leaves the state as it was, and its rerun finds
    # the same files complete.
    write_increments(settings.state, [*earlier, entry])
    return metrics


def fetch_all(plan: list[Source], settings: IngestSettings, mapper: Mapper) -> list[DownloadResult]:
    """Every planned file, fetched (the sample crawl's written); IngestError if any failed."""
    if plan and all(s.url == SAMPLE_SOURCE for s in plan):
        return ingest_sample(settings, [s.name for s in plan])
    workers = max(1, min(getattr(mapper, "workers", 1), len(plan)))
    calls = [(s, settings, i % workers) for i, s in enumerate(plan)]
    outcomes = mapper.map(_fetch_or_failure, calls)
    failures = [(s, o) for s, o in zip(plan, outcomes, strict=True) if isinstance(o, str)]
    if failures:
        lines = "\n".join(f"  {s.name} from {s.origin!r}: {why}" for s, why in failures)
        raise IngestError(f"{len(failures)} of {len(plan)} sources failed:\n{lines}")
    return list(outcomes)


def nothing_new(
    settings: IngestSettings, earlier: list[dict[str, Any]], seconds: float
) -> dict[str, Any]:
    """Every file the sources name is taken: `ingest.output` stays byte for byte as it was (no
    change for DVC to see, nothing downstream reruns); only the metrics file says so."""
    metrics = ingest_metrics([], seconds)
    metrics |= {
        "output": str(settings.output),
        "increment": earlier[-1]["id"] if earlier else 0,
        "new_files": 0,
        "increments": len(earlier),
        "files_taken": len(taken_files(earlier)),
    }
    write_metrics(settings.metrics, headline(metrics, HEADLINE + INCREMENT_HEADLINE))
    return metrics


def _fetch_or_failure(source: Source, settings: IngestSettings, position: int) -> Any:
    """A download's result, or why it failed (so one failure never stops the others)."""
    try:
        return fetch_source(source, settings, position=position)
    except (DownloadError, OSError) as exc:
        return str(exc) or type(exc).__name__


def ingest_metrics(
    results: Iterable[DownloadResult], seconds: float, pruned: list[str] = ()
) -> dict[str, Any]:
    results = list(results)
    fetched = sum(r.fetched_bytes for r in results)
    statuses = [r.status for r in results]
    return {
        "files": len(results),
        "bytes": sum(r.size for r in results),
        "fetched_bytes": fetched,
        "resumed_bytes": sum(r.resumed_from for r in results if r.status != "skipped"),
        "downloaded": statuses.count("downloaded"),
        "copied": statuses.count("copied"),
        "skipped": statuses.count("skipped"),
        "sample": statuses.count("sample"),
        "retries": sum(max(r.attempts - 1, 0) for r in results),
        "pruned": len(pruned),
        "pruned_files": list(pruned),
        "seconds": round(seconds, 3),
        "fetch_mb_per_s": round(fetched / 1e6 / seconds, 3) if seconds > 0 else 0.0,
        "per_file": [
            {
                "name": r.path.name,
                "source": r.url,
                "bytes": r.size,
                "status": r.status,
                "sha256": r.sha256,
            }
            for r in results
        ],
    }


def summary(metrics: dict[str, Any]) -> str:
    """One line for the terminal, and one naming the pruned files when there are any."""
    if metrics.get("new_files") == 0:
        return (
            f"ingest: no new WARC files: nothing to do ({metrics['output']} keeps increment "
            f"{metrics['increment']}; {metrics['files_taken']} files taken in "
            f"{metrics['increments']} increments)"
        )
    label = f"increment {metrics['increment']}: " if "increment" in metrics else ""
    text = (
        f"ingest: {label}{metrics['files']} files, {metrics['bytes'] / 1e6:.1f} MB "
        f"in {metrics['output']} "
        f"({metrics['downloaded']} downloaded, {metrics['copied']} copied, "
        f"{metrics['skipped']} already complete, {metrics['sample']} sample; "
        f"{metrics['retries']} retries, {metrics['resumed_bytes']} bytes resumed, "
        f"{metrics['pruned']} pruned) in {metrics['seconds']:.1f}s"
    )
    pruned = metrics.get("pruned_files", [])
    if pruned:
        more = f" and {len(pruned) - 5} more" if len(pruned) > 5 else ""
        text += f"\n  pruned: {', '.join(pruned[:5])}{more}"
    return text


def prune_output(output: Path, keep: set[str]) -> list[str]:
    """Delete files an earlier ingest wrote here (per the manifest) that `keep` does not name."""
    removed = []
    for name in sorted(_read_manifest(output) - keep):
        for path in (output / name, part_path(output / name)):
            if path.is_file():
                path.unlink()
                removed.append(path.name)
    for name in keep:  # a finished file's leftover partial (fetched again from scratch)
        part_path(output / name).unlink(missing_ok=True)
    if removed:
        log.info("pruned %d files from %s that the sources no longer name", len(removed), output)
    return removed


def _read_manifest(output: Path) -> set[str]:
    path = output / MANIFEST
    if not path.exists():
        return set()
    try:
        names = json.loads(path.read_text(encoding="utf-8"))["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise IngestError(
            f"{path}: unreadable ({exc}); delete it to let ingest rewrite it"
        ) from None
    # Only plain names: the manifest must never steer deletion outside the directory.
    return {
        n
        for n in names
        if isinstance(n, str) and n == os.path.basename(n) and n not in ("", ".", "..")
    }


def _write_manifest(output: Path, names: set[str]) -> None:
    write_text(output / MANIFEST, json.dumps({"files": sorted(names)}, indent=1) + "\n")
