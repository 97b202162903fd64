"""WARC/WET reading on real files: every producer, truncated and corrupt input, non-WARC input."""

from __future__ import annotations

import gzip
import io

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from warc2gpt.ingest.warc import NotWarcError, iter_pages


def _warc(pages: list[tuple[str, bytes, str]]) -> bytes:
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True)
    for url, body, ctype in pages:
        http = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")
        writer.write_record(
            writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http)
        )
    return out.getvalue()


def test_every_real_warc_reads(shared_data):
    counts = {}
    for path in sorted((shared_data / "warc").rglob("*.warc.gz")):
        problems = []
        counts[path.name] = len(list(iter_pages(path, problems)))
    assert counts["trafilatura-pages.warc.gz"] == 1033
    assert counts["warcfile.warc.gz"] == 16  # the Common Crawl excerpt's 16 responses
    assert counts["clueweb-quirk.warc.gz"] == 29
    # the browser crawl: only its HTML responses, not CSS, JS, images or fonts
    assert 0 < counts["solidaritenum.warc.gz"] <= 8


def test_wet_conversion_records_are_text(shared_data):
    pages = list(iter_pages(shared_data / "warc/commoncrawl_whirlwind/whirlwind.warc.wet.gz", []))
    assert len(pages) == 1 and pages[0].kind == "text"
    assert pages[0].url.startswith("https://an.wikipedia.org/")


def test_truncated_file_is_reported_with_offset(shared_data):
    problems = []
    pages = list(iter_pages(shared_data / "warc/resiliparse/clipped.warc.gz", problems))
    assert pages == []
    assert len(problems) == 1
    assert problems[0].offset == 0
    assert "truncated record" in problems[0].message and "houstonpress.com" in problems[0].message


def test_corrupt_member_skipped_and_rest_of_file_read(tmp_path):
    good = [
        (f"https://example.org/{i}", b"<html><body>page %d</body></html>" % i, "text/html")
        for i in range(5)
    ]
    members = [_warc([page]) for page in good]
    broken = bytearray(members[2])
    broken[40:60] = b"\x00" * 20  # inside the deflate stream of the third record
    data = members[0] + members[1] + bytes(broken) + members[3] + members[4]
    path = tmp_path / "corrupt.warc.gz"
    path.write_bytes(data)
    problems = []
    urls = [p.url for p in iter_pages(path, problems)]
    assert urls == [
        "https://example.org/0",
        "https://example.org/1",
        "https://example.org/3",
        "https://example.org/4",
    ]
    assert len(problems) == 1
    assert problems[0].offset == len(members[0]) + len(members[1])
    assert str(path) in str(problems[0])


def test_not_a_warc_file_names_it(tmp_path, shared_data):
    listing = shared_data / "warc/commoncrawl_whirlwind/CC-MAIN-2024-22.warc.paths.gz"
    with pytest.raises(NotWarcError, match="CC-MAIN-2024-22.warc.paths.gz: not a WARC"):
        list(iter_pages(listing, []))
    text = tmp_path / "notes.txt"
    text.write_text("just some notes\n")
    with pytest.raises(NotWarcError, match="notes.txt"):
        list(iter_pages(text, []))
    bad_gzip = tmp_path / "bad.warc.gz"
    bad_gzip.write_bytes(b"\x1f\x8b\x08\x00" + b"\xff" * 100)
    with pytest.raises(NotWarcError, match="bad.warc.gz"):
        list(iter_pages(bad_gzip, []))


def test_html_is_sniffed_when_type_is_missing_and_images_are_skipped(tmp_path):
    path = tmp_path / "mixed.warc.gz"
    path.write_bytes(
        _warc(
            [
                ("https://a.example/", b"<!DOCTYPE html><html><body>x</body></html>", "text/plain"),
                ("https://b.example/logo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png"),
                ("https://c.example/", b"<html><p>y</p></html>", "text/html; charset=iso-8859-1"),
            ]
        )
    )
    pages = list(iter_pages(path, []))
    assert [p.url for p in pages] == ["https://a.example/", "https://c.example/"]
    assert pages[1].http_charset == "iso-8859-1"


def test_oversized_record_is_skipped_and_reported(tmp_path):
    path = tmp_path / "big.warc.gz"
    path.write_bytes(
        _warc([("https://big.example/", b"<html>" + b"a" * 5000 + b"</html>", "text/html")])
    )
    problems = []
    assert list(iter_pages(path, problems, max_record_bytes=1024)) == []
    assert "over max_record_bytes" in problems[0].message


def test_gzip_helper_roundtrip():
    # the helper above writes one gzip member per record, as Common Crawl does
    data = _warc([("https://x.example/", b"<html></html>", "text/html")])
    assert gzip.decompress(data).startswith(b"WARC/1")
