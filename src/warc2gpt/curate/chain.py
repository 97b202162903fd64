"""The curation chain: the enabled curate steps (curate/steps/, in PIPELINE order) applied to
one page, with the timing, counting, removal records and error isolation done here once for
every step.

`chain.apply(page, source, tally)` turns a WARC page into an `Outcome` (the document, and the
step and reason that removed it, if one did) and counts it into the per-step tally.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from warc2gpt.config import CurateSettings
from warc2gpt.curate.charset import decode_page
from warc2gpt.curate.steps import PIPELINE, Step
from warc2gpt.curate.steps.extract import HTML
from warc2gpt.documents import Document
from warc2gpt.ingest.warc import Page


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
    """A page after the chain: a document, and the step and reason that removed it (if any).

    `visited` names the summary rows the document reached, in order; `timings` holds the
    seconds spent per step name (and `decode`).
    """

    doc: Document
    step: str = ""
    reason: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    visited: list[str] = field(default_factory=list)


def document_id(page: Page, source: str) -> str:
    """The WARC record id (as FineWeb keeps it), or a digest of file and offset."""
    rid = page.record_id.strip("<>")
    if rid:
        return rid.removeprefix("urn:uuid:")
    return hashlib.sha1(f"{source}:{page.offset}".encode()).hexdigest()


def enabled_steps(settings: CurateSettings) -> list[type[Step]]:
    """The step classes that run under `settings`, in pipeline order."""
    return [step for step in PIPELINE if step.enabled(settings)]


def chain_steps(settings: CurateSettings) -> list[str]:
    """Names of the enabled steps that can remove a document, in order (the rows of the
    summary table). Steps that stand in for another (the prefilter) share its row."""
    rows = [step.name for step in enabled_steps(settings) if step.in_summary]
    return list(dict.fromkeys(rows))


class CurationChain:
    """The enabled steps in pipeline order; one per process (models load once)."""

    def __init__(self, settings: CurateSettings):
        self.settings = settings
        self.steps: list[Step] = [cls(cls.settings_in(settings)) for cls in enabled_steps(settings)]
        self.step_names = chain_steps(settings)

    def tally(self) -> dict[str, StepStats]:
        """Empty per-step counts, in chain order, for `apply` to fill."""
        return {step: StepStats() for step in self.step_names}

    def apply(self, page: Page, source: str, tally: dict[str, StepStats]) -> Outcome:
        """Run the chain on one page and count what each step saw into `tally`."""
        outcome = self.process(page, source)
        for step in outcome.visited:
            stats = tally.setdefault(step, StepStats())
            stats.docs_in += 1
            stats.seconds += outcome.timings.get(step, 0.0)
        if outcome.step:
            stats = tally[outcome.step]
            stats.removed += 1
            stats.reasons[outcome.reason] += 1
        return outcome

    def process(self, page: Page, source: str) -> Outcome:
        """Run every step on the page's document until one removes it.

        A step that raises removes the document with the reason `error_<ExceptionName>`: one
        page that breaks a parser or a filter never stops the file.
        """
        start = time.perf_counter()
        html, _ = decode_page(page.body, page.http_charset)
        doc = Document(
            id=document_id(page, source),
            url=page.url,
            text=html,
            date=page.date,
            source_file=source,
            source_offset=page.offset,
        )
        if page.kind == "html":
            doc.cache[HTML] = html
        outcome = Outcome(doc=doc, timings={"decode": time.perf_counter() - start})
        timings = outcome.timings
        for step in self.steps:
            start = time.perf_counter()
            try:
                reason = step(doc)
            except Exception as exc:
                reason = f"error_{type(exc).__name__}"
            timings[step.name] = timings.get(step.name, 0.0) + time.perf_counter() - start
            if reason:
                outcome.step, outcome.reason = step.name, reason
                outcome.visited = self._rows_up_to(step.name)
                return outcome
        doc.cache.clear()
        outcome.visited = list(self.step_names)
        return outcome

    def _rows_up_to(self, name: str) -> list[str]:
        """The summary rows a document removed at `name` passed through, that one included:
        the counts read as a funnel, whichever step ran first (the prefilter)."""
        rows = self.step_names
        return rows[: rows.index(name) + 1] if name in rows else [*rows, name]


_CHAINS: dict[str, CurationChain] = {}


def chain_for(settings: CurateSettings) -> CurationChain:
    """This process's chain for `settings`, built once: models and blocklists load once, and
    worker processes forked after the first call inherit it."""
    key = repr(settings)
    if key not in _CHAINS:
        _CHAINS.clear()
        _CHAINS[key] = CurationChain(settings)
    return _CHAINS[key]
