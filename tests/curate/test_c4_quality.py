"""C4 quality filter: the lines it drops and the text it keeps, each page-level reason."""

from __future__ import annotations

import pytest
from filter_inputs import doc, dolma_text

from warc2gpt.curate.steps.c4_quality import C4QualityFilter, C4QualitySettings

FILTER = C4QualityFilter(C4QualitySettings())
PROSE = [
    "The lighthouse keeper climbed the stairs every evening at dusk.",
    "He trimmed the wick, polished the lens and wound the clockwork.",
    "Ships passing the headland relied on the beam to avoid the rocks.",
    "In winter the storms lasted for days and the spray reached the lamp.",
    "His log records every vessel that passed between 1871 and 1903.",
]


def test_keeps_a_real_article_and_drops_its_boilerplate_lines(shared_data):
    text = dolma_text(shared_data, "multiple_files_cc_en_head-0091.jsonl.gz", 6)
    page = doc(text)
    assert FILTER(page) is None
    kept = page.text.splitlines()
    assert 0 < len(kept) <= len(text.splitlines())
    assert all(len(line.split()) >= 3 for line in kept)
    assert kept[0] == text.splitlines()[0].strip()


def test_removes_a_real_page_with_too_little_prose(shared_data):
    text = dolma_text(shared_data, "multiple_files_cc_en_head-0091.jsonl.gz", 0)
    page = doc(text)
    assert FILTER(page) == "too_few_sentences"
    assert page.text == text  # a removed page keeps its text for the removed/ shard


def test_line_rules_rewrite_the_kept_text():
    text = "\n".join(
        [
            "Home",  # too few words
            PROSE[0] + "[1]",  # citation removed
            "Please enable JavaScript to view the comments.",
            PROSE[1] + " [citation needed]",
            "This site uses cookies to improve your experience.",
            "  " + PROSE[2] + "  ",
            "Read more" + " x" * 0,
            PROSE[3] + "[edit]",
            "word " + "a" * 1001 + " end",  # a word over 1000 characters
            PROSE[4],
        ]
    )
    page = doc(text)
    assert FILTER(page) is None
    assert page.text == "\n".join([PROSE[0], PROSE[1] + " ", PROSE[2], PROSE[3], PROSE[4]]).strip()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("\n".join(PROSE + ["Lorem ipsum dolor sit amet, consectetur adipiscing."]), "lorem_ipsum"),
        ("\n".join(PROSE + ["var config = { theme: 'dark' };"]), "curly_bracket"),
        ("\n".join(PROSE[:4]), "too_few_sentences"),
        ("\n".join(PROSE[:4] + ["Menu", "Contact us", "Share"]), "too_few_sentences"),
    ],
)
def test_each_reason(text, reason):
    assert FILTER(doc(text)) == reason


def test_sentences_are_counted_within_lines():
    # Two lines of several sentences each reach the minimum of five.
    text = " ".join(PROSE[:3]) + "\n" + " ".join(PROSE[3:])
    assert FILTER(doc(text)) is None
    # Dr. and U.S. do not end sentences.
    short = "Dr. Smith met Mr. Jones in the U.S. capital.\n" * 4
    assert FILTER(doc(short)) == "too_few_sentences"


def test_edge_cases():
    assert FILTER(doc("")) == "too_few_sentences"
    assert FILTER(doc(" ".join(PROSE))) is None  # a single line holding five sentences
    russian = (
        "Москва — столица России. Здесь живут миллионы человек. Город основан в 1147 году. "
        "Он стоит на реке Москве. Зимой здесь бывает очень холодно."
    )
    assert FILTER(doc(russian)) is None


def test_settings_switch_rules():
    text = "\n".join(PROSE + ["Lorem ipsum dolor sit amet, consectetur adipiscing."])
    lenient = C4QualityFilter(C4QualitySettings(filter_lorem_ipsum=False))
    page = doc(text)
    assert lenient(page) is None and page.text.endswith("adipiscing.")
    # The terminal-punctuation rule FineWeb leaves off drops lines without an end mark.
    strict = C4QualityFilter(C4QualitySettings(filter_no_terminal_punct=True))
    page = doc("\n".join(PROSE + ["A line that has no stop at its end"]))
    assert strict(page) is None and page.text == "\n".join(PROSE)
    # Sentence mode applies the rules to sentences and joins them with spaces.
    by_sentence = C4QualityFilter(C4QualitySettings(split_paragraph=False))
    page = doc("\n".join(PROSE))
    assert by_sentence(page) is None and page.text == " ".join(PROSE)
