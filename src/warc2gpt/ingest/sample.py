"""The built-in sample crawl: a few hundred web pages in Common Crawl-style WARC files, generated
deterministically from public-domain text the package ships, with planted cases for every curate step.

`write_sample_crawl` writes the files; `sample_manifest` says, page by page, what was planted and
what the pipeline is expected to do with it, so tests can check each step against it.
"""

from __future__ import annotations

import gzip
import html
import io
import ipaddress
import json
import random
import re
import struct
import uuid
import zlib
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from warc2gpt.atomic import atomic_write

# Pages per planted case (all others are good English pages that survive every step).
FILES = 3
GOOD_PAGES = 210
BLOCKED_DOMAIN_PAGES = 12
BANNED_WORD_PAGES = 4
SOFT_BANNED_PAGES = 3
BANNED_SUBWORD_PAGES = 3
LANGUAGE_PAGES = {"de": 6, "fr": 6, "es": 5, "it": 4}
REPETITION_PAGES = 14
SHORT_PAGES = 8
TEASER_LIST_PAGES = 8
C4_PAGES = 5  # of each kind: lorem ipsum, curly bracket, javascript/policy lines
FINEWEB_PAGES = 15
NEAR_DUP_GROUPS, NEAR_DUP_COPIES = 8, 3
EXACT_DUP_GROUPS, EXACT_DUP_COPIES = 6, 2
PII_PAGES = 15

# Case names (SamplePage.case) and what the pipeline should do with each page (SamplePage.expected):
# "kept", "skipped" (not HTML), or the `name` of the curate filter that removes it.
KEPT, SKIPPED = "kept", "skipped"
URL_FILTER, LANGUAGE = "url_filter", "language"
GOPHER_REPETITION, GOPHER_QUALITY = "gopher_repetition", "gopher_quality"
C4_QUALITY, FINEWEB_QUALITY = "c4_quality", "fineweb_quality"

# What each planted case is (SamplePage.case).
CASES: dict[str, str] = {
    "good": "an English article in site boilerplate (nav, cookie banner, sidebar, footer)",
    "blocklisted_domain": "a good article on a domain in the package's domain blocklist",
    "banned_word": "a good article whose URL carries a banned word",
    "soft_banned_words": "a good article whose URL carries two soft-banned words",
    "banned_subword": "a good article whose URL carries a banned subword",
    "other_language": "German, French, Spanish or Italian text",
    "repetitive_spam": "keyword stuffing, or one line repeated down the page",
    "too_short": "a teaser of a few dozen words and a 'Continue reading' link",
    "teaser_list": "an archive index: headlines and truncated teasers ending in '...'",
    "lorem_ipsum": "a good article with a lorem-ipsum placeholder line left in",
    "curly_bracket": "a good article with an unrendered template tag left in",
    "javascript_policy": "'enable JavaScript' and cookie/terms lines around one sentence",
    "short_lines": "an article hard-wrapped into short lines with the punctuation lost",
    "near_duplicate": "the same article on several sites with a few words changed",
    "exact_duplicate": "the same article on two sites, word for word",
    "pii": "a good article with e-mail addresses and IP addresses in it",
    "charset_windows_1252": "a good article encoded in windows-1252 (curly quotes, dashes)",
    "charset_latin1_meta": "German text in ISO-8859-1, declared only in a <meta> tag",
    "non_html": "an image/png and an application/pdf response",
}

CRAWL_START = datetime(2024, 5, 18, 0, 0, 0, tzinfo=UTC)
TEXTS = "public_domain_texts.jsonl.gz"
USER_AGENT = "warc2gpt-sample/1.0 (+built-in sample crawl)"


@dataclass(frozen=True)
class SamplePage:
    """One planted page and the fate the pipeline should give it."""

    url: str
    warc_file: str
    case: str
    expected: str  # "kept", "skipped" or the removing curate filter's name
    language: str  # of the page's main text ("" for non-text responses)
    content_type: str  # the HTTP Content-Type header as sent
    encoding: str  # how the body bytes are encoded ("" for binary bodies)
    source: str  # the public-domain text it was built from
    dup_group: str = ""  # pages sharing one (nearly) identical article; dedup keeps one
    pii_emails: int = 0  # e-mail addresses planted in the main text
    pii_ips: int = 0  # public IPv4 addresses planted in the main text
    private_ips: int = 0  # private addresses planted as well, which a scrubber should leave


@dataclass
class _Page:
    entry: SamplePage
    body: bytes
    date: datetime
    ip: str


@dataclass
class _Site:
    domain: str
    name: str
    tagline: str
    section: str
    nav: list[str]
    style: int  # which page template
    www: bool = True
    pages: list[str] = field(default_factory=list)  # headlines, for the sidebar


