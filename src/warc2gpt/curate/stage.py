"""The curate stage: WARC files in, FineWeb-quality Parquet documents out.

Per input file: read pages -> URL filter -> main-text extraction -> language ID -> Gopher
repetition -> Gopher quality -> C4 -> FineWeb quality -> PII scrub. Kept documents go to
`<output>/<name>.parquet`, removed ones with their reason to `<output>/removed/<name>.parquet`,
the file's step counts to `<output>/stats/<name>.json`, written last: a file whose stats exist is
done, so a killed run resumes where it stopped and never writes a document twice.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warc2gpt.config import CurateSettings, Params, to_dict
from warc2gpt.curate.charset import decode_page
from warc2gpt.curate.extract import ExtractionTimeout, extract_resiliparse, extract_text
from warc2gpt.documents import DOCUMENT_SCHEMA, REMOVED_SCHEMA, Document, write_parquet
from warc2gpt.ingest.warc import Page, ReadProblem, iter_pages

WARC_SUFFIXES = (".gz", ".warc", ".wet", ".arc")
DEFAULT_INPUT_PATTERNS = ("*.warc.gz", "*.warc", "*.wet.gz", "*.warc.wet.gz")


@dataclass
class StepStats:
    """What one step of the chain saw: documents in, removed (by reason), kept, time spent."""

    docs_in: int = 0
    removed: int = 0
    seconds: float = 0.0
    reasons: Counter = field(default_factory=Counter)

    @property
    def kept(self) -> int:
        return self.docs_in - self.removed

    def to_dict(self) -> dict[str, Any]:
        return {
            "in": self.docs_in,
            "removed": self.removed,
            "kept": self.kept,
            "seconds": round(self.seconds, 4),
            "reasons": dict(sorted(self.reasons.items())),
        }

    def merge(self, other: dict[str, Any]) -> None:
        self.docs_in += other["in"]
        self.removed += other["removed"]
        self.seconds += other["seconds"]
        self.reasons.update(other["reasons"])


@dataclass
class Outcome:
    """A page after the chain: a document, and the step and reason that removed it (if any)."""

    doc: Document | None
    step: str = ""
    reason: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    visited: list[str] = field(default_factory=list)


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


def document_id(page: Page, source: str) -> str:
    """The WARC record id (as FineWeb keeps it), or a digest of file and offset."""
    rid = page.record_id.strip("<>")
    if rid:
        return rid.removeprefix("urn:uuid:")
    return hashlib.sha1(f"{source}:{page.offset}".encode()).hexdigest()


QUALITY_STEPS = ("gopher_repetition", "gopher_quality", "c4_quality", "fineweb_quality")


def chain_steps(settings: CurateSettings) -> list[str]:
    """Names of the enabled steps, in order (the rows of the summary table)."""
    names = ["url_filter"] if settings.url_filter.enabled else []
    names.append("extract")
    if settings.language.enabled:
        names.append("language")
    return names + [n for n in QUALITY_STEPS if getattr(settings, n).enabled]


class CurationChain:
    """The configured filters in FineWeb's order; one per process (models load once)."""

    def __init__(self, settings: CurateSettings):
        from warc2gpt.curate.filters.c4_quality import C4QualityFilter
        from warc2gpt.curate.filters.fineweb_quality import FineWebQualityFilter
        from warc2gpt.curate.filters.gopher_quality import GopherQualityFilter
        from warc2gpt.curate.filters.gopher_repetition import GopherRepetitionFilter
        from warc2gpt.curate.language import LanguageFilter
        from warc2gpt.curate.pii import PIIScrubber
        from warc2gpt.curate.url_filter import URLFilter

        self.settings = settings
        self.url_filter = URLFilter(settings.url_filter) if settings.url_filter.enabled else None
        self.language = LanguageFilter(settings.language) if settings.language.enabled else None
        quality = [
            (settings.gopher_repetition, GopherRepetitionFilter),
            (settings.gopher_quality, GopherQualityFilter),
            (settings.c4_quality, C4QualityFilter),
            (settings.fineweb_quality, FineWebQualityFilter),
        ]
        self.quality = [cls(s) for s, cls in quality if s.enabled]
        self.pii = PIIScrubber(settings.pii) if settings.pii.enabled else None

    @property
    def step_names(self) -> list[str]:
        return chain_steps(self.settings)

    def _language_gate(self, doc: Document, outcome: Outcome) -> bool:
        """Run language ID; False (and outcome filled) when the document is removed."""
        start = time.perf_counter()
        reason = self.language(doc)
        outcome.timings["language"] = (
            outcome.timings.get("language", 0) + time.perf_counter() - start
        )
        if reason:
            outcome.step, outcome.reason = "language", reason
            return False
        return True

    def process(self, page: Page, source: str) -> Outcome:
        outcome = Outcome(doc=None)
        timings, visited = outcome.timings, outcome.visited
        doc = Document(
            id=document_id(page, source),
            url=page.url,
            text="",
            date=page.date,
            source_file=source,
            source_offset=page.offset,
        )
        outcome.doc = doc
        start = time.perf_counter()
        html, _ = decode_page(page.body, page.http_charset)
        timings["decode"] = time.perf_counter() - start

        if self.url_filter:
            visited.append("url_filter")
            start = time.perf_counter()
            reason = self.url_filter(doc)
            timings["url_filter"] = time.perf_counter() - start
            if reason:
                doc.text = html
                outcome.step, outcome.reason = "url_filter", reason
                return outcome

        visited.append("extract")
        if page.kind == "text":
            doc.text = html.strip()
        else:
            if (
                self.settings.prefilter_language
                and self.language
                and self.settings.extractor != "resiliparse"
            ):
                # Cheap extraction first: pages in unwanted languages never meet trafilatura.
                start = time.perf_counter()
                doc.text = extract_resiliparse(html)
                timings["extract"] = time.perf_counter() - start
                if doc.text and not self._language_gate(doc, outcome):
                    outcome.reason = "prefilter_" + outcome.reason
                    visited.append("language")
                    return outcome
            start = time.perf_counter()
            try:
                doc.text = extract_text(
                    html, self.settings.extractor, self.settings.extraction_timeout
                )
            except ExtractionTimeout:
                doc.text = ""
                outcome.reason = "timeout"
            except Exception as exc:  # a parser crash on one page must not stop the file
                doc.text = ""
                outcome.reason = f"error_{type(exc).__name__}"
            timings["extract"] = timings.get("extract", 0) + time.perf_counter() - start
        if not doc.text.strip():
            outcome.step, outcome.reason = "extract", outcome.reason or "empty"
            return outcome

        if self.language:
            visited.append("language")
            if not self._language_gate(doc, outcome):
                return outcome

        for quality_filter in self.quality:
            visited.append(quality_filter.name)
            start = time.perf_counter()
            reason = quality_filter(doc)
            timings[quality_filter.name] = time.perf_counter() - start
            if reason:
                outcome.step, outcome.reason = quality_filter.name, reason
                return outcome

        if self.pii:
            start = time.perf_counter()
            self.pii(doc)
            timings["pii"] = time.perf_counter() - start
        doc.cache.clear()
        return outcome


