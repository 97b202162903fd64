"""Main-text extraction from HTML: trafilatura with FineWeb's settings, or resiliparse (fast).

The chain hands a page over as a document whose text is the decoded page, with the HTML also
under `doc.cache[HTML]` when it needs extraction (WET records are plain text already).
"""

from __future__ import annotations

import functools
import logging
import re
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from warc2gpt.config_fields import bounded
from warc2gpt.curate.steps.base import Step

if TYPE_CHECKING:
    from warc2gpt.documents import Document

logging.getLogger("trafilatura").setLevel(logging.CRITICAL)

HTML = "html"  # the doc.cache key of a page's HTML, until extraction replaces it


@dataclass
class ExtractSettings:
    """Which extractor, and its budget; these keys sit directly under `curate:`."""

    extractor: Literal["trafilatura", "resiliparse"] = "trafilatura"
    # Extract cheaply with resiliparse, identify the language, then run the precise extractor
    # only on documents not confidently in another language (steps/prefilter.py): the same
    # documents kept on 1,127 real pages, in about half the time.
    prefilter_language: bool = True
    extraction_timeout: float = bounded(0.1, gt=0, doc="seconds per document (trafilatura)")
    # Open tags nested deeper than this remove a page (`too_deep`) before any extractor sees
    # it: resiliparse's time grows with the square of the depth (4,000 nested divs: 0.3 s,
    # 27,000: 26 s) and runs in C, where no timer can stop it. Counted without matching end
    # tags, so unclosed <p>/<li> count too: the deepest of 1,033 real pages counts 1,533.
    max_nesting_depth: int = bounded(5000, ge=1)


_OPENING_OR_CLOSING_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9:-]*)")
_VOID_ELEMENTS = frozenset(
    "area base br col embed hr img input link meta param source track wbr".split()
)


def nesting_depth(html: str, limit: int) -> int:
    """How deep open tags nest (void elements aside), counting up to `limit` + 1 at most."""
    depth = deepest = 0
    for closing, name in _OPENING_OR_CLOSING_TAG.findall(html):
        if name.lower() in _VOID_ELEMENTS:
            continue
        if closing:
            depth = max(depth - 1, 0)
        else:
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
    return deepest


class ExtractionTimeout(Exception):
    """A page took longer than the per-document extraction budget."""


@contextmanager
def _time_limit(seconds: float):
    """Raise ExtractionTimeout after `seconds` of this process's CPU time.

    CPU time rather than wall time: on a busy machine a wall-clock budget would drop different
    pages from run to run, and a resumed run must keep exactly what an uninterrupted one keeps.
    A signal timer only works in a process's main thread; elsewhere the page runs unlimited.
    """
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum, frame):
        raise ExtractionTimeout

    previous = signal.signal(signal.SIGPROF, _raise)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


@functools.cache
def _load_trafilatura_fallback() -> None:
    """Build what trafilatura builds the first time a page falls back to justext: a stoplist of
    every language (~0.2 s of CPU). Inside a page's budget it would time out whichever page came
    first in a process, so a page's fate would depend on the worker and order it ran in."""
    from justext.core import define_stoplist
    from trafilatura import external

    define_stoplist(external.JT_STOPLIST or external.jt_stoplist_init())


def extract_trafilatura(html: str, timeout: float = 0.1) -> str:
    """FineWeb's extraction: favour precision, no comments, no images; '' when nothing is found."""
    import trafilatura
    from trafilatura.deduplication import LRU_SIZE, LRUCache

    _load_trafilatura_fallback()
    with _time_limit(timeout):
        text = trafilatura.extract(
            html,
            favor_precision=True,
            include_comments=False,
            include_images=False,
            # Repeated segments are dropped within the page only. trafilatura's shared cache
            # would also drop text seen on earlier pages of the same process, so a page's text
            # would depend on the order and the worker it was processed in; the dedup stage
            # handles repeats across pages.
            deduplicate=LRUCache(maxsize=LRU_SIZE),
        )
    return text or ""


def extract_resiliparse(html: str) -> str:
    """Fast main-content extraction with resiliparse."""
    from resiliparse.extract.html2text import extract_plain_text

    return extract_plain_text(
        html,
        main_content=True,
        alt_texts=False,
        links=False,
        list_bullets=True,
        skip_elements=("form", "nav", "footer", "aside"),
    ).strip()


def extract_text(html: str, extractor: str, timeout: float = 0.1) -> str:
    """Dispatch on the configured extractor name."""
    if extractor == "trafilatura":
        return extract_trafilatura(html, timeout)
    if extractor == "resiliparse":
        return extract_resiliparse(html)
    raise ValueError(f"unknown extractor {extractor!r}: expected trafilatura or resiliparse")


class Extraction(Step):
    """The page's main text becomes `doc.text`; a page with none is removed (`empty`), one that
    runs past the budget too (`timeout`), and one nested too deep before extraction (`too_deep`)."""

    name = "extract"
    Settings = ExtractSettings
    section = ""

    def __call__(self, doc: Document) -> str | None:
        html = doc.cache.pop(HTML, None)
        if html is None:
            doc.text = doc.text.strip()
        elif nesting_depth(html, self.settings.max_nesting_depth) > self.settings.max_nesting_depth:
            doc.text = ""
            return "too_deep"
        else:
            try:
                doc.text = extract_text(
                    html, self.settings.extractor, self.settings.extraction_timeout
                )
            except ExtractionTimeout:
                doc.text = ""
                return "timeout"
        return None if doc.text.strip() else "empty"