# --------------------------------------------------------------------------- source text


def _texts_path() -> Path:
    return Path(str(resources.files("warc2gpt") / "data" / "sample" / TEXTS))


@cache
def _load_texts() -> tuple[dict, ...]:
    with gzip.open(_texts_path(), "rt", encoding="utf-8") as fh:
        return tuple(json.loads(line) for line in fh)


SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+(?=[\"'A-Z(])")


def _split_long(paragraph: str, limit: int = 170) -> list[str]:
    """Break an over-long paragraph at sentence ends into paragraphs of about `limit` words."""
    if len(paragraph.split()) <= limit:
        return [paragraph]
    out, cur, n = [], [], 0
    for sentence in SENTENCE_END.split(paragraph):
        cur.append(sentence)
        n += len(sentence.split())
        if n >= limit * 0.6:
            out.append(" ".join(cur))
            cur, n = [], 0
    if cur:
        if out and n < 40:
            out[-1] += " " + " ".join(cur)
        else:
            out.append(" ".join(cur))
    return out


def _sentences(text: str) -> int:
    return len(re.findall(r"[.!?](?:\s|$)", text))


def _alpha_share(text: str) -> float:
    """Share of tokens (words and punctuation runs) with a letter: lists and numbers lower it."""
    tokens = len(re.findall(r"\w+|[^\w\s]+", text))
    without_letter = len(re.findall(r"(?<!\w)[\d_]+(?!\w)|[^\w\s]+", text))
    return 1 - without_letter / max(1, tokens)


@dataclass
class _Chunk:
    source: str
    author: str
    year: int
    part: int
    paragraphs: list[str]

    @property
    def words(self) -> int:
        return sum(len(p.split()) for p in self.paragraphs)


def _english_chunks(rng: random.Random) -> list[_Chunk]:
    """Cut each English text into article-sized runs of whole paragraphs."""
    chunks = []
    for text in _load_texts():
        if text["language"] != "en":
            continue
        paragraphs = [p for para in text["paragraphs"] for p in _split_long(para)]
        cur: list[str] = []
        target = rng.randint(200, 380)
        part = 1
        for para in paragraphs:
            cur.append(para)
            if sum(len(p.split()) for p in cur) >= target and _sentences(" ".join(cur)) >= 6:
                chunks.append(_Chunk(text["id"], text["author"], text["year"], part, cur))
                cur, part, target = [], part + 1, rng.randint(200, 380)
        if cur and chunks and chunks[-1].source == text["id"]:
            chunks[-1].paragraphs.extend(cur)
        elif cur:
            chunks.append(_Chunk(text["id"], text["author"], text["year"], part, cur))
    return [
        c
        for c in chunks
        if c.words >= 150
        and _sentences(" ".join(c.paragraphs)) >= 6
        and _alpha_share(" ".join(c.paragraphs)) >= 0.84
    ]


def _foreign_chunks(language: str, count: int) -> list[_Chunk]:
    text = next(t for t in _load_texts() if t["language"] == language)
    paragraphs = text["paragraphs"]
    size = -(-len(paragraphs) // count)
    return [
        _Chunk(
            text["id"], text["author"], text["year"], i + 1, paragraphs[i * size : (i + 1) * size]
        )
        for i in range(count)
        if paragraphs[i * size : (i + 1) * size]
    ]


# --------------------------------------------------------------------------- sites and HTML

NAV_WORDS = [
    "Home",
    "News",
    "History",
    "Politics",
    "Archive",
    "Opinion",
    "Culture",
    "Podcasts",
    "Events",
    "Letters",
    "About",
    "Subscribe",
    "Documents",
    "Education",
    "Search",
]

SITES = [
    ("riverbend-gazette.com", "The Riverbend Gazette", "Local news since 1884", "archive"),
    ("lanternhill-review.org", "Lanternhill Review", "Essays on the American past", "essays"),
    ("capitol-letters-archive.net", "Capitol Letters", "Primary sources, annotated", "documents"),
    ("plainspoken-history.com", "Plainspoken History", "History without the jargon", "posts"),
    ("oak-and-quill-journal.org", "The Oak & Quill", "A journal of civic life", "journal"),
    ("northgate-civics.net", "Northgate Civics", "Teaching resources for civics", "lessons"),
    ("commonplace-reader.com", "Commonplace Reader", "Speeches worth rereading", "read"),
    ("maplewood-chronicle.com", "Maplewood Chronicle", "News and views from Maplewood", "features"),
]


def _make_sites(rng: random.Random) -> list[_Site]:
    sites = []
    for i, (domain, name, tagline, section) in enumerate(SITES):
        nav = rng.sample(NAV_WORDS, 7)
        sites.append(_Site(domain, name, tagline, section, nav, style=i % 3, www=i % 2 == 0))
    return sites


def _slug(text: str, words: int = 7) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", text.lower())[:words])


def _headline(chunk: _Chunk) -> str:
    """A title quoting the article's last paragraph (teasers quote its first)."""
    words = re.sub(r"[^\w\s'-]", "", chunk.paragraphs[-1]).split()
    quote = " ".join(words[len(words) // 2 :][:6] if len(chunk.paragraphs) == 1 else words[:6])
    return f"{chunk.author}, {chunk.year}: \u201c{quote}\u201d"


def _url(site: _Site, path: str, scheme: str = "https") -> str:
    host = ("www." if site.www else "") + site.domain
    return f"{scheme}://{host}/{path}"


COOKIE_BANNER = (
    '<div class="cookie-banner" id="cookie-consent" role="dialog"><p>We use cookies to keep this '
    "site working and to understand how it is read. You can accept all cookies or choose which "
    'ones to allow.</p><button id="cookie-accept">Accept all</button> '
    '<button id="cookie-manage">Manage preferences</button></div>'
)
ANALYTICS = (
    "<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments);}"
    "gtag('js',new Date());gtag('config','G-SAMPLE0000');</script>"
)


def _sidebar(site: _Site, rng: random.Random, title: str) -> str:
    others = [h for h in site.pages if h != title]
    picks = rng.sample(others, min(5, len(others)))
    links = "".join(
        f'<li><a href="/{site.section}/{_slug(h)}">{html.escape(h)}</a></li>' for h in picks
    )
    return (
        f'<aside class="sidebar"><h3>Most read</h3><ol>{links}</ol>'
        '<div class="newsletter"><h3>Newsletter</h3><p>Get the week\'s best reads in your inbox.'
        '</p><form action="/subscribe" method="post"><input type="email" name="address" '
        'placeholder="Your address"><button>Sign up</button></form></div>'
        '<div class="ad" data-slot="sidebar-300x250">Advertisement</div></aside>'
    )


def _footer(site: _Site, year: int) -> str:
    links = "".join(
        f'<li><a href="/{_slug(w)}">{w}</a></li>'
        for w in [
            "About us",
            "Contact",
            "Advertise",
            "Careers",
            "Privacy Policy",
            "Terms of Use",
            "Cookie settings",
        ]
    )
    return (
        f'<footer class="site-footer"><ul class="footer-links">{links}</ul>'
        f"<p>&copy; {year} {html.escape(site.name)}. All rights reserved.</p>"
        '<p class="social"><a href="/rss">RSS</a> <a href="/follow">Follow us</a></p></footer>'
    )


def _render(
    site: _Site,
    title: str,
    body_html: str,
    rng: random.Random,
    date: datetime,
    case: str,
    language: str,
    charset: str = "utf-8",
    meta_charset: str = "",
) -> str:
    """A full page: head, header and nav, cookie banner, the article, sidebar and footer."""
    nav = "".join(f'<li><a href="/{_slug(w)}">{w}</a></li>' for w in site.nav)
    meta = meta_charset or f'<meta charset="{charset}">'
    byline = (
        f'<p class="byline">By {rng.choice(["Staff", "The Archive Desk", "Guest Editor"])}'
        f' &middot; <time datetime="{date:%Y-%m-%d}">{date:%d %B %Y}</time></p>'
    )
    share = (
        '<div class="share">Share: <a href="#">Facebook</a> <a href="#">X</a> '
        '<a href="#">Email</a> <a href="#">Print</a></div>'
    )
    article = (
        f'<article class="post"><h1>{html.escape(title)}</h1>{byline}{body_html}{share}</article>'
    )
    header = (
        f'<header class="masthead"><a class="logo" href="/">{html.escape(site.name)}</a>'
        f'<p class="tagline">{html.escape(site.tagline)}</p><nav><ul>{nav}</ul></nav></header>'
    )
    sidebar = _sidebar(site, rng, title)
    if site.style == 0:
        layout = f'{header}{COOKIE_BANNER}<main class="content">{article}</main>{sidebar}'
    elif site.style == 1:
        layout = (
            f'{COOKIE_BANNER}{header}<div class="wrap"><div class="col-main">{article}</div>'
            f'<div class="col-side">{sidebar}</div></div>'
        )
    else:
        layout = f'{header}<div id="page">{sidebar}<main>{article}</main></div>{COOKIE_BANNER}'
    return (
        f'<!DOCTYPE html>\n<html lang="{language}"><head>{meta}'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)} | {html.escape(site.name)}</title>"
        f'<meta name="description" content="{html.escape(title)}">'
        f'<meta name="warc2gpt-sample-case" content="{case}">'
        f'<link rel="stylesheet" href="/static/site.css">{ANALYTICS}</head>\n'
        f"<body>{layout}{_footer(site, date.year)}"
        '<script src="/static/app.js" defer></script></body></html>\n'
    )


def _paragraphs_html(paragraphs: list[str]) -> str:
    return "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs)


# --------------------------------------------------------------------------- planted cases

SPAM_PHRASES = [
    "cheap replica watches",
    "best payday loans online",
    "buy followers fast",
    "discount designer handbags",
    "cheap car insurance quotes",
    "lose weight fast pills",
    "cheap flights to paris",
]
SPAM_DOMAINS = ["mega-deals-outlet.com", "top10-offers-today.net", "fastcash-review.info"]


def _repetitive_spam(i: int, filler: list[str]) -> list[str]:
    """Keyword stuffing (even pages) or one line repeated down the page (odd pages)."""
    phrase = SPAM_PHRASES[i % len(SPAM_PHRASES)]
    if i % 2 == 0:
        paras = []
        for k in range(8):
            p = phrase.capitalize()
            paras.append(
                f"{p} {phrase} {phrase}. Looking for {phrase}? Our {phrase} are the best "
                f"{phrase} deals, {phrase} {phrase} offer number {k + 1}. {p} {phrase} now!"
            )
        return paras
    line = f"Click here to get {phrase} now, limited offer!"
    return [filler[0]] + ["\n".join([line] * 18)] + [filler[1] if len(filler) > 1 else filler[0]]


def _stub(chunk: _Chunk) -> list[str] | None:
    """The article's first words as a teaser; None when they repeat a phrase, since a
    repetition filter would then act before the length check this case is meant for."""
    words = " ".join(chunk.paragraphs).split()[:28]
    trigrams = [tuple(w.lower().strip(".,;:") for w in words[i : i + 3]) for i in range(26)]
    if len(set(trigrams)) < len(trigrams):
        return None
    return [" ".join(words) + " \u2026", "Continue reading"]


def _teasers(chunks: list[_Chunk]) -> str:
    items = []
    for c in chunks:
        words = c.paragraphs[0].split()[:16]
        items.append(
            f'<p><a href="/read/{_slug(_headline(c))}">{html.escape(_headline(c))}</a>'
            f"<br>{html.escape(' '.join(words))}...</p>"
        )
    return "".join(items)


LOREM = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt."
TEMPLATE_LEAKS = [
    "{{ article.author_bio }}",
    "{% include 'related.html' %} {{ related_posts }}",
    "{{ caption | default('') }}",
    "{ photo_credit }",
]
JS_LINES = [
    "This page needs JavaScript to show the full article. Please enable JavaScript in your browser.",
    "Your browser has JavaScript turned off, so the interactive timeline cannot be displayed.",
    "To read the complete transcript, turn on javascript and reload the page.",
]
POLICY_LINES = [
    "By using this site you agree to our Terms of Use and Privacy Policy.",
    "This website uses cookies to remember your settings; read our Cookie Policy for details.",
    "We use cookies and similar technologies as described in our privacy policy.",
    "Please review our terms of use before sharing or reposting this material.",
]


def _hard_wrapped(chunk: _Chunk, rng: random.Random) -> str:
    """The text as short lines with the punctuation stripped, like a bad PDF-to-text export."""
    words = re.sub(r"[^\w\s'-]", " ", " ".join(chunk.paragraphs)).split()
    lines, i = [], 0
    while i < len(words) and len(lines) < 60:
        n = rng.randint(3, 5)
        lines.append(" ".join(words[i : i + n]))
        i += n
    return "<p>" + "<br>\n".join(html.escape(line) for line in lines) + "</p>"


def _near_copy(paragraphs: list[str], rng: random.Random, changes: int) -> list[str]:
    """The same article with a few words swapped for other words of the article."""
    words = [p.split(" ") for p in paragraphs]
    spots = [
        (i, j) for i, ws in enumerate(words) for j, w in enumerate(ws) if w.isalpha() and len(w) > 3
    ]
    pool = sorted({w for ws in words for w in ws if w.isalpha() and len(w) > 3})
    for i, j in rng.sample(spots, changes):
        words[i][j] = rng.choice([w for w in pool if w != words[i][j]])
    return [" ".join(ws) for ws in words]


FIRST_NAMES = [
    "maria",
    "james",
    "li",
    "fatima",
    "oliver",
    "ana",
    "samuel",
    "grace",
    "tomas",
    "nina",
]
LAST_NAMES = ["garcia", "okafor", "chen", "novak", "smith", "haddad", "larsen", "moreau", "silva"]
MAIL_DOMAINS = [
    "riverbend-gazette.com",
    "lanternhill-review.org",
    "mailbox-sample.net",
    "historyclub-sample.org",
    "university-sample.edu",
]
PII_TEMPLATES = [
    "Readers who spot an error in this transcription can write to {email}; every message is read.",
    "The scanned originals are mirrored for researchers on our archive server at {ip}.",
    "Questions about classroom use go to {email}, and press enquiries to {email2}.",
    "If the page loads slowly, try the backup host at {ip} or write to {email}.",
]


def _public_ip(rng: random.Random) -> str:
    while True:
        ip = ipaddress.IPv4Address(rng.randint(0x0B000000, 0xDEFFFFFF))
        if ip.is_global and not ip.is_multicast:
            return str(ip)


def _email(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)}.{rng.choice(LAST_NAMES)}{rng.randint(1, 99)}@{rng.choice(MAIL_DOMAINS)}"


def _png(width: int = 64, height: int = 32) -> bytes:
    """A small valid PNG (a colour gradient), built byte by byte so it never changes."""
    rows = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in (x * 4 % 256, y * 8 % 256, 128))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def _pdf(text: str) -> bytes:
    """A one-page PDF with one line of text and a correct cross-reference table."""
    stream = f"BT /F1 14 Tf 72 720 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for n, obj in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(f"{n} 0 obj\n".encode() + obj + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out.getvalue()


