"""Gopher quality filter on real Common Crawl documents and hand-made ones, one per reason."""

from __future__ import annotations

import zipfile

import pytest
from filter_inputs import doc, dolma_text

from warc2gpt.curate.steps.gopher_quality import GopherQualityFilter, GopherQualitySettings

FILTER = GopherQualityFilter(GopherQualitySettings())
SENTENCE = (
    "The ship sailed to the harbour with a cargo of wool and salt for the market."  # 15 words
)
PARAGRAPH = " ".join([SENTENCE] * 4)  # 64 words: 15 and a period, four times


def test_keeps_a_real_article(shared_data):
    text = dolma_text(shared_data, "multiple_files_cc_en_head-0091.jsonl.gz", 6)
    assert FILTER(doc(text)) is None


@pytest.mark.parametrize(
    ("name", "index", "reason"),
    [
        # A navigation-heavy page: menus, dates and numbers rather than words.
        ("provided_documents_000.json.gz", 0, "gopher_below_alpha_threshold"),
        # A teaser of a few dozen words.
        ("multiple_files_cc_en_head-0174.jsonl.gz", 9, "gopher_short_doc"),
        # Headlines cut short with "...".
        ("multiple_files_cc_en_head-0174.jsonl.gz", 5, "gopher_too_many_end_ellipsis"),
    ],
)
def test_removes_real_pages(shared_data, name, index, reason):
    assert FILTER(doc(dolma_text(shared_data, name, index))) == reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Too short to be a document.", "gopher_short_doc"),
        (" ".join(["word"] * 100_001), "gopher_long_doc"),
        ("the a of to it is on by " * 10, "gopher_below_avg_threshold"),
        ("the and " + " ".join(["incomprehensibilities"] * 60), "gopher_above_avg_threshold"),
        (PARAGRAPH + " #tag" * 10, "gopher_too_many_hashes"),  # 10 hashes in 84 words
        (PARAGRAPH + " wait..." * 10, "gopher_too_many_ellipsis"),
        ("\n".join("• " + SENTENCE for _ in range(5)), "gopher_too_many_bullets"),
        ("\n".join("- " + SENTENCE for _ in range(5)), "gopher_too_many_bullets"),
        (
            "\n".join([SENTENCE, SENTENCE + " and then…", SENTENCE[:-1] + "..."] * 2),
            "gopher_too_many_end_ellipsis",
        ),
        (PARAGRAPH + " 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16", "gopher_below_alpha_threshold"),
        (" ".join(["cargo ship harbour wool salt market"] * 10), "gopher_enough_stop_words"),
    ],
)
def test_each_reason(text, reason):
    assert FILTER(doc(text)) == reason


def test_stop_words_are_case_sensitive_as_in_fineweb():
    text = " ".join(["The cargo ship reached harbour"] * 15)
    assert FILTER(doc(text)) == "gopher_enough_stop_words"
    assert FILTER(doc(text + " the end of the voyage")) is None


def test_edge_cases():
    assert FILTER(doc("")) == "gopher_short_doc"
    assert FILTER(doc("   \n  ")) == "gopher_short_doc"
    assert FILTER(doc("!!! ... ??? ---")) == "gopher_short_doc"
    assert FILTER(doc(PARAGRAPH)) is None  # one line of 64 words


def test_non_latin_scripts(shared_data):
    with zipfile.ZipFile(shared_data / "langid/nltk_udhr2.zip") as archive:
        russian = archive.read("udhr2/rus.txt").decode("utf-8")[:1500]
        chinese = archive.read("udhr2/cmn_hans.txt").decode("utf-8")[:1500]
    # FineWeb's English stop words: Russian prose has none of them.
    assert FILTER(doc(russian)) == "gopher_enough_stop_words"
    # Chinese has no spaces, so its "words" are whole clauses.
    assert FILTER(doc(chinese)) == "gopher_above_avg_threshold"


def test_thresholds_come_from_settings():
    text = (SENTENCE + "\n") * 2
    assert FILTER(doc(text)) == "gopher_short_doc"
    relaxed = GopherQualityFilter(GopherQualitySettings(min_doc_words=20))
    assert relaxed(doc(text)) is None
