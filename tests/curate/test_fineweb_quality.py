"""FineWeb quality filter on real pages and hand-made ones, one per reason."""

from __future__ import annotations

import pytest
from filter_inputs import doc, dolma_text

from warc2gpt.curate.steps.fineweb_quality import FineWebQualityFilter, FineWebQualitySettings

FILTER = FineWebQualityFilter(FineWebQualitySettings())
LINES = [
    "The orchard was planted in 1902 by the first owner of the farm.",
    "Its apple trees still give fruit every autumn, mostly russets and pippins.",
    "Volunteers prune them each February and press the harvest into cider.",
]


def test_keeps_a_real_article(shared_data):
    text = dolma_text(shared_data, "multiple_files_cc_en_head-0091.jsonl.gz", 6)
    assert FILTER(doc(text)) is None


@pytest.mark.parametrize(
    ("index", "reason"),
    [
        (2, "line_punct_ratio"),  # a university portal: menus and headings
        (8, "short_line_ratio"),  # a booking calendar
    ],
)
def test_removes_real_pages(shared_data, index, reason):
    text = dolma_text(shared_data, "provided_documents_000.json.gz", index)
    assert FILTER(doc(text)) == reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        # One punctuated line in thirteen.
        (
            "\n".join(["Home", "About us", "Products and services", "Contact"] * 3 + LINES[:1]),
            "line_punct_ratio",
        ),
        # Seven short lines in ten.
        (
            "\n".join(LINES + ["Next", "Prev", "Top", "Share", "Print", "Mail", "Help"]),
            "short_line_ratio",
        ),
        ("\n".join(LINES + [LINES[1]]), "char_dup_ratio"),
        # Long lines of one "word" each: many newlines per word.
        (
            "\n".join(f"Catalogue-entry-{i:04d}-russet-pippin-apple-tree." for i in range(20)),
            "list_ratio",
        ),
    ],
)
def test_each_reason(text, reason):
    assert FILTER(doc(text)) == reason


def test_edge_cases():
    assert FILTER(doc("")) == "line_punct_ratio"
    assert FILTER(doc(" ".join(LINES))) is None  # a single line of prose
    assert FILTER(doc("A single line without a stop")) == "line_punct_ratio"
    russian = (
        "Москва — столица России, здесь живут миллионы человек.\n"
        "Город основан в 1147 году и стоит на реке Москве.\n"
        "Зимой здесь бывает очень холодно и много снега."
    )
    assert FILTER(doc(russian)) is None


def test_settings():
    text = "\n".join(["Home", "About us", "Menu"])
    assert FILTER(doc(text)) == "line_punct_ratio"
    # line_punct_exclude_zero lets pages with no punctuated line through to the next rule.
    lenient = FineWebQualityFilter(FineWebQualitySettings(line_punct_exclude_zero=True))
    assert lenient(doc(text)) == "short_line_ratio"
