"""URL blocklist: the project's own lists and the real 4.56 M-domain FineWeb list."""

from __future__ import annotations

import resource
import time

import pytest

from warc2gpt.curate.steps.url_filter import URLFilter, UrlFilterSettings, normalize_url
from warc2gpt.documents import Document


def doc(url: str) -> Document:
    return Document(id="x", url=url, text="")


@pytest.fixture(scope="module")
def fineweb_filter(shared_data):
    lists = shared_data / "blocklists"
    settings = UrlFilterSettings(
        domain_files=[str(lists / "datatrove_url_filter_v0_3_0/domains.part*.gz")],
        url_files=[str(lists / "datatrove_url_filter_v0_3_0/urls.gz")],
        banned_word_files=[str(lists / "banned_words.txt")],
        banned_subword_files=[str(lists / "banned_subwords.txt")],
        soft_banned_word_files=[str(lists / "soft_banned_words.txt")],
    )
    start = time.perf_counter()
    url_filter = URLFilter(settings)
    return url_filter, time.perf_counter() - start


def test_real_list_loads_fast_and_small(fineweb_filter):
    url_filter, seconds = fineweb_filter
    assert len(url_filter.domains) > 4_500_000
    assert url_filter.domains.hashes.nbytes < 40 * 2**20
    assert seconds < 30  # a few seconds on an idle 2-core machine; loose under a loaded CI
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 2 * 2**20  # KiB: under 2 GiB


def test_real_list_decisions(fineweb_filter):
    url_filter, _ = fineweb_filter
    assert url_filter(doc("http://0-1avsex.com/index.html")) == "domain"
    assert url_filter(doc("https://cdn.images.0-1sex.com/a.jpg")) == "domain"  # subdomain
    blocked = (
        "http://0149614511.strimbat.fr/porno-anal-escort-granville-faire-sa-salope-baise-"
        "une-vache-video-gratuite-x-escort-girl-auxerre"
    )
    assert url_filter(doc(blocked)) in {"url", "domain", "banned_word"}
    assert url_filter(doc("https://en.wikipedia.org/wiki/Web_crawler")) is None
    assert url_filter(doc("https://www.gutenberg.org/ebooks/100")) is None
    assert url_filter(doc("https://example.com/videos/porn/1")) == "banned_word"


def test_builtin_lists_without_configuration():
    url_filter = URLFilter(UrlFilterSettings())
    assert len(url_filter.domains) > 0
    assert url_filter(doc("https://en.wikipedia.org/wiki/Main_Page")) is None


def test_soft_words_need_the_threshold(tmp_path):
    soft = tmp_path / "soft.txt"
    soft.write_text("cheap\npills\n")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    settings = UrlFilterSettings(
        domain_files=[str(empty)],
        banned_word_files=[str(empty)],
        banned_subword_files=[str(empty)],
        soft_banned_word_files=[str(soft)],
        soft_word_threshold=2,
    )
    url_filter = URLFilter(settings)
    assert url_filter(doc("https://shop.example/cheap-shoes")) is None
    assert url_filter(doc("https://shop.example/cheap-pills")) == "soft_banned_words"


def test_subwords_match_inside_words(tmp_path):
    sub = tmp_path / "sub.txt"
    sub.write_text("casino bonus\n")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    url_filter = URLFilter(
        UrlFilterSettings(
            domain_files=[str(empty)],
            banned_word_files=[str(empty)],
            banned_subword_files=[str(sub)],
            soft_banned_word_files=[str(empty)],
        )
    )
    assert url_filter(doc("https://x.example/best-casino-bonus-2024")) == "banned_subword"
    assert url_filter(doc("https://x.example/casino-history")) is None


def test_missing_list_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        URLFilter(UrlFilterSettings(domain_files=[str(tmp_path / "nope.txt")]))


def test_normalize_url():
    assert normalize_url("HTTPS://www.Example.com/a/") == b"example.com/a"