def _typographic(text: str) -> str:
    """Curly quotes and dashes: characters that differ between windows-1252 and Latin-1."""
    text = text.replace(" -- ", " \u2014 ").replace("--", "\u2014")
    text = re.sub(r"(^|[\s(])\"", "\\1\u201c", text).replace('"', "\u201d")
    return re.sub(r"(\w)'(\w)", "\\1\u2019\\2", text)


# --------------------------------------------------------------------------- the plan


class _Planner:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.sites = _make_sites(self.rng)
        self.chunks = _english_chunks(self.rng)
        self.rng.shuffle(self.chunks)
        self.pages: list[dict] = []
        self.urls: set[str] = set()
        self.serial = 0

    def take(self) -> _Chunk:
        if not self.chunks:
            raise RuntimeError(
                "sample crawl: the bundled texts ran out of articles; "
                "lower the page counts in warc2gpt.ingest.sample"
            )
        return self.chunks.pop()

    def add(
        self,
        site: _Site,
        url: str,
        case: str,
        expected: str,
        title: str,
        body_html: str,
        language: str = "en",
        source: str = "",
        **extra,
    ) -> None:
        if url in self.urls:
            raise RuntimeError(f"sample crawl: URL {url} planned twice")
        self.urls.add(url)
        self.pages.append(
            {
                "url": url,
                "case": case,
                "expected": expected,
                "language": language,
                "source": source,
                "title": title,
                "site": site,
                "body_html": body_html,
                **extra,
            }
        )

    def article_url(self, site: _Site, title: str) -> str:
        self.serial += 1
        return _url(site, f"{site.section}/{_slug(title)}-{self.serial}")


