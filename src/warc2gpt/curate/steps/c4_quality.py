"""C4's line and page rules (Raffel et al. 2020) as FineWeb applies them: drops lines that are
boilerplate (too few words, "javascript", cookie and policy notices, overlong words), removes
Wikipedia-style citations, and removes pages with "lorem ipsum", a curly bracket or too few
sentences. A kept page's text is rewritten to its kept lines."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from warc2gpt.config_fields import bounded
from warc2gpt.curate.steps.base import Step
from warc2gpt.curate.text import count_sentences, lines, split_sentences

if TYPE_CHECKING:
    from warc2gpt.documents import Document

CITATION_RE = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
END_PUNCTUATION = (".", "?", "!", '"', "'")
ELLIPSIS = "..."
POLICY_SUBSTRINGS = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)


@dataclass
class C4QualitySettings:
    """C4 line and document rules; FineWeb drops the terminal-punctuation rule."""

    enabled: bool = True
    split_paragraph: bool = True
    remove_citations: bool = True
    filter_no_terminal_punct: bool = False
    min_num_sentences: int = bounded(5, ge=0)
    min_words_per_line: int = bounded(3, ge=0)
    max_word_length: int = bounded(1000, ge=1)
    filter_lorem_ipsum: bool = True
    filter_javascript: bool = True
    filter_curly_bracket: bool = True
    filter_policy: bool = True


class C4QualityFilter(Step):
    """Keeps a page's prose lines; removes the page when too little prose is left."""

    name = "c4_quality"
    Settings = C4QualitySettings

    def __call__(self, doc: Document) -> str | None:
        s = self.settings
        units = lines(doc) if s.split_paragraph else split_sentences(doc.text)
        sentences = 0
        kept: list[str] = []
        for line in units:
            line = line.strip()
            words = line.split()
            if len(line) > s.max_word_length and any(len(w) > s.max_word_length for w in words):
                continue
            if s.remove_citations and "[" in line:
                line = CITATION_RE.sub("", line)
            if s.filter_no_terminal_punct and (
                not line.endswith(END_PUNCTUATION) or line.endswith(ELLIPSIS)
            ):
                continue
            if len(words) < s.min_words_per_line:
                continue
            lowered = line.lower()
            if s.filter_lorem_ipsum and "lorem ipsum" in lowered:
                return "lorem_ipsum"
            if s.filter_javascript and "javascript" in lowered:
                continue
            if s.filter_curly_bracket and "{" in line:
                return "curly_bracket"
            if s.filter_policy and any(p in lowered for p in POLICY_SUBSTRINGS):
                continue
            # Sentences only matter up to the minimum; counting stops there.
            if sentences < s.min_num_sentences:
                sentences += count_sentences(line) if s.split_paragraph else 1
            kept.append(line)
        if sentences < s.min_num_sentences:
            return "too_few_sentences"
        doc.text = ("\n" if s.split_paragraph else " ").join(kept).strip()
        return None
