"""PII scrubbing: email addresses, public IP addresses and (optionally) phone numbers in a
document's text become fixed placeholders, as FineWeb's PII formatter does."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from warc2gpt.config_fields import ConfigError, listing
from warc2gpt.curate.steps.base import Step

if TYPE_CHECKING:
    from warc2gpt.documents import Document

_LOCAL_CHARS = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]"
EMAIL_RE = re.compile(
    # Not glued to a preceding address character, so "a.b@c.com" is taken whole.
    rf"(?<![a-z0-9!#$%&'*+/=?^_`{{|}}~.-]){_LOCAL_CHARS}+(?:\.{_LOCAL_CHARS}+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})"
    r"(?![a-z0-9-])",
    re.IGNORECASE,
)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
# A dotted quad that is not part of a longer dotted number (version strings, OIDs).
IPV4_RE = re.compile(rf"(?<![\d.]){_OCTET}(?:\.{_OCTET}){{3}}(?!\.?\d)")
# Candidates only: ipaddress decides whether a match is a real IPv6 address.
IPV6_RE = re.compile(
    r"(?<![\w:.])(?:[0-9a-f]{0,4}:){2,7}(?:[0-9a-f]{1,4}|\d{1,3}(?:\.\d{1,3}){3})?(?![\w:])",
    re.IGNORECASE,
)


# IPv6 global unicast: the only block from which public addresses are handed out today. Python's
# is_global alone also accepts unassigned space such as `a::b`, which text is full of.
_IPV6_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")


# Retina image names such as `logo_200x200@2x.png` look like addresses; these are not TLDs.
FILE_EXTENSIONS = frozenset("png jpg jpeg gif svg webp avif bmp ico tif tiff css js".split())


def is_email(text: str) -> bool:
    return text.rsplit(".", 1)[-1].lower() not in FILE_EXTENSIONS


def is_public_ip(text: str) -> bool:
    """True for a globally routable address; False for private, loopback, reserved or invalid."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    if not ip.is_global or ip.is_multicast or ip.is_reserved:
        return False
    return ip.version == 4 or ip in _IPV6_GLOBAL_UNICAST


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class _Replacer:
    """One pattern, its placeholders (used in turn) and a check that a match really is PII."""

    def __init__(
        self,
        pattern: re.Pattern[str],
        placeholders: Sequence[str],
        accept: Callable[[str], bool] | None = None,
        key: str = "",
    ) -> None:
        if not placeholders:
            raise ConfigError(f"curate.pii.{key}: needs at least one placeholder")
        self.pattern = pattern
        self.placeholders = list(placeholders)
        self.skip = {p.lower() for p in placeholders}
        self.accept = accept

    def __call__(self, text: str) -> tuple[str, int]:
        count = 0

        def substitute(match: re.Match[str]) -> str:
            nonlocal count
            found = match.group(0)
            # Placeholders stay as they are, so scrubbing twice changes nothing.
            if found.lower() in self.skip or (self.accept and not self.accept(found)):
                return found
            # Placeholders rotate per document, so the output never depends on document order.
            placeholder = self.placeholders[count % len(self.placeholders)]
            count += 1
            return placeholder

        return self.pattern.sub(substitute, text), count


@dataclass
class PIISettings:
    """Personal data in the text replaced by fixed placeholders (FineWeb's PII formatter)."""

    enabled: bool = True
    emails: bool = True
    ips: bool = True
    # Private, loopback, link-local and reserved addresses are not personal: keep them.
    only_public_ips: bool = True
    # Used in turn. example.com/.org are reserved for examples; the IPv4 values are FineWeb's,
    # the IPv6 ones come from the documentation range 2001:db8::/32.
    email_replacements: list[str] = listing("email@example.com", "firstname.lastname@example.org")
    ipv4_replacements: list[str] = listing(
        "22.214.171.124",
        "126.96.36.199",
        "188.8.131.52",
        "184.108.40.206",
        "220.127.116.11",
        "18.104.22.168",
    )
    ipv6_replacements: list[str] = listing("2001:db8::1", "2001:db8::2")
    # Phone numbers: off by default (FineWeb leaves them); each pattern is a regular expression.
    phones: bool = False
    phone_patterns: list[str] = listing(
        # North American: (555) 123-4567, 555-123-4567, +1 555.123.4567
        r"(?<![\w+])(?:\+?1[ .-]?)?(?:\(\d{3}\)|\d{3})[ .-]?\d{3}[ .-]\d{4}(?![\w-])",
        # International with a leading +: +44 20 7946 0958, +49-30-1234567
        r"(?<![\w+])\+[2-9]\d{0,2}(?:[ .-]?\(?\d{1,5}\)?){1,2}[ .-]?\d{3,4}[ .-]?\d{3,5}(?![\w-])",
    )
    phone_replacement: str = "555-0100"


class PIIScrubber(Step):
    """Replace emails, public IPv4/IPv6 addresses and optional phone numbers in `doc.text`.

    Calling it on a document edits the text in place and adds the replacements to
    `doc.pii_replacements`. It never removes a document, so it has no row in the summary.
    """

    name = "pii"
    Settings = PIISettings
    in_summary = False

    def __init__(self, settings: PIISettings) -> None:
        super().__init__(settings)
        ip_check = is_public_ip if settings.only_public_ips else is_ip
        self.steps: list[tuple[str, _Replacer]] = []
        if not settings.enabled:
            return
        if settings.emails:
            self.steps.append(
                (
                    "@",
                    _Replacer(
                        EMAIL_RE, settings.email_replacements, is_email, key="email_replacements"
                    ),
                )
            )
        if settings.ips:
            self.steps.append(
                (
                    ".",
                    _Replacer(
                        IPV4_RE, settings.ipv4_replacements, ip_check, key="ipv4_replacements"
                    ),
                )
            )
            self.steps.append(
                (
                    ":",
                    _Replacer(
                        IPV6_RE, settings.ipv6_replacements, ip_check, key="ipv6_replacements"
                    ),
                )
            )
        if settings.phones:
            for i, pattern in enumerate(settings.phone_patterns):
                try:
                    compiled = re.compile(pattern)
                except re.error as exc:
                    raise ConfigError(
                        f"curate.pii.phone_patterns[{i}]: not a valid regular expression "
                        f"({exc}): {pattern!r}"
                    ) from None
                self.steps.append(
                    ("", _Replacer(compiled, [settings.phone_replacement], key="phone_replacement"))
                )

    def scrub(self, text: str) -> tuple[str, int]:
        """The scrubbed text and the number of replacements."""
        total = 0
        for needle, replace in self.steps:
            if needle in text:  # cheap test before the regular expression
                text, count = replace(text)
                total += count
        return text, total

    def __call__(self, doc: Document) -> None:
        doc.text, count = self.scrub(doc.text)
        doc.pii_replacements += count
