"""Gopher repetition filter: real pages and hand-made repetition, each reason, edge cases, and
the fast n-gram counts against a plain reading of the definitions."""

from __future__ import annotations

import zipfile
from collections import Counter

import pytest
from filter_inputs import doc, dolma_text

from warc2gpt.config import ConfigError
from warc2gpt.curate.ngrams import NGrams
from warc2gpt.curate.steps.gopher_repetition import (
    GopherRepetitionFilter,
    GopherRepetitionSettings,
)
from warc2gpt.curate.text import split_words

FILTER = GopherRepetitionFilter(GopherRepetitionSettings())
PROSE = (
    "Ice and snow are a fact of winter in most parts of the world, and every year they cause "
    "accidents on roads and pavements. Salt lowers the freezing point of water, so it keeps "
    "a thin film of brine between the ice and the road. Sand gives tyres and boots something "
    "to grip when the temperature is too low for salt to work."
)


def test_keeps_a_real_article(shared_data):
    text = dolma_text(shared_data, "multiple_files_cc_en_head-0091.jsonl.gz", 6)
    assert text.startswith("Ice and snow")
    assert FILTER(doc(text)) is None


def test_removes_a_real_page_of_repeated_lines(shared_data):
    # A real Common Crawl page doubled, as a crawler that stores a page twice would.
    text = dolma_text(shared_data, "multiple_files_cc_en_head-0091.jsonl.gz", 7)
    assert FILTER(doc(text)) is None
    assert FILTER(doc(text + "\n\n" + text)) == "dup_para_frac"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (PROSE + "\n\n" + PROSE + "\n\nA last different paragraph.", "dup_para_frac"),
        # Few repeated paragraphs, but long ones.
        ("\n\n".join([PROSE * 3, "a", "b", "c", "d", PROSE * 3]), "dup_para_char_frac"),
        ("\n".join(["Buy now!", "Great deal.", "Buy now!", "Buy now!"]), "dup_line_frac"),
        ("\n".join([PROSE * 2, "x", "y", "z", "w", "v", "u", PROSE * 2]), "dup_line_char_frac"),
        (PROSE + " " + "cheap watches " * 40, "top_2_gram"),
        # A repeated 3-gram whose 2-grams stay under their own (lower-length) threshold.
        (
            PROSE + " " + " ".join(f"wonderful blue lighting item{i} ok" for i in range(8)),
            "top_3_gram",
        ),
        (
            PROSE + " " + " ".join(f"we sell cheap watches item{i} now" for i in range(5)),
            "top_4_gram",
        ),
        (
            # Two sentences said twice within one paragraph.
            PROSE + " " + PROSE[PROSE.index("Salt") :],
            "duplicated_5_n_grams",
        ),
    ],
)
def test_each_reason(text, reason):
    assert FILTER(doc(text)) == reason


def test_edge_cases():
    assert FILTER(doc("")) is None
    assert FILTER(doc(PROSE.replace("\n", " "))) is None  # one long line
    # As in FineWeb, in a very short text even a single n-gram covers too much of it.
    assert FILTER(doc("A single line without any repetition at all.")) == "top_3_gram"
    # Whitespace-only text: its empty "lines" repeat each other, as FineWeb counts them.
    assert FILTER(doc("\n\n\n")) == "dup_line_frac"
    # Chinese, written without spaces: repeated lines still count.
    assert FILTER(doc("\n".join(["今天天气很好。"] * 5 + ["我们去公园。"]))) == "dup_line_frac"


def test_non_latin_prose_is_kept(shared_data):
    with zipfile.ZipFile(shared_data / "langid/nltk_udhr2.zip") as archive:
        russian = archive.read("udhr2/rus.txt").decode("utf-8")[:1500]
    assert "Всеобщая декларация" in russian
    assert FILTER(doc(russian)) is None


def test_thresholds_come_from_settings():
    text = PROSE + " " + "cheap watches " * 40
    assert FILTER(doc(text)) == "top_2_gram"
    # An empty list switches a family of n-gram checks off.
    lenient = GopherRepetitionFilter(GopherRepetitionSettings(top_n_grams=[], dup_n_grams=[]))
    assert lenient(doc(text)) is None
    with pytest.raises(ConfigError, match=r"top_n_grams\[0\]"):
        GopherRepetitionFilter(GopherRepetitionSettings(top_n_grams=[[0.5, 0.2]]))


def _plain_top(words: list[str], n: int) -> int:
    grams = [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0
    gram, count = Counter(grams).most_common(1)[0]
    return len(gram) * count


def _plain_duplicated(words: list[str], n: int) -> int:
    # n-grams compare word by word (datatrove compares the words glued together, so that
    # "ab c" would repeat "a bc"; real text almost never tells the two apart).
    seen, chars, i = set(), 0, 0
    while i < len(words) - n + 1:
        gram = tuple(words[i : i + n])
        if gram in seen:
            chars += sum(map(len, gram))
            i += n
        else:
            seen.add(gram)
            i += 1
    return chars


def test_n_gram_counts_match_the_definitions_on_real_text(shared_data):
    texts = [
        dolma_text(shared_data, name, i)
        for name in ("multiple_files_cc_en_head-0091.jsonl.gz", "provided_documents_000.json.gz")
        for i in range(10)
    ]
    texts.append((shared_data / "text/tinyshakespeare.txt").read_text(encoding="utf-8")[:20000])
    for text in texts:
        words = split_words(text)
        grams = NGrams(words)
        for n in range(2, 11):
            assert grams.top_n_gram_chars(n) == _plain_top(words, n), n
            assert grams.duplicated_n_gram_chars(n) == _plain_duplicated(words, n), n
