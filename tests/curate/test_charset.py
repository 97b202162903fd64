"""Decoding pages: HTTP charset, meta charset, aliases, wrong declarations, detection."""

from __future__ import annotations

from warc2gpt.curate.charset import decode_page, meta_charset
from warc2gpt.ingest.warc import iter_pages

TEXT = "Crème brûlée, naïve façade — Größe"


def test_http_charset_wins():
    text, codec = decode_page(TEXT.encode("cp1252"), "windows-1252")
    assert text == TEXT and codec == "cp1252"


def test_latin1_label_decodes_as_windows_1252_like_browsers():
    # 0x93/0x94 are curly quotes in windows-1252 and control characters in real latin-1
    text, _ = decode_page("“quoted”".encode("cp1252"), "ISO-8859-1")
    assert text == "“quoted”"


def test_meta_charset_when_http_has_none():
    body = (
        b'<html><head><meta charset="iso-8859-15"></head><body>'
        + "€ prix".encode("iso-8859-15")
        + b"</body></html>"
    )
    text, codec = decode_page(body, "")
    assert "€ prix" in text and codec == "iso8859-15"
    assert (
        meta_charset(b'<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">')
        == "Shift_JIS"
    )


def test_wrong_declaration_falls_back():
    body = TEXT.encode("utf-8")
    text, codec = decode_page(body, "us-ascii-nonsense")
    assert text == TEXT and codec == "utf-8"
    # declared utf-8 but the bytes are not: a detector decides
    text, codec = decode_page(
        ("Ceci est un texte français assez long, écrit en été. " * 20).encode("cp1252"), "utf-8"
    )
    assert "français" in text and "été" in text


def test_japanese_without_any_declaration_is_detected():
    original = "日本語のテキストです。これは文字コードの判定のための文章です。" * 10
    text, codec = decode_page(original.encode("shift_jis"), "")
    assert text == original


def test_real_page_with_charset_alias(shared_data):
    path = shared_data / "warc/warc2zim/qsl.net-encoding-alias.warc.gz"
    (page,) = list(iter_pages(path, []))
    text, codec = decode_page(page.body, page.http_charset)
    assert "\ufffd" not in text[:20000]
    assert len(text) > 1000


def test_all_real_pages_decode_without_replacement_in_most(shared_data):
    pages = list(iter_pages(shared_data / "warc/resiliparse/warcfile.warc.gz", []))
    clean = sum("\ufffd" not in decode_page(p.body, p.http_charset)[0] for p in pages)
    assert clean >= len(pages) - 1  # mostly Chinese pages in GBK/UTF-8


def test_cp1252_declared_as_utf8_is_western_not_central_european():
    # è, à and ù are č, ŕ and ů in windows-1250: the detector alone would pick it
    for original in ("Crème brûlée à la carte, où", "Très bien, à bientôt. " * 30):
        text, codec = decode_page(original.encode("cp1252"), "utf-8")
        assert (text, codec) == (original, "cp1252")


def test_central_european_text_keeps_its_codepage():
    original = "Zażółć gęślą jaźń. Pójdźże, kiń tę chmurność w głąb flaszy. " * 10
    text, codec = decode_page(original.encode("cp1250"), "utf-8")
    assert (text, codec) == (original, "cp1250")