def _plan(seed: int) -> list[dict]:
    p = _Planner(seed)
    rng = p.rng

    def site() -> _Site:
        return rng.choice(p.sites)

    # Good English pages: they survive every step.
    good: list[_Chunk] = []
    for _ in range(GOOD_PAGES):
        c, s = p.take(), site()
        good.append(c)
        title = _headline(c)
        s.pages.append(title)
        p.add(
            s,
            p.article_url(s, title),
            "good",
            KEPT,
            title,
            _paragraphs_html(c.paragraphs),
            source=c.source,
        )

    # URL filter: blocklisted domains, banned words, soft-banned words, banned subwords.
    blocked = [
        ("adult-cams-sample.com", "Adult Cams"),
        ("bestcasinobonus-spam.biz", "Casino Bonus"),
    ]
    for i in range(BLOCKED_DOMAIN_PAGES):
        c = p.take()
        domain, name = blocked[i % len(blocked)]
        s = _Site(domain, name, "Free every day", "blog", NAV_WORDS[:6], style=i % 3)
        s.pages = list(p.sites[0].pages[:8])
        title = _headline(c)
        p.add(
            s,
            _url(s, f"blog/{_slug(title)}-{i}"),
            "blocklisted_domain",
            URL_FILTER,
            title,
            _paragraphs_html(c.paragraphs),
            source=c.source,
        )
    for case, count, path in [
        ("banned_word", BANNED_WORD_PAGES, "nsfw/gallery"),
        ("soft_banned_words", SOFT_BANNED_PAGES, "singles/dating-tips"),
        ("banned_subword", BANNED_SUBWORD_PAGES, "freepornclips/watch"),
    ]:
        for i in range(count):
            c, s = p.take(), site()
            title = _headline(c)
            p.add(
                s,
                _url(s, f"{path}/{_slug(title, 4)}-{i}"),
                case,
                URL_FILTER,
                title,
                _paragraphs_html(c.paragraphs),
                source=c.source,
            )

    # Other languages.
    for language, count in LANGUAGE_PAGES.items():
        for c in _foreign_chunks(language, count):
            s = site()
            title = f"{c.paragraphs[0].split('.')[0][:60]} ({c.part})"
            p.add(
                s,
                _url(s, f"{language}/{_slug(title, 5)}-{c.part}"),
                "other_language",
                LANGUAGE,
                title,
                _paragraphs_html(c.paragraphs),
                language=language,
                source=c.source,
            )

    # Gopher repetition: keyword stuffing and repeated lines.
    for i in range(REPETITION_PAGES):
        c = rng.choice(good)
        domain = SPAM_DOMAINS[i % len(SPAM_DOMAINS)]
        s = _Site(
            domain,
            domain.split(".")[0].title(),
            "Deals every day",
            "offers",
            NAV_WORDS[:5],
            style=i % 3,
            www=False,
        )
        s.pages = [f"Top offer {k}" for k in range(8)]
        paras = _repetitive_spam(i, c.paragraphs)
        body = "".join(f"<p>{html.escape(x).replace(chr(10), '<br>')}</p>" for x in paras)
        title = SPAM_PHRASES[i % len(SPAM_PHRASES)].title() + f" - offer {i}"
        p.add(
            s,
            _url(s, f"offers/{_slug(title)}"),
            "repetitive_spam",
            GOPHER_REPETITION,
            title,
            body,
            source=c.source,
        )

    # Gopher quality: stubs too short to be documents, and link/teaser lists.
    for i in range(SHORT_PAGES):
        c, s = p.take(), site()
        while (teaser := _stub(c)) is None:
            c = p.take()
        title = _headline(c)
        p.add(
            s,
            _url(s, f"{s.section}/preview/{_slug(title)}-{i}"),
            "too_short",
            GOPHER_QUALITY,
            title,
            _paragraphs_html(teaser),
            source=c.source,
        )
    for i in range(TEASER_LIST_PAGES):
        s = site()
        teasers = rng.sample(good, 10)  # an archive index links to articles of the crawl
        title = f"From the archive: page {i + 2}"
        p.add(
            s,
            _url(s, f"{s.section}/page/{i + 2}"),
            "teaser_list",
            GOPHER_QUALITY,
            title,
            _teasers(teasers),
            source=teasers[0].source,
        )

    # C4: a lorem-ipsum placeholder, an unrendered template, javascript/policy lines only.
    for _ in range(C4_PAGES):
        c, s = p.take(), site()
        paras = list(c.paragraphs)
        paras.insert(1, LOREM)
        title = _headline(c)
        p.add(
            s,
            p.article_url(s, title),
            "lorem_ipsum",
            C4_QUALITY,
            title,
            _paragraphs_html(paras),
            source=c.source,
        )
    for i in range(C4_PAGES):
        c, s = p.take(), site()
        paras = list(c.paragraphs)
        paras.insert(len(paras) // 2, TEMPLATE_LEAKS[i % len(TEMPLATE_LEAKS)])
        title = _headline(c)
        p.add(
            s,
            p.article_url(s, title),
            "curly_bracket",
            C4_QUALITY,
            title,
            _paragraphs_html(paras),
            source=c.source,
        )
    for _ in range(C4_PAGES):
        c, s = p.take(), site()
        sentences = SENTENCE_END.split(" ".join(c.paragraphs))[:1]
        paras = JS_LINES + [" ".join(sentences)] + POLICY_LINES
        title = _headline(c)
        p.add(
            s,
            p.article_url(s, title),
            "javascript_policy",
            C4_QUALITY,
            title,
            _paragraphs_html(paras),
            source=c.source,
        )

    # FineWeb quality: short lines without punctuation.
    for _ in range(FINEWEB_PAGES):
        c, s = p.take(), site()
        title = _headline(c)
        p.add(
            s,
            p.article_url(s, title),
            "short_lines",
            FINEWEB_QUALITY,
            title,
            _hard_wrapped(c, rng),
            source=c.source,
        )

    # Near and exact duplicates: the same article at several URLs, on different sites.
    for g in range(NEAR_DUP_GROUPS):
        c = p.take()
        title = _headline(c)
        for k in range(NEAR_DUP_COPIES):
            s = p.sites[(g + 3 * k) % len(p.sites)]
            paras = c.paragraphs if k == 0 else _near_copy(c.paragraphs, rng, 1 + k)
            p.add(
                s,
                p.article_url(s, title),
                "near_duplicate",
                KEPT,
                title,
                _paragraphs_html(paras),
                source=c.source,
                dup_group=f"near-{g}",
            )
    for g in range(EXACT_DUP_GROUPS):
        c = p.take()
        title = _headline(c)
        for k in range(EXACT_DUP_COPIES):
            s = p.sites[(g + 5 * k) % len(p.sites)]
            url = p.article_url(s, title) + ("?utm_source=newsletter" if k else "")
            p.add(
                s,
                url,
                "exact_duplicate",
                KEPT,
                title,
                _paragraphs_html(c.paragraphs),
                source=c.source,
                dup_group=f"exact-{g}",
            )

    # PII: e-mail addresses and public IPs in otherwise good pages; some private IPs too.
    for i in range(PII_PAGES):
        c, s = p.take(), site()
        template = PII_TEMPLATES[i % len(PII_TEMPLATES)]
        emails = template.count("{email}") + template.count("{email2}")
        ips = template.count("{ip}")
        line = template.format(email=_email(rng), email2=_email(rng), ip=_public_ip(rng))
        private = 0
        if i % 5 == 0:
            line += " Inside the reading room, use the terminal at 192.168.10.20 instead."
            private = 1
        paras = list(c.paragraphs) + [line]
        title = _headline(c)
        p.add(
            s,
            p.article_url(s, title),
            "pii",
            KEPT,
            title,
            _paragraphs_html(paras),
            source=c.source,
            pii_emails=emails,
            pii_ips=ips,
            private_ips=private,
        )

    # Decoding: windows-1252 declared in HTTP, and ISO-8859-1 declared only in <meta>.
    c, s = p.take(), site()
    title = _headline(c)
    p.add(
        s,
        p.article_url(s, title),
        "charset_windows_1252",
        KEPT,
        _typographic(title),
        _paragraphs_html([_typographic(x) for x in c.paragraphs]),
        source=c.source,
        encoding="windows-1252",
    )
    de = next(t for t in _load_texts() if t["language"] == "de")
    paras = [x.replace("\u201e", '"').replace("\u201c", '"') for x in de["paragraphs"][-6:]]
    s = site()
    p.add(
        s,
        _url(s, "de/menschenrechte-artikel"),
        "charset_latin1_meta",
        LANGUAGE,
        "Allgemeine Erklärung der Menschenrechte",
        _paragraphs_html(paras),
        language="de",
        source=de["id"],
        encoding="iso-8859-1",
        meta_only=True,
    )

    # Responses that are not HTML at all.
    s = p.sites[0]
    p.add(
        s,
        _url(s, "static/img/masthead-64.png"),
        "non_html",
        SKIPPED,
        "",
        "",
        language="",
        binary=_png(),
        content_type="image/png",
    )
    p.add(
        s,
        _url(s, "static/reports/annual-report-2023.pdf"),
        "non_html",
        SKIPPED,
        "",
        "",
        language="",
        binary=_pdf("Annual report 2023"),
        content_type="application/pdf",
    )

    return p.pages


def _materialize(seed: int) -> list[_Page]:
    """Render every planned page to HTTP body bytes and spread the pages over the files."""
    plan = _plan(seed)
    rng = random.Random(seed + 1)
    order = list(range(len(plan)))
    rng.shuffle(order)
    pages: list[_Page] = []
    for rank, idx in enumerate(order):
        e = plan[idx]
        date = CRAWL_START + timedelta(seconds=rank * 37 + rng.randint(0, 30))
        warc_file = f"sample-crawl-{rank % FILES:05d}.warc.gz"
        encoding = e.get("encoding", "utf-8")
        if "binary" in e:
            body, encoding, content_type = e["binary"], "", e["content_type"]
        else:
            meta = ""
            if e.get("meta_only"):
                meta = f'<meta http-equiv="Content-Type" content="text/html; charset={encoding}">'
            page_html = _render(
                e["site"],
                e["title"],
                e["body_html"],
                rng,
                date,
                e["case"],
                e["language"],
                charset=encoding,
                meta_charset=meta,
            )
            body = page_html.encode(encoding, "xmlcharrefreplace")  # as a CMS would
            content_type = "text/html" if e.get("meta_only") else f"text/html; charset={encoding}"
        entry = SamplePage(
            url=e["url"],
            warc_file=warc_file,
            case=e["case"],
            expected=e["expected"],
            language=e["language"],
            content_type=content_type,
            encoding=encoding,
            source=e["source"],
            dup_group=e.get("dup_group", ""),
            pii_emails=e.get("pii_emails", 0),
            pii_ips=e.get("pii_ips", 0),
            private_ips=e.get("private_ips", 0),
        )
        ip = f"203.0.113.{zlib.crc32(urlsplit(e['url']).hostname.encode()) % 250 + 1}"
        pages.append(_Page(entry, body, date, ip))
    return pages


# --------------------------------------------------------------------------- WARC writing


def _record_id(rng: random.Random) -> str:
    return f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}>"


