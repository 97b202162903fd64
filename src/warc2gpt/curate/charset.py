"""Bytes of a page to text: the HTTP charset, then the HTML meta charset, then a detector
(when no declaration decodes the bytes, a wrong `utf-8` included)."""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)
# Labels browsers treat as another encoding (WHATWG Encoding Standard): decode as browsers do.
BROWSER_ALIASES = {
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "x-sjis": "shift_jis",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "unicode": "utf-16",
}


def _codec(label: str) -> str | None:
    label = label.strip().strip("\"'").lower()
    if not label:
        return None
    label = BROWSER_ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def meta_charset(body: bytes) -> str:
    """The charset an HTML page declares in its first 4 KB, if any."""
    match = META_CHARSET.search(body[:4096])
    return match.group(1).decode("ascii", "ignore") if match else ""


def decode_page(body: bytes, http_charset: str = "") -> tuple[str, str]:
    """Decode a page; returns (text, codec used). Never raises."""
    if body.startswith(codecs.BOM_UTF8):
        return body[3:].decode("utf-8", "replace"), "utf-8"
    for label in (http_charset, meta_charset(body)):
        codec = _codec(label)
        if codec is None:
            continue
        try:
            return body.decode(codec), codec
        except UnicodeDecodeError:
            continue  # a wrong declaration: try the next source
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    codec = detect_charset(body[:65536]) or "utf-8"
    return body.decode(codec, "replace"), codec


def detect_charset(sample: bytes) -> str | None:
    """The detector's codec for bytes no declaration decodes, or None.

    Among equally plausible single-byte codecs the detector lists windows-1250 first, which
    turns Western text's è into č: windows-1252, the web's most common legacy encoding (and
    browsers' default for Western locales), wins whenever it reads the bytes as cleanly.
    """
    results = from_bytes(sample)
    best = results.best()
    if best is None:
        return None
    for match in results:
        if match.chaos <= best.chaos and "cp1252" in (match.encoding, *match.could_be_from_charset):
            return "cp1252"
    return _codec(best.encoding)
