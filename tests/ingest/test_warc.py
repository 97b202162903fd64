"""WARC/WET/ARC reading on real files and on small files made here: every producer, truncated and
corrupt input, one-stream gzip, wrong lengths, odd URLs, content encodings, non-WARC input."""

from __future__ import annotations

import gzip
import io
import zlib

import brotli
import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from warc2gpt.ingest.warc import NotWarcError, ReadCounts, iter_pages


def _warc(pages: list[tuple[str, bytes, str]], compress: bool = True, extra=()) -> bytes:
    """Response records (url, body, Content-Type), one gzip member each unless not `compress`;
    `extra` adds HTTP headers to every record."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=compress)
    for url, body, ctype in pages:
        http = StatusAndHeaders("200 OK", [("Content-Type", ctype), *extra], protocol="HTTP/1.1")
        record = writer.create_warc_record(
            url or "", "response", payload=io.BytesIO(body), http_headers=http
        )
        if url is None:
            record.rec_headers.remove_header("WARC-Target-URI")
        writer.write_record(record)
    return out.getvalue()


def _html(i: int) -> bytes:
    return b"<html><body><p>page %d</p></body></html>" % i


def _records(count: int) -> list[bytes]:
    """`count` uncompressed response records, each on its own."""
    return [
        _warc([(f"https://example.org/{i}", _html(i), "text/html")], False) for i in range(count)
    ]


def _read(path, **kwargs):
    problems, counts = [], ReadCounts()
    pages = list(iter_pages(path, problems, counts=counts, **kwargs))
    assert counts.records == counts.pages + sum(counts.skipped.values()) + len(problems)
    assert counts.pages == len(pages)
    return pages, problems, counts


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
    pages = list(iter_pages(path, problems))
    assert [p.url for p in pages] == [
        "https://example.org/0",
        "https://example.org/1",
        "https://example.org/3",
        "https://example.org/4",
    ]
    assert len(problems) == 1
    assert problems[0].offset == len(members[0]) + len(members[1])
    assert str(path) in str(problems[0])
    # pages after the broken member keep offsets counted from the file's start
    starts = [sum(len(m) for m in members[:i]) for i in range(5)]
    assert [p.offset for p in pages] == [starts[0], starts[1], starts[3], starts[4]]


@pytest.mark.parametrize("layout", ["members", "one-stream", "plain"])
def test_reading_resumes_after_a_handled_page(tmp_path, layout):
    records = _records(6)
    members = [gzip.compress(r) for r in records]
    data = {
        "members": b"".join(members),
        "one-stream": gzip.compress(b"".join(records)),
        "plain": b"".join(records),
    }[layout]
    path = tmp_path / ("f.warc" if layout == "plain" else "f.warc.gz")
    path.write_bytes(data)
    pages, _, _ = _read(path)
    resumed, problems, counts = _read(path, after=pages[2].offset)
    assert [p.url for p in resumed] == [p.url for p in pages[3:]]
    assert [p.offset for p in resumed] == [p.offset for p in pages[3:]]
    assert [p.body for p in resumed] == [p.body for p in pages[3:]]
    assert counts.records == 3 and not problems  # what came before is not counted again


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


def test_one_gzip_stream_is_read_completely(tmp_path):
    records = _records(4)
    (tmp_path / "stream.warc.gz").write_bytes(gzip.compress(b"".join(records)))
    pages, problems, counts = _read(tmp_path / "stream.warc.gz")
    assert [p.url for p in pages] == [f"https://example.org/{i}" for i in range(4)]
    assert [p.body for p in pages] == [_html(i) for i in range(4)]
    assert problems == [] and counts.records == 4
    # offsets count uncompressed bytes
    assert [p.offset for p in pages] == [sum(len(r) for r in records[:i]) for i in range(4)]


def test_truncated_gzip_stream_reports_the_lost_tail(tmp_path):
    plain = b"".join(_records(4))
    data = gzip.compress(plain)
    path = tmp_path / "cut.warc.gz"
    path.write_bytes(data[: len(data) * 3 // 4])
    pages, problems, counts = _read(path)
    assert 1 <= len(pages) < 4
    assert problems and all(str(path) in str(p) for p in problems)


@pytest.mark.parametrize("delta", [+200, -15])
def test_wrong_content_length_does_not_swallow_later_records(tmp_path, delta):
    records = _records(5)
    header_end = records[2].index(b"\r\n\r\n")
    length = int(records[2].split(b"Content-Length: ")[1].split(b"\r\n")[0])
    records[2] = records[2].replace(
        b"Content-Length: %d" % length, b"Content-Length: %d" % (length + delta), 1
    )
    assert records[2].index(b"\r\n\r\n") != header_end or delta
    path = tmp_path / "lengths.warc"
    path.write_bytes(b"".join(records))
    pages, problems, counts = _read(path)
    assert [p.url[-1] for p in pages] == ["0", "1", "3", "4"]
    starts = [sum(len(r) for r in records[:i]) for i in range(5)]
    assert [p.offset for p in pages] == [starts[0], starts[1], starts[3], starts[4]]
    assert len(problems) == 1 and problems[0].offset == starts[2]
    assert f"Content-Length {length + delta}" in problems[0].message
    assert counts.records == 5


def test_corrupt_header_resynchronises_at_the_next_record(tmp_path):
    records = _records(5)
    records[2] = b"WARX/1.0" + records[2][len(b"WARC/1.0") :]
    path = tmp_path / "header.warc"
    path.write_bytes(b"".join(records))
    pages, problems, counts = _read(path)
    starts = [sum(len(r) for r in records[:i]) for i in range(5)]
    assert [p.url[-1] for p in pages] == ["0", "1", "3", "4"]
    assert [p.offset for p in pages] == [starts[0], starts[1], starts[3], starts[4]]
    assert [p.offset for p in problems] == [starts[2]]
    assert "corrupt record header" in problems[0].message


def test_truncated_last_record_of_an_uncompressed_file(tmp_path):
    records = _records(3)
    path = tmp_path / "cut.warc"
    path.write_bytes(b"".join(records)[:-30])
    pages, problems, _ = _read(path)
    assert [p.url[-1] for p in pages] == ["0", "1"]
    assert len(problems) == 1 and "truncated record" in problems[0].message
    assert problems[0].offset == len(records[0]) + len(records[1])


def _arc(pages: list[tuple[str, bytes]]) -> list[bytes]:
    """ARC v1 records: the file header, then one record per (url, html)."""
    intro = b"1 0 Test\nURL IP-address Archive-date Content-type Archive-length\n"
    head = b"filedesc://test.arc 0.0.0.0 20240101000000 text/plain %d\n" % len(intro)
    records = [head + intro + b"\n"]
    for url, html in pages:
        block = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n" + html
        line = b"%s 192.0.2.1 20240101000000 text/html %d\n" % (url.encode(), len(block))
        records.append(line + block + b"\n")
    return records


def test_arc_files_are_read(tmp_path):
    records = _arc([("http://example.org/a", _html(1)), ("http://example.org/b", _html(2))])
    (tmp_path / "plain.arc").write_bytes(b"".join(records))
    (tmp_path / "members.arc.gz").write_bytes(b"".join(gzip.compress(r) for r in records))
    for name in ("plain.arc", "members.arc.gz"):
        pages, problems, counts = _read(tmp_path / name)
        assert [p.url for p in pages] == ["http://example.org/a", "http://example.org/b"], name
        assert [p.body for p in pages] == [_html(1), _html(2)]
        assert problems == [] and counts.records == 3


def test_url_schemes_are_case_insensitive(tmp_path):
    path = tmp_path / "schemes.warc.gz"
    urls = ["HTTP://EXAMPLE.ORG/Upper", "Https://example.org/mixed", "http://example.org/lower"]
    path.write_bytes(_warc([(u, _html(i), "text/html") for i, u in enumerate(urls)]))
    pages, problems, _ = _read(path)
    assert [p.url for p in pages] == [
        "http://EXAMPLE.ORG/Upper",
        "https://example.org/mixed",
        "http://example.org/lower",
    ]
    assert [p.body for p in pages] == [_html(i) for i in range(3)] and problems == []


def _deflate(data: bytes, wbits: int) -> bytes:
    compressor = zlib.compressobj(wbits=wbits)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    "encoding, encode",
    [
        ("br", brotli.compress),
        ("gzip", gzip.compress),
        ("deflate", lambda d: _deflate(d, 15)),
        ("deflate", lambda d: _deflate(d, -15)),  # raw deflate, as some servers send
        ("gzip, br", lambda d: brotli.compress(gzip.compress(d))),
    ],
)
def test_content_encodings_are_decoded(tmp_path, encoding, encode):
    html = b"<html><body><p>" + "Grüße aus Köln. ".encode() * 50 + b"</p></body></html>"
    path = tmp_path / "encoded.warc.gz"
    path.write_bytes(
        _warc(
            [("https://example.org/", encode(html), "text/html; charset=utf-8")],
            extra=[("Content-Encoding", encoding)],
        )
    )
    pages, problems, _ = _read(path)
    assert problems == []
    assert [p.body for p in pages] == [html]


def test_undecodable_or_unknown_encoding_is_a_problem(tmp_path):
    path = tmp_path / "bad-encoding.warc.gz"
    members = [
        _warc(
            [("https://a.example/", b"\x00garbage" * 20, "text/html")],
            extra=[("Content-Encoding", "br")],
        ),
        _warc(
            [("https://b.example/", b"\x28\xb5\x2f\xfd" + b"z" * 20, "text/html")],
            extra=[("Content-Encoding", "zstd")],
        ),
        _warc([("https://c.example/", _html(3), "text/html")]),
    ]
    path.write_bytes(b"".join(members))
    pages, problems, _ = _read(path)
    assert [p.url for p in pages] == ["https://c.example/"]
    assert [p.offset for p in problems] == [0, len(members[0])]
    assert "undecodable body for https://a.example/" in problems[0].message
    assert "zstd" in problems[1].message


def test_bad_urls_and_missing_target_uri_are_counted_problems(tmp_path):
    entries = [
        ("https://good.example/1", _html(1), "text/html"),
        ("http://[::1/x", _html(2), "text/html"),  # unclosed IPv6 bracket
        ("http://ex\u2100ample.com/", _html(3), "text/html"),  # changes under NFKC
        (None, _html(4), "text/html"),  # no WARC-Target-URI
        ("https://good.example/5", _html(5), "text/html"),
    ]
    members = [_warc([entry]) for entry in entries]
    path = tmp_path / "urls.warc.gz"
    path.write_bytes(b"".join(members))
    pages, problems, counts = _read(path)
    assert [p.url for p in pages] == ["https://good.example/1", "https://good.example/5"]
    starts = [sum(len(m) for m in members[:i]) for i in range(5)]
    assert [p.offset for p in problems] == starts[1:4]
    assert "unparseable URL 'http://[::1/x'" in problems[0].message
    assert "unparseable URL" in problems[1].message
    assert problems[2].message == "response record without WARC-Target-URI"
    assert counts.records == 5


def test_every_record_is_accounted_for(tmp_path):
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True)
    writer.write_record(writer.create_warcinfo_record("x.warc.gz", {"software": "test"}))

    def response(url, body, ctype, status="200 OK"):
        http = StatusAndHeaders(status, [("Content-Type", ctype)], protocol="HTTP/1.1")
        return writer.create_warc_record(
            url, "response", payload=io.BytesIO(body), http_headers=http
        )

    request = StatusAndHeaders("GET / HTTP/1.1", [("Host", "a.example")], is_http_request=True)
    writer.write_record(
        writer.create_warc_record(
            "https://a.example/", "request", payload=io.BytesIO(b""), http_headers=request
        )
    )
    writer.write_record(response("https://a.example/", _html(1), "text/html"))
    writer.write_record(
        response("https://a.example/logo.png", b"\x89PNG" + b"\x00" * 20, "image/png")
    )
    writer.write_record(response("https://a.example/gone", _html(2), "text/html", "404 Not Found"))
    writer.write_record(
        writer.create_warc_record("dns:a.example", "response", payload=io.BytesIO(b"1.2.3.4"))
    )
    writer.write_record(
        writer.create_warc_record("https://a.example/", "metadata", payload=io.BytesIO(b"k: v\r\n"))
    )
    good = out.getvalue()
    broken = bytearray(_warc([("https://a.example/x", _html(3), "text/html")]))
    broken[40:60] = b"\x00" * 20
    path = tmp_path / "mixed.warc.gz"
    path.write_bytes(good + bytes(broken))
    pages, problems, counts = _read(path)
    assert [p.url for p in pages] == ["https://a.example/"]
    assert dict(counts.skipped) == {
        "warcinfo": 1,
        "request": 1,
        "response_not_html": 1,
        "response_status_4xx": 1,
        "response_without_http": 1,
        "metadata": 1,
    }
    assert [p.offset for p in problems] == [len(good)]
    assert counts.records == 8


def test_empty_file_is_not_a_warc(tmp_path):
    path = tmp_path / "empty.warc.gz"
    path.write_bytes(b"")
    with pytest.raises(NotWarcError, match="empty.warc.gz: empty file"):
        list(iter_pages(path, []))