def _warc_date(d: datetime) -> str:
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


def _http_date(d: datetime) -> str:
    return d.strftime("%a, %d %b %Y %H:%M:%S GMT")


def _record_ids(pages: list[_Page], rng: random.Random) -> list[str]:
    """A file's WARC-Record-IDs in writing order: its warcinfo, then each page's request and
    response. Drawn for every file, written or not, so one file's bytes never depend on which
    others are written."""
    return [_record_id(rng) for _ in range(1 + 2 * len(pages))]


def _write_file(path: Path, pages: list[_Page], record_ids: list[str]) -> None:
    info_id, *page_ids = record_ids
    with atomic_write(path) as tmp, open(tmp, "wb") as fh:
        writer = WARCWriter(fh, gzip=True, warc_version="WARC/1.1")
        fields = (
            b"isPartOf: warc2gpt-sample\r\n"
            b"publisher: warc2gpt\r\n"
            b"description: Built-in sample crawl, generated from public-domain texts\r\n"
            b"software: warc2gpt sample generator\r\n"
            b"format: WARC File Format 1.1\r\n"
            b"conformsTo: https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/\r\n"
        )
        writer.write_record(
            writer.create_warc_record(
                "",
                "warcinfo",
                payload=io.BytesIO(fields),
                length=len(fields),
                warc_content_type="application/warc-fields",
                warc_headers_dict={
                    "WARC-Date": _warc_date(CRAWL_START),
                    "WARC-Record-ID": info_id,
                    "WARC-Filename": path.name,
                },
            )
        )
        for number, page in enumerate(pages):
            e = page.entry
            parts = urlsplit(e.url)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            request_id, response_id = page_ids[2 * number : 2 * number + 2]
            common = {
                "WARC-Date": _warc_date(page.date),
                "WARC-Warcinfo-ID": info_id,
                "WARC-IP-Address": page.ip,
            }
            request = StatusAndHeaders(
                f"GET {target} HTTP/1.1",
                [
                    ("User-Agent", USER_AGENT),
                    ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
                    ("Accept-Language", "en-US,en;q=0.5"),
                    ("Accept-Encoding", "br,gzip"),
                    ("Host", parts.hostname),
                    ("Connection", "Keep-Alive"),
                ],
                is_http_request=True,
            )
            writer.write_record(
                writer.create_warc_record(
                    e.url,
                    "request",
                    http_headers=request,
                    warc_headers_dict={**common, "WARC-Record-ID": request_id},
                )
            )
            response = StatusAndHeaders(
                "200 OK",
                [
                    ("Date", _http_date(page.date)),
                    ("Server", "nginx"),
                    ("Content-Type", e.content_type),
                    ("Content-Length", str(len(page.body))),
                    ("Cache-Control", "max-age=600"),
                    ("Connection", "keep-alive"),
                ],
                protocol="HTTP/1.1",
            )
            writer.write_record(
                writer.create_warc_record(
                    e.url,
                    "response",
                    payload=io.BytesIO(page.body),
                    length=len(page.body),
                    http_headers=response,
                    warc_headers_dict={
                        **common,
                        "WARC-Record-ID": response_id,
                        "WARC-Concurrent-To": request_id,
                        "WARC-Identified-Payload-Type": e.content_type.split(";")[0],
                    },
                )
            )


