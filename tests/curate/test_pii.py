"""PII scrubbing on tricky strings and on real web text (Common Crawl samples, real HTML)."""

from __future__ import annotations

import gzip
import json
import re

import pytest

from warc2gpt.config import ConfigError, load_params
from warc2gpt.curate.steps.pii import PIIScrubber, PIISettings, is_public_ip
from warc2gpt.documents import Document

EMAILS = PIISettings().email_replacements
IPV4 = PIISettings().ipv4_replacements
IPV6 = PIISettings().ipv6_replacements


@pytest.fixture(scope="module")
def scrub():
    scrubber = PIIScrubber(PIISettings())
    return lambda text: scrubber.scrub(text)


@pytest.mark.parametrize(
    ("text", "expected", "count"),
    [
        ("write to John.Doe@Example.COM today", f"write to {EMAILS[0]} today", 1),
        ("a@b.io, c+tag@mail.co.uk.", f"{EMAILS[0]}, {EMAILS[1]}.", 2),
        ('<a href="mailto:bob@mail.org">', f'<a href="mailto:{EMAILS[0]}">', 1),
        ("user@localhost and x@2.5 stay", "user@localhost and x@2.5 stay", 0),
        ("logo_200x200@2x.png and icon@3x.jpg", "logo_200x200@2x.png and icon@3x.jpg", 0),
        ("DNS 8.8.8.8 and 1.1.1.1:53", f"DNS {IPV4[0]} and {IPV4[1]}:53", 2),
        ("http://93.184.216.34/index.html", f"http://{IPV4[0]}/index.html", 1),
        (
            "lan 192.168.1.1 10.0.0.5 172.16.4.2 127.0.0.1 169.254.1.1 100.64.0.1",
            "lan 192.168.1.1 10.0.0.5 172.16.4.2 127.0.0.1 169.254.1.1 100.64.0.1",
            0,
        ),
        (
            "multicast 224.0.0.1, reserved 240.0.0.1, zero 0.0.0.0",
            "multicast 224.0.0.1, reserved 240.0.0.1, zero 0.0.0.0",
            0,
        ),
        ("version 1.2.3.4.5, bad 256.1.1.1, 04.222.37.188, 1.2.3", None, 0),
        ("v6 2606:4700:4700::1111 end", f"v6 {IPV6[0]} end", 1),
        ("[2a00:1450:4001:82b::200e]:443", f"[{IPV6[0]}]:443", 1),
        ("::1 fe80::1 fd00::1 ff02::1 2001:db8::5", None, 0),
        ("at 12:30:45 std::vector a::b dead:beef::1", None, 0),
        (f"already {EMAILS[0]} and {IPV4[2]} and {IPV6[1]}", None, 0),
    ],
)
def test_tricky_strings(scrub, text, expected, count):
    out, n = scrub(text)
    assert out == (text if expected is None else expected)
    assert n == count


def test_placeholders_rotate_per_document(scrub):
    text = " ".join(f"u{i}@site.org" for i in range(3))
    assert scrub(text) == (" ".join([EMAILS[0], EMAILS[1], EMAILS[0]]), 3)
    # A second document starts again at the first placeholder: order of documents is irrelevant.
    assert scrub("z@site.org")[0] == EMAILS[0]


def test_document_counts_accumulate():
    doc = Document(id="d", url="u", text="mail a@b.org from 8.8.4.4")
    scrubber = PIIScrubber(PIISettings())
    assert scrubber(doc) is None  # a step that never removes a document
    assert doc.pii_replacements == 2
    scrubber(doc)  # idempotent: placeholders are left alone
    assert doc.pii_replacements == 2
    assert "a@b.org" not in doc.text and "8.8.4.4" not in doc.text


def test_switches():
    text = "a@b.org 8.8.8.8 192.168.0.1"
    assert PIIScrubber(PIISettings(enabled=False)).scrub(text) == (text, 0)
    assert PIIScrubber(PIISettings(emails=False)).scrub(text)[1] == 1
    everything = PIIScrubber(PIISettings(only_public_ips=False)).scrub(text)
    assert everything == (f"{EMAILS[0]} {IPV4[0]} {IPV4[1]}", 3)
    custom = PIIScrubber(PIISettings(email_replacements=["<EMAIL>"], ips=False))
    assert custom.scrub(text) == ("<EMAIL> 8.8.8.8 192.168.0.1", 1)


@pytest.mark.parametrize(
    ("text", "replaced"),
    [
        ("call (555) 123-4567 now", "call 555-0100 now"),
        ("tel +1 212.555.0199.", "tel 555-0100."),
        ("+44 20 7946 0958 or +49-30-1234567", "555-0100 or 555-0100"),
        ("years 2019-2020, ISBN 978-3-16-148410-0, id 12345678901, 3.14159", None),
    ],
)
def test_phone_numbers_when_enabled(text, replaced):
    scrubber = PIIScrubber(PIISettings(phones=True))
    assert scrubber.scrub(text)[0] == (text if replaced is None else replaced)
    assert PIIScrubber(PIISettings()).scrub(text)[0] == text  # off by default


def test_bad_settings_fail_clearly():
    with pytest.raises(ConfigError, match=r"phone_patterns\[0\]"):
        PIIScrubber(PIISettings(phones=True, phone_patterns=["(unclosed"]))
    with pytest.raises(ConfigError, match="email_replacements"):
        PIIScrubber(PIISettings(email_replacements=[]))


def test_params_yaml_matches_the_defaults():
    assert load_params("params.yaml").curate.pii == PIISettings()


def test_public_ip_classification():
    assert is_public_ip("8.8.8.8") and is_public_ip("2606:4700::1")
    for address in ("10.1.2.3", "::1", "fe80::1", "2001:db8::1", "a::b", "not an ip"):
        assert not is_public_ip(address)


def test_real_common_crawl_documents(shared_data):
    """Dolma's Common Crawl samples hold real contact addresses: all of them go, nothing else."""
    scrubber = PIIScrubber(PIISettings())
    simple_email = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}", re.I)
    docs, found = 0, []
    for path in sorted((shared_data / "text" / "dolma_cc_samples").glob("*.gz")):
        for line in gzip.open(path, "rt", encoding="utf-8"):
            record = json.loads(line)
            doc = Document(id=record["id"], url=record["id"], text=record["text"])
            before = simple_email.findall(doc.text)
            scrubber(doc)
            n = doc.pii_replacements
            found += before
            docs += 1
            assert n == len(before), (record["id"], before)
            assert not [e for e in simple_email.findall(doc.text) if e not in EMAILS]
            words_before = len(record["text"].split())
            assert len(doc.text.split()) == words_before  # nothing but the addresses changed
    assert docs >= 30 and {"ask@bufvc.ac.uk", "info@eun.org"} <= set(found)


def test_real_html_page(shared_data):
    """A real page serves assets from a public IP in its URLs, and names images `x@2x.png`."""
    pages = shared_data / "html" / "trafilatura_cache"
    press = gzip.open(
        pages / "theplanetarypress.com.forestlands.html.gz",
        "rt",
        encoding="utf-8",
        errors="replace",
    ).read()
    out, n = PIIScrubber(PIISettings()).scrub(press)
    assert press.count("166.62.108.43") > 10
    assert "166.62.108.43" not in out and n >= press.count("166.62.108.43")
    shop = gzip.open(
        pages / "ebrosia.de.zinfandel.html.gz", "rt", encoding="utf-8", errors="replace"
    ).read()
    retina = re.findall(r"[\w.-]+@2x\.png", shop)
    out, _ = PIIScrubber(PIISettings()).scrub(shop)
    assert retina and all(name in out for name in retina)
