"""The `prefilter_language` option: a cheap resiliparse extraction and language ID before the
precise extractor, so pages in unwanted languages never meet trafilatura.

Two steps that report under the rows of the steps they stand in for: the cheap extraction's
time counts to `extract`, and a page it removes counts to `language`, with the reason
`prefilter_<reason>`. A page with no cheap text, or no HTML, goes on to the straight chain.

The prefilter removes only what it is sure of: a page whose cheap text is in an unwanted
language with a score above `language.min_score`. Anything less certain (a low score, whatever
its language) goes on to the precise extractor and the language filter, which decide as they
would without the prefilter. On 1,127 real pages the kept documents are the same with it and
without it; an English home page whose cheap text is mostly a list of names (score 0.60) is
why a low score is not enough to remove a page here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from warc2gpt.curate.steps.extract import HTML, Extraction, extract_resiliparse, nesting_depth
from warc2gpt.curate.steps.language import LanguageFilter

if TYPE_CHECKING:
    from warc2gpt.documents import Document


def prefilter_enabled(curate: Any) -> bool:
    """On when asked for, with language ID on and a precise extractor to save work for."""
    return (
        curate.prefilter_language and curate.language.enabled and curate.extractor != "resiliparse"
    )


class PrefilterExtraction(Extraction):
    """`doc.text` becomes resiliparse's text; the HTML stays for the precise extractor."""

    @classmethod
    def enabled(cls, curate: Any) -> bool:
        return prefilter_enabled(curate)

    def __call__(self, doc: Document) -> str | None:
        html = doc.cache.get(HTML)
        if html is not None:
            limit = self.settings.max_nesting_depth
            # A page nested too deep goes on, untouched, to the extraction step that removes it.
            doc.text = extract_resiliparse(html) if nesting_depth(html, limit) <= limit else ""
        return None


class LanguagePrefilter(LanguageFilter):
    """The language filter on the cheap text of an HTML page, removing only pages confidently
    in an unwanted language."""

    @classmethod
    def enabled(cls, curate: Any) -> bool:
        return prefilter_enabled(curate)

    def __call__(self, doc: Document) -> str | None:
        if HTML not in doc.cache or not doc.text:
            return None
        reason = super().__call__(doc)
        if reason is None or doc.language_score <= self.min_score:
            return None
        return "prefilter_" + reason
