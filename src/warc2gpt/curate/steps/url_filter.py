"""URL blocklist filter: blocked domains and URLs, banned words and subwords in the URL.

Which domain and URL lists it uses is `blocklist_report(settings)`: FineWeb's 4.56 M-domain list
by default, found on disk as curate/blocklists.py describes; when it is not found the package's
own few sample domains stand in, and the report (and a logged warning) says so.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from warc2gpt.config_fields import bounded, listing
from warc2gpt.curate.steps.base import Step

if TYPE_CHECKING:
    from warc2gpt.curate.blocklists import HashSet
    from warc2gpt.documents import Document

NON_ALNUM = re.compile(r"[^a-z0-9]+")
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


@dataclass
class UrlFilterSettings:
    """URL blocklists: files of domains, full URLs and banned (sub)words."""

    enabled: bool = True
    # The domain and URL lists when domain_files and url_files are both empty. fineweb: FineWeb's
    # 4.56 M domains and 19.6 k URLs (never downloaded at run time: `warc2gpt blocklist` shows
    # where it is found, `warc2gpt blocklist install` puts it in the cache) plus the package's
    # sample domains; without it, those sample domains alone and a warning. builtin: the sample
    # domains alone. none: no domain or URL list (the word lists still apply).
    blocklist: Literal["fineweb", "builtin", "none"] = "fineweb"
    # Files may be plain or gzip; globs allowed. Domain or URL files replace `blocklist`; empty
    # word lists use the lists the package ships.
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


def normalize_listed_url(line: bytes) -> bytes:
    """A line of a URL list, normalized as `normalize_url` does a document's URL."""
    return normalize_url(line.decode("utf-8", "ignore"))


@dataclass
class BlockedLists:
    """The domain and URL sets a URL filter checks, and the report of where they came from."""

    domains: HashSet
    urls: HashSet
    report: dict[str, Any]


_LOADED: dict[tuple, BlockedLists] = {}


def blocked_lists(settings: UrlFilterSettings) -> BlockedLists:
    """The domain and URL lists `settings` resolve to, loaded once per process (and again only
    when the settings, $WARC2GPT_BLOCKLIST_DIR, the cache folder or the working directory
    change)."""
    from warc2gpt.curate.blocklists import ENV_DIR, cache_root, working_dir

    key = (
        settings.blocklist,
        tuple(settings.domain_files),
        tuple(settings.url_files),
        os.environ.get(ENV_DIR, ""),
        str(cache_root()),
        str(working_dir()),
    )
    if key not in _LOADED:
        _LOADED.clear()
        _LOADED[key] = _load_lists(settings)
    return _LOADED[key]


def _load_lists(settings: UrlFilterSettings) -> BlockedLists:
    from warc2gpt.curate.blocklists import (
        FINEWEB_DOMAIN_FILES,
        FINEWEB_URL_FILES,
        HashSet,
        builtin,
        expand,
        find_fineweb,
        warn_once,
    )

    sample = builtin("domains.txt")
    kind, domain_files, url_files, source = "builtin", sample, [], str(sample[0])
    folder, places = None, []
    if settings.domain_files or settings.url_files:
        kind = "custom"
        domain_files, url_files = expand(settings.domain_files), expand(settings.url_files)
        source = ", ".join([*settings.domain_files, *settings.url_files])
    elif settings.blocklist == "none":
        kind, domain_files, source = "none", [], ""
    elif settings.blocklist == "fineweb":
        folder, places = find_fineweb()
    if folder is not None:
        kind, source = "fineweb", str(folder)
        domain_files = [folder / name for name in FINEWEB_DOMAIN_FILES] + sample
        url_files = [folder / name for name in FINEWEB_URL_FILES]
    domains = HashSet.from_files(domain_files)
    urls = HashSet.from_files(url_files, normalize=normalize_listed_url)
    warning = ""
    if settings.blocklist == "fineweb" and kind == "builtin":
        looked = "; ".join(f"{place.folder or place.label} ({place.status})" for place in places)
        warning = (
            f"FineWeb's URL blocklist was not found, so only the package's {len(domains)} sample "
            f"domains are blocked (looked in: {looked}). Install it with `warc2gpt blocklist "
            "install PATH_OR_URL` or point $WARC2GPT_BLOCKLIST_DIR at it; set "
            "curate.url_filter.blocklist to builtin or none if this is meant"
        )
        warn_once(warning)
    report = {
        "blocklist": kind,
        "source": source,
        "domains": len(domains),
        "urls": len(urls),
        # More than the package's invented sample domains: FineWeb's list, or the user's own.
        "real": kind == "fineweb" or (kind == "custom" and len(domains) + len(urls) > 0),
        "warning": warning,
    }
    return BlockedLists(domains, urls, report)


def blocklist_report(settings: Any) -> dict[str, Any]:
    """Which domain and URL lists the URL filter under `settings` uses (curate settings, or
    their `url_filter` section): {"blocklist": "fineweb" | "builtin" | "none" | "custom",
    "source": folder or files ("" for none), "domains": count, "urls": count, "real": whether the
    lists are more than the package's sample, "warning": why the default list is missing, or ""}.

    Cheap: it shares the lists this process's URL filter loaded (else loads them from their
    index, in milliseconds). A disabled URL filter reports "none".
    """
    url_filter = getattr(settings, "url_filter", settings)
    if not url_filter.enabled:
        return {
            "blocklist": "none",
            "source": "",
            "domains": 0,
            "urls": 0,
            "real": False,
            "warning": "",
        }
    return dict(blocked_lists(url_filter).report)


class URLFilter(Step):
    """Removes documents whose URL is on a blocklist or carries banned words."""

    name = "url_filter"
    Settings = UrlFilterSettings

    def __init__(self, settings: UrlFilterSettings):
        from warc2gpt.curate.blocklists import builtin, expand, read_lines

        super().__init__(settings)
        lists = blocked_lists(settings)
        self.domains, self.urls, self.report = lists.domains, lists.urls, lists.report
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
