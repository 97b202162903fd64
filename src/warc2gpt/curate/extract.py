"""Main-text extraction from HTML: trafilatura with FineWeb's settings, or resiliparse (fast)."""

from __future__ import annotations

import logging
import signal
import threading
from contextlib import contextmanager

logging.getLogger("trafilatura").setLevel(logging.CRITICAL)


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


def extract_trafilatura(html: str, timeout: float = 0.1) -> str:
    """FineWeb's extraction: favour precision, no comments, no images; '' when nothing is found."""
    import trafilatura
    from trafilatura.deduplication import LRU_SIZE, LRUCache

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
