"""URL blocklist filter: blocked domains and URLs, banned words and subwords in the URL."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from warc2gpt.config_fields import bounded, listing
from warc2gpt.curate.steps.base import Step

if TYPE_CHECKING:
    from warc2gpt.documents import Document

NON_ALNUM = re.compile(r"[^a-z0-9]+")
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


@dataclass
class UrlFilterSettings:
    """URL blocklists: files of domains, full URLs and banned (sub)words."""

    enabled: bool = True
    # Files may be plain or gzip; globs allowed. Empty lists use the lists the package ships.
    domain_files: list[str] = listing()
    url_files: list[str] = listing()
    banned_word_files: list[str] = listing()
    banned_subword_files: list[str] = listing()
    soft_banned_word_files: list[str] = listing()
    soft_word_threshold: int = bounded(2, ge=1)


def normalize_url(url: str) -> bytes:
    """Scheme, `www.` and trailing slash removed, lower case: how blocked URLs are listed."""
    url = SCHEME.sub("", url.strip().lower())
    if url.startswith("www."):
        url = url[4:]
    return url.rstrip("/").encode("utf-8", "ignore")


class URLFilter(Step):
    """Removes documents whose URL is on a blocklist or carries banned words."""

    name = "url_filter"
    Settings = UrlFilterSettings

    def __init__(self, settings: UrlFilterSettings):
        from warc2gpt.curate.blocklists import HashSet, builtin, expand, read_lines

        super().__init__(settings)
        own = not (settings.domain_files or settings.url_files)
        domain_files = (
            expand(settings.domain_files)
            if settings.domain_files
            else (builtin("domains.txt") if own else [])
        )
        url_files = expand(settings.url_files)
        self.domains = HashSet.from_files(domain_files)
        self.urls = HashSet(
            [normalize_url(u.decode("utf-8", "ignore")) for u in read_lines(url_files)]
        )
        words = lambda files, default: read_lines(  # noqa: E731
            expand(files) if files else builtin(default)
        )
        self.banned_words = {
            w.decode() for w in words(settings.banned_word_files, "banned_words.txt")
        }
        self.soft_words = {
            w.decode() for w in words(settings.soft_banned_word_files, "soft_banned_words.txt")
        }
        subwords = sorted(
            {
                NON_ALNUM.sub(" ", w.decode()).strip()
                for w in words(settings.banned_subword_files, "banned_subwords.txt")
            }
        )
        subwords = [s for s in subwords if s]
        self.subwords = re.compile("|".join(map(re.escape, subwords))) if subwords else None
        self.soft_threshold = settings.soft_word_threshold

    def __call__(self, doc: Document) -> str | None:
        url = doc.url.strip().lower()
        host = (urlsplit(url if SCHEME.match(url) else "http://" + url).hostname or "").rstrip(".")
        labels = host.split(".")
        for i in range(len(labels) - 1):
            if ".".join(labels[i:]).encode() in self.domains:
                return "domain"
        if self.urls and normalize_url(url) in self.urls:
            return "url"
        flat = NON_ALNUM.sub(" ", url)
        words = set(flat.split())
        if not words.isdisjoint(self.banned_words):
            return "banned_word"
        if len(words & self.soft_words) >= self.soft_threshold:
            return "soft_banned_words"
        if self.subwords is not None and self.subwords.search(f" {flat} "):
            return "banned_subword"
        return None