# A chain per worker process, built once by the pool initializer.
_CHAIN: CurationChain | None = None


def _init_worker(settings: CurateSettings) -> None:
    global _CHAIN
    _CHAIN = CurationChain(settings)


def _process_in_worker(item: tuple[Page, str]) -> Outcome:
    page, source = item
    outcome = _CHAIN.process(page, source)
    if outcome.doc is not None:
        outcome.doc.cache.clear()
    return outcome


def paths_for(output: str | Path, name: str) -> tuple[Path, Path, Path]:
    """(kept shard, removed shard, stats marker) of one input file."""
    out = Path(output)
    return (
        out / f"{name}.parquet",
        out / "removed" / f"{name}.parquet",
        out / "stats" / f"{name}.json",
    )


# Settings that only change how the work is spread, not what it produces.
_NOT_IN_FINGERPRINT = ("input", "output", "metrics", "workers", "runner", "cluster_address")


def work_fingerprint(path: Path, settings: CurateSettings) -> str:
    """What a file's shards were made from: the input file's identity and the chain's settings.

    A finished file is only skipped when this matches, so a run with other thresholds (or a
    changed input) redoes the file instead of keeping shards made the old way.
    """
    stat = path.stat()
    chain = {k: v for k, v in to_dict(settings).items() if k not in _NOT_IN_FINGERPRINT}
    text = json.dumps([path.name, stat.st_size, chain], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def prune_stale_outputs(output: str | Path, names: Iterable[str]) -> list[Path]:
    """Remove shards of input files that are no longer among the inputs; returns them."""
    keep = set(names)
    removed = []
    for stats_path in sorted((Path(output) / "stats").glob("*.json")):
        name = stats_path.stem
        if name in keep:
            continue
        for stale in (*paths_for(output, name)[:2], stats_path):
            if stale.exists():
                stale.unlink()
                removed.append(stale)
    return removed


def curate_file(
    path: str | Path,
    settings: CurateSettings,
    chain: CurationChain | None = None,
    pool=None,
    on_document: Callable[[int], None] | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Curate one WARC/WET file into its shards; returns the file's stats (also on disk).

    Pages are processed in `pool` (a multiprocessing pool whose workers hold a chain) when given,
    else in this process with `chain`. A file already done (stats marker present) is skipped.
    """
    path = Path(path)
    name = output_name(path)
    kept_path, removed_path, stats_path = paths_for(settings.output, name)
    fingerprint = work_fingerprint(path, settings)
    if stats_path.exists() and kept_path.exists() and not force:
        stats = json.loads(stats_path.read_text(encoding="utf-8"))
        if stats.get("fingerprint") == fingerprint:
            stats["resumed"] = True
            return stats

    chain = chain if (chain is not None or pool is not None) else CurationChain(settings)
    steps = {step: StepStats() for step in chain_steps(settings)}
    problems: list[ReadProblem] = []
    kept: list[dict[str, Any]] = []
    removed: list[dict[str, Any]] = []
    pages_read = 0
    started = time.perf_counter()
    source = str(path)
    pages = iter_pages(path, problems, settings.max_record_bytes)

    def outcomes() -> Iterator[Outcome]:
        if pool is not None:
            yield from pool.imap(_process_in_worker, ((p, source) for p in pages), chunksize=4)
        else:
            for page in pages:
                yield chain.process(page, source)

    for outcome in outcomes():
        pages_read += 1
        for step in outcome.visited:
            stats = steps.setdefault(step, StepStats())
            stats.docs_in += 1
            stats.seconds += outcome.timings.get(step, 0.0)
        if outcome.step:
            stats = steps.setdefault(outcome.step, StepStats())
            stats.removed += 1
            stats.reasons[outcome.reason] += 1
            row = outcome.doc.row()
            row["filter_reason"] = f"{outcome.step}:{outcome.reason}"
            removed.append(row)
        else:
            kept.append(outcome.doc.row())
        if on_document:
            on_document(1)

    write_parquet(kept_path, kept, DOCUMENT_SCHEMA)
    write_parquet(removed_path, removed, REMOVED_SCHEMA)
    stats = {
        "file": source,
        "fingerprint": fingerprint,
        "pages": pages_read,
        "kept": len(kept),
        "removed": len(removed),
        "pii_replacements": sum(r["pii_replacements"] for r in kept),
        "read_problems": [str(p) for p in problems],
        "seconds": round(time.perf_counter() - started, 4),
        "steps": {n: s.to_dict() for n, s in steps.items()},
    }
    stats_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = stats_path.with_name(f".{stats_path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, stats_path)
    return stats


def summarize(
    file_stats: list[dict[str, Any]], wall_seconds: float, workers: int
) -> dict[str, Any]:
    """Merge per-file stats into the stage's metrics (metrics/curate.json)."""
    steps: dict[str, StepStats] = {}
    for stats in file_stats:
        for name, step in stats["steps"].items():
            steps.setdefault(name, StepStats()).merge(step)
    pages = sum(s["pages"] for s in file_stats)
    problems = [p for s in file_stats for p in s["read_problems"]]
    return {
        "files": len(file_stats),
        "files_resumed": sum(1 for s in file_stats if s.get("resumed")),
        "pages": pages,
        "kept": sum(s["kept"] for s in file_stats),
        "removed": sum(s["removed"] for s in file_stats),
        "pii_replacements": sum(s.get("pii_replacements", 0) for s in file_stats),
        "read_problems": len(problems),
        "read_problem_examples": problems[:50],
        "wall_seconds": round(wall_seconds, 3),
        "workers": workers,
        "docs_per_second": round(pages / wall_seconds, 2) if wall_seconds > 0 else 0.0,
        "steps": {name: s.to_dict() for name, s in steps.items()},
    }


def format_summary(metrics: dict[str, Any]) -> str:
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
    lines.append(
        f"{metrics['files']} files ({metrics['files_resumed']} already done), {metrics['pages']} pages, "
        f"{metrics['kept']} kept, {metrics['removed']} removed, {metrics['read_problems']} unreadable "
        f"records, {metrics['pii_replacements']} PII replacements, "
        f"{metrics['docs_per_second']:.1f} docs/s with {metrics['workers']} worker(s)"
    )
    for problem in metrics["read_problem_examples"][:10]:
        lines.append(f"  unreadable: {problem}")
    return "\n".join(lines)


def _start_pool(settings: CurateSettings):
    """Worker processes that each hold a chain.

    Where fork exists, the chain is built once here and the workers inherit it (copy-on-write):
    the language model and a multi-million-domain blocklist load once per run, not per worker.
    Elsewhere each spawned worker builds its own.
    """
    import multiprocessing

    global _CHAIN
    if "fork" in multiprocessing.get_all_start_methods():
        # Kept set here too: a worker the pool replaces is forked from this process again.
        _CHAIN = CurationChain(settings)
        return multiprocessing.get_context("fork").Pool(settings.workers)
    ctx = multiprocessing.get_context("spawn")
    return ctx.Pool(settings.workers, initializer=_init_worker, initargs=(settings,))


def run_curate(params: Params, progress: bool = True) -> dict[str, Any]:
    """Curate every input file with `curate.workers` processes; writes and returns the metrics."""
    from tqdm import tqdm

    from warc2gpt.tracking import write_metrics

    settings = params.curate
    files = resolve_inputs(settings.input, params.ingest.output)
    prune_stale_outputs(settings.output, [output_name(f) for f in files])
    started = time.perf_counter()
    pool = _start_pool(settings) if settings.workers > 1 else None
    chain = None if pool is not None else CurationChain(settings)
    file_stats = []
    bar = tqdm(total=len(files), unit="file", desc="curate", disable=not progress)
    docs = 0

    def count(n: int) -> None:
        nonlocal docs
        docs += n
        if docs % 25 == 0:
            bar.set_postfix(docs=docs)

    try:
        for path in files:
            file_stats.append(
                curate_file(path, settings, chain=chain, pool=pool, on_document=count)
            )
            bar.update(1)
            bar.set_postfix(docs=docs)
    finally:
        bar.close()
        if pool is not None:
            pool.close()
            pool.join()
    metrics = summarize(file_stats, time.perf_counter() - started, settings.workers)
    write_metrics(Path(settings.output) / "stats.json", metrics)
    write_metrics(settings.metrics, metrics)
    return metrics