def sample_manifest(seed: int = 0) -> list[SamplePage]:
    """Every page of the sample crawl with its planted case and expected fate, in file order."""
    return list(_manifest(seed))


@cache
def _manifest(seed: int) -> tuple[SamplePage, ...]:
    return tuple(p.entry for p in _materialize(seed))


def sample_file_names(seed: int = 0) -> list[str]:
    """The sample crawl's WARC file names, in order (what `write_sample_crawl` writes)."""
    return sorted({page.warc_file for page in _manifest(seed)})


def write_sample_crawl(
    out_dir: str | Path, seed: int = 0, names: Collection[str] | None = None
) -> list[Path]:
    """Write the sample crawl's WARC files into `out_dir` (same bytes for the same seed); only
    those in `names` when given (`sample_file_names`), each with the bytes it has in the whole
    crawl."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pages = _materialize(seed)
    unknown = set(names or ()) - {p.entry.warc_file for p in pages}
    if unknown:
        raise ValueError(f"the sample crawl has no file {', '.join(sorted(unknown))}")
    rng = random.Random(seed + 2)
    paths = []
    for name in sorted({p.entry.warc_file for p in pages}):
        in_file = [p for p in pages if p.entry.warc_file == name]
        record_ids = _record_ids(in_file, rng)
        if names is None or name in names:
            path = out / name
            _write_file(path, in_file, record_ids)
            paths.append(path)
    return paths
