"""Throughput of the four quality filters on real page text, each alone and as FineWeb's chain.

    python benchmarks/quality_filters.py [--pages DIR] [--repeat 3]

The text is the trafilatura extraction (FineWeb's settings) of the ~920 real pages in
../shared/data/html/trafilatura_eval, cached in the temporary directory after the first run.
Prints docs/s per filter and for the chain (Gopher repetition -> Gopher quality -> C4 ->
FineWeb quality), with what each removed; with NLTK and its Punkt data installed, also the rate
of NLTK's word_tokenize, the word splitter FineWeb's filters call up to four times per page.
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

from warc2gpt.config import CurateSettings
from warc2gpt.curate.steps.c4_quality import C4QualityFilter
from warc2gpt.curate.steps.extract import extract_trafilatura
from warc2gpt.curate.steps.fineweb_quality import FineWebQualityFilter
from warc2gpt.curate.steps.gopher_quality import GopherQualityFilter
from warc2gpt.curate.steps.gopher_repetition import GopherRepetitionFilter
from warc2gpt.curate.text import count_sentences, split_words
from warc2gpt.documents import Document

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PAGES = ROOT.parent / "shared/data/html/trafilatura_eval"
CACHE = Path(tempfile.gettempdir()) / "warc2gpt-bench" / "quality_filter_texts.json"


def page_texts(pages: Path) -> list[str]:
    """Extracted main text of every page (non-empty ones), cached between runs."""
    if CACHE.exists():
        cached = json.loads(CACHE.read_text(encoding="utf-8"))
        if cached.get("pages") == str(pages):
            return cached["texts"]
    files = sorted(pages.glob("*.html.gz"))
    if not files:
        raise SystemExit(f"no *.html.gz pages in {pages}: pass --pages DIR")
    texts = []
    for path in files:
        html = gzip.open(path, "rt", encoding="utf-8", errors="replace").read()
        texts.append(extract_trafilatura(html, timeout=0))
    texts = [t for t in texts if t]
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    CACHE.write_text(json.dumps({"pages": str(pages), "texts": texts}), encoding="utf-8")
    return texts


def best_seconds(run, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def nltk_rate(texts: list[str], repeat: int) -> float | None:
    try:
        from nltk import word_tokenize

        word_tokenize("Punkt data present?")
    except (ImportError, LookupError):
        return None
    sample = texts[:200]
    return len(sample) / best_seconds(lambda: [word_tokenize(t) for t in sample], repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=Path, default=DEFAULT_PAGES)
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best counts")
    args = parser.parse_args()

    texts = page_texts(args.pages)
    settings = CurateSettings()
    filters = [
        GopherRepetitionFilter(settings.gopher_repetition),
        GopherQualityFilter(settings.gopher_quality),
        C4QualityFilter(settings.c4_quality),
        FineWebQualityFilter(settings.fineweb_quality),
    ]
    chars = sum(map(len, texts))
    print(f"{len(texts)} pages of extracted text, {chars / len(texts):,.0f} characters on average")
    print()
    print(f"{'step':<28}{'docs':>7}{'removed':>9}{'docs/s':>10}  top reasons")

    def row(name: str, docs: int, removed: int, seconds: float, reasons: Counter) -> None:
        top = ", ".join(f"{r} {n}" for r, n in reasons.most_common(3))
        print(f"{name:<28}{docs:>7}{removed:>9}{docs / seconds:>10,.0f}  {top}")

    words_s = best_seconds(lambda: [split_words(t) for t in texts], args.repeat)
    row("split_words", len(texts), 0, words_s, Counter())
    lines = [line for t in texts for line in t.splitlines()]
    sentences_s = best_seconds(lambda: [count_sentences(x) for x in lines], args.repeat)
    row("count_sentences (all lines)", len(texts), 0, sentences_s, Counter())

    # Each filter alone on every page (fresh documents, so no shared splits).
    for step in filters:
        reasons: Counter = Counter()

        def run_alone(step=step, reasons=reasons) -> None:
            reasons.clear()
            for text in texts:
                reason = step(Document(id="", url="", text=text))
                if reason:
                    reasons[reason] += 1

        seconds = best_seconds(run_alone, args.repeat)
        row(f"{step.name} (alone)", len(texts), sum(reasons.values()), seconds, reasons)

    # The chain as the stage runs it: each page stops at the first filter that removes it.
    removed_by: Counter = Counter()

    def run_chain() -> None:
        removed_by.clear()
        for text in texts:
            doc = Document(id="", url="", text=text)
            for step in filters:
                reason = step(doc)
                if reason:
                    removed_by[f"{step.name}:{reason}"] += 1
                    break

    seconds = best_seconds(run_chain, args.repeat)
    removed = sum(removed_by.values())
    row("chain of four", len(texts), removed, seconds, removed_by)
    print(f"\nkept by the chain: {len(texts) - removed} of {len(texts)}")
    for name in (f.name for f in filters):
        count = sum(n for k, n in removed_by.items() if k.startswith(name + ":"))
        print(f"  removed by {name:<18} {count:>5}")

    rate = nltk_rate(texts, args.repeat)
    if rate is None:
        print("\nNLTK word_tokenize: not measured (nltk or its punkt_tab data not installed)")
    else:
        print(f"\nNLTK word_tokenize (FineWeb's word splitter): {rate:,.0f} docs/s")


if __name__ == "__main__":
    main()
