"""Word and sentence splitting against NLTK's output, and the per-document cache."""

from __future__ import annotations

import re

import pytest

from warc2gpt.curate.text import (
    PUNCTUATION_SET,
    count_sentences,
    find_duplicates,
    is_symbol_word,
    split_sentences,
    split_words,
    words,
)
from warc2gpt.documents import Document

# Expected tokens are what nltk.word_tokenize (3.10, Punkt English) returns for each text.
NLTK_CASES = [
    (
        "Good muffins cost $3.88 (roughly 3,36 euros)\nin New York.  Please buy me\n"
        "two of them.\nThanks.",
        "Good muffins cost $ 3.88 ( roughly 3,36 euros ) in New York . Please buy me two of "
        "them . Thanks .",
        3,
    ),
    (
        'Mr. Smith went to Washington. He said "hi." Dr. Doe isn\'t here... The U.S. economy '
        "grew 3.5% in 2020.",
        "Mr. Smith went to Washington . He said `` hi . '' Dr. Doe is n't here ... The U.S. "
        "economy grew 3.5 % in 2020 .",
        4,
    ),
    (
        "I cannot believe it's 10:30 already -- we're late; don't wait!",
        "I can not believe it 's 10:30 already -- we 're late ; do n't wait !",
        1,
    ),
    (
        "Das DFG-Projekt tagt am 26. und 27. Februar 2015: „Das wird.“ Er sagt es.",
        "Das DFG-Projekt tagt am 26. und 27 . Februar 2015 : „ Das wird. “ Er sagt es .",
        3,
    ),
    (
        "Visit http://example.com/a.html or e-mail info@example.com (ask for Ms. Lee).",
        "Visit http : //example.com/a.html or e-mail info @ example.com ( ask for Ms. Lee ) .",
        1,
    ),
    (
        "She said, 'no' — then left… Really?! Yes.",
        "She said , ' no ' — then left… Really ? ! Yes .",
        2,
    ),
    (
        "Москва — столица России. Здесь живут 13 млн человек.",
        "Москва — столица России . Здесь живут 13 млн человек .",
        2,
    ),
]


@pytest.mark.parametrize(("text", "tokens", "sentences"), NLTK_CASES)
def test_words_and_sentences_match_nltk(text, tokens, sentences):
    assert split_words(text) == tokens.split(" ")
    assert count_sentences(text) == sentences
    assert len(split_sentences(text)) == sentences


def test_blank_and_single_line_text():
    assert split_words("") == [] and count_sentences("") == 0 and split_sentences("") == []
    assert split_words("  \n\t ") == [] and count_sentences(" \n ") == 0
    assert split_words("one line without a stop") == ["one", "line", "without", "a", "stop"]
    assert count_sentences("one line without a stop") == 1


def test_text_without_spaces_is_one_word_per_run():
    # Like NLTK, scripts written without spaces come out as long runs, split at punctuation.
    assert split_words("東京は日本の首都です。人口は多い。") == [
        "東京は日本の首都です。人口は多い。"
    ]


def test_sentence_ends_after_abbreviations_and_quotes():
    assert split_sentences('He met Dr. Watson. "Fine," he said. Then he left.') == [
        "He met Dr. Watson.",
        '"Fine," he said.',
        "Then he left.",
    ]
    assert count_sentences("Wow!!! That was close.") == 2
    # Punkt knows no "approx." and ends a sentence there, closing bracket included.
    assert split_sentences("It costs 5 dollars (approx.) in total.") == [
        "It costs 5 dollars (approx.)",
        "in total.",
    ]


def test_punctuation_set_and_symbol_words():
    assert {"!", "…", "«", "。", "\x00", "\x9f"} <= PUNCTUATION_SET
    assert not {"\t", "\n", "a", "1"} & PUNCTUATION_SET
    assert is_symbol_word("--") and is_symbol_word("''") and not is_symbol_word("e-mail")


def test_find_duplicates_counts_repeats_and_their_characters():
    assert find_duplicates(["a", "bb", "a", "bb", "bb", "c"]) == (3, 5)
    assert find_duplicates([]) == (0, 0)


def test_words_are_cached_until_the_text_changes():
    doc = Document(id="1", url="u", text="First text here.")
    first = words(doc)
    assert words(doc) is first
    doc.text = "A different text."
    assert words(doc) == ["A", "different", "text", "."]


def test_no_character_is_lost_on_real_text(shared_data):
    # WikiText articles: the tokens hold every non-space character of the text, in order
    # (NLTK's quote rewriting aside).
    text = (shared_data / "text/wikitext-2/valid.txt").read_text(encoding="utf-8")[:200_000]
    tokens = split_words(text)
    assert len(tokens) > 30_000
    rebuilt = "".join(tokens).replace("``", '"').replace("''", '"')
    assert rebuilt == re.sub(r"\s+", "", text)
