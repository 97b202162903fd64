"""The built-in sample crawl: byte-for-byte determinism, valid WARC, and the planted cases."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from warc2gpt.curate.steps.url_filter import URLFilter, UrlFilterSettings
from warc2gpt.documents import Document
from warc2gpt.ingest import sample
from warc2gpt.ingest.sample import (
    CASES,
    sample_file_names,
    sample_manifest,
    write_sample_crawl,
)


@pytest.fixture(scope="module")
def crawl(tmp_path_factory) -> list[Path]:
    return write_sample_crawl(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="module")
def responses(crawl) -> dict[str, tuple[str, dict[str, str], bytes]]:
    """url -> (file name, HTTP headers, body) for every response record, digests checked."""
    out = {}
    for path in crawl:
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh, check_digests="raise"):
                if record.rec_type == "response":
                    url = record.rec_headers.get_header("WARC-Target-URI")
                    headers = dict(record.http_headers.headers)
                    out[url] = (path.name, headers, record.content_stream().read())
    return out


def _digest(paths: list[Path]) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def test_same_seed_same_bytes(crawl, tmp_path):
    again = write_sample_crawl(tmp_path / "again")
    assert _digest(again) == _digest(crawl)
    # Writing over an existing crawl gives the same files too (no leftovers, no appends).
    assert _digest(write_sample_crawl(tmp_path / "again")) == _digest(crawl)
    assert not list((tmp_path / "again").glob("*.tmp"))


def test_same_bytes_in_another_process(crawl, tmp_path):
    # A fresh interpreter with another string-hash seed: no set or dict order leaks into the bytes.
    code = (
        "import sys; from warc2gpt.ingest.sample import write_sample_crawl; "
        "write_sample_crawl(sys.argv[1])"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, env=env)
    assert _digest(sorted(tmp_path.glob("*.warc.gz"))) == _digest(crawl)


def test_other_seed_other_crawl(crawl, tmp_path):
    other = write_sample_crawl(tmp_path / "other", seed=1)
    assert [p.name for p in other] == [p.name for p in crawl]
    assert _digest(other) != _digest(crawl)
    assert {p.url for p in sample_manifest(1)} != {p.url for p in sample_manifest(0)}


def test_each_file_alone_has_its_bytes_in_the_whole_crawl(crawl, tmp_path):
    names = sample_file_names()
    assert names == [p.name for p in crawl]
    for name in reversed(names):  # any order, any subset: the bytes stay the same
        (path,) = write_sample_crawl(tmp_path / name, names=[name])
        assert _digest([path]) == {name: _digest(crawl)[name]}
    with pytest.raises(ValueError, match="no file sample-crawl-00009.warc.gz"):
        write_sample_crawl(tmp_path / "none", names=["sample-crawl-00009.warc.gz"])


def test_generation_is_fast(tmp_path):
    start = time.process_time()  # CPU time: other processes on the machine do not count
    write_sample_crawl(tmp_path)
    assert time.process_time() - start < 2.0


def test_files_are_common_crawl_shaped(crawl):
    assert 2 <= len(crawl) <= 4
    for path in crawl:
        data = path.read_bytes()
        assert data[:2] == b"\x1f\x8b"
        assert data[4:8] == b"\x00\x00\x00\x00"  # gzip mtime 0: no wall-clock time in the bytes
        with open(path, "rb") as fh:
            records = list((r.rec_type, dict(r.rec_headers.headers)) for r in ArchiveIterator(fh))
        assert records[0][0] == "warcinfo"
        assert records[0][1]["WARC-Filename"] == path.name
        kinds = Counter(kind for kind, _ in records)
        assert kinds["request"] == kinds["response"] > 100
        by_id = {h["WARC-Record-ID"]: (k, h) for k, h in records}
        for kind, headers in records[1:]:
            assert headers["WARC-Warcinfo-ID"] == records[0][1]["WARC-Record-ID"]
            if kind == "response":
                request_kind, request = by_id[headers["WARC-Concurrent-To"]]
                assert request_kind == "request"
                assert request["WARC-Target-URI"] == headers["WARC-Target-URI"]


def test_manifest_matches_the_files(crawl, responses):
    manifest = sample_manifest()
    assert 300 <= len(manifest) <= 400
    assert {p.url: p.warc_file for p in manifest} == {u: r[0] for u, r in responses.items()}
    for page in manifest:
        _, headers, body = responses[page.url]
        assert headers["Content-Type"] == page.content_type
        assert int(headers["Content-Length"]) == len(body)
        if page.encoding:
            case = re.search(rb'name="warc2gpt-sample-case" content="([a-z_0-9]+)"', body)
            assert case and case.group(1).decode() == page.case


def test_every_case_is_planted_as_configured():
    counts = Counter(p.case for p in sample_manifest())
    assert set(counts) == set(CASES)
    assert counts["good"] == sample.GOOD_PAGES
    assert counts["blocklisted_domain"] == sample.BLOCKED_DOMAIN_PAGES
    assert counts["banned_word"] == sample.BANNED_WORD_PAGES
    assert counts["soft_banned_words"] == sample.SOFT_BANNED_PAGES
    assert counts["banned_subword"] == sample.BANNED_SUBWORD_PAGES
    assert counts["other_language"] == sum(sample.LANGUAGE_PAGES.values())
    assert counts["repetitive_spam"] == sample.REPETITION_PAGES
    assert counts["too_short"] == sample.SHORT_PAGES
    assert counts["teaser_list"] == sample.TEASER_LIST_PAGES
    for case in ("lorem_ipsum", "curly_bracket", "javascript_policy"):
        assert counts[case] == sample.C4_PAGES
    assert counts["short_lines"] == sample.FINEWEB_PAGES
    assert counts["near_duplicate"] == sample.NEAR_DUP_GROUPS * sample.NEAR_DUP_COPIES
    assert counts["exact_duplicate"] == sample.EXACT_DUP_GROUPS * sample.EXACT_DUP_COPIES
    assert counts["pii"] == sample.PII_PAGES
    assert counts["non_html"] == 2
    expected = Counter(p.expected for p in sample_manifest())
    assert expected["kept"] > sum(expected.values()) / 2  # most of the crawl is good text


def test_every_file_mixes_the_cases():
    by_file: dict[str, set[str]] = {}
    for page in sample_manifest():
        by_file.setdefault(page.warc_file, set()).add(page.expected)
    for expected in by_file.values():
        assert {"kept", "url_filter", "language", "gopher_repetition"} <= expected


def test_url_filter_cases_hit_the_shipped_lists():
    url_filter = URLFilter(UrlFilterSettings())
    reasons = {
        "blocklisted_domain": "domain",
        "banned_word": "banned_word",
        "soft_banned_words": "soft_banned_words",
        "banned_subword": "banned_subword",
    }
    for page in sample_manifest():
        got = url_filter(Document(id=page.url, url=page.url, date="", text=""))
        if page.case in reasons:
            assert got == reasons[page.case], page.url
        else:
            assert got is None, page.url


def test_duplicate_groups(responses):
    groups: dict[str, list] = {}
    for page in sample_manifest():
        if page.dup_group:
            groups.setdefault(page.dup_group, []).append(page)
    near = [g for name, g in groups.items() if name.startswith("near-")]
    exact = [g for name, g in groups.items() if name.startswith("exact-")]
    assert len(near) == sample.NEAR_DUP_GROUPS and len(exact) == sample.EXACT_DUP_GROUPS

    def article(page) -> list[str]:
        body = responses[page.url][2].decode(page.encoding)
        main = body.split('<article class="post">')[1].split("</article>")[0]
        return re.findall(r"<p>([^<]{80,})</p>", main)

    for group in exact:
        assert len({p.url for p in group}) == len(group)
        assert all(article(p) == article(group[0]) for p in group)
    for group in near:
        words = [" ".join(article(p)).split() for p in group]
        for other in words[1:]:
            assert len(other) == len(words[0])
            changed = sum(a != b for a, b in zip(words[0], other, strict=True))
            assert 1 <= changed <= 5


def test_pii_is_planted_where_the_manifest_says(responses):
    email = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
    ip = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")
    for page in sample_manifest():
        if not page.encoding:
            continue
        body = responses[page.url][2].decode(page.encoding)
        main = body.split('<article class="post">')[1].split("</article>")[0]
        ips = [ipaddress.ip_address(x) for x in ip.findall(main)]
        assert len(email.findall(main)) == page.pii_emails, page.url
        assert sum(x.is_global for x in ips) == page.pii_ips, page.url
        assert sum(x.is_private for x in ips) == page.private_ips, page.url
    assert sum(p.pii_emails for p in sample_manifest()) >= 10
    assert sum(p.pii_ips for p in sample_manifest()) >= 5


def test_non_html_and_charset_cases(responses):
    pages = {p.case: p for p in sample_manifest() if p.case.startswith(("charset", "non_html"))}
    png = next(p for p in sample_manifest() if p.content_type == "image/png")
    pdf = next(p for p in sample_manifest() if p.content_type == "application/pdf")
    assert responses[png.url][2].startswith(b"\x89PNG\r\n\x1a\n")
    assert responses[pdf.url][2].startswith(b"%PDF-") and b"%%EOF" in responses[pdf.url][2]

    cp1252 = pages["charset_windows_1252"]
    body = responses[cp1252.url][2]
    assert cp1252.content_type == "text/html; charset=windows-1252"
    assert b"\x93" in body or b"\x97" in body  # curly quote / em dash: differs from Latin-1
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")

    latin1 = pages["charset_latin1_meta"]
    body = responses[latin1.url][2]
    assert latin1.content_type == "text/html"  # the charset is only in the page's <meta>
    assert b"charset=iso-8859-1" in body[:1000]
    assert "Menschenrechte" in body.decode("iso-8859-1")
    assert re.search(rb"[\xe4\xf6\xfc\xdf]", body)  # a/o/u umlaut or sharp s as one byte


def test_texts_are_real_prose_not_placeholder():
    manifest = sample_manifest()
    sources = Counter(p.source.split("/")[0] for p in manifest if p.source)
    assert sources["inaugural"] > 250 and sources["udhr"] >= 20
    languages = Counter(p.language for p in manifest if p.expected == "language")
    assert {"de", "fr", "es", "it"} <= set(languages)
