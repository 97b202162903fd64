"""MinHash signatures: normalisation, agreement with a direct computation, Jaccard estimates."""

from __future__ import annotations

import random
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from dedup_corpus import edit_words, genesis, korean_text, make_documents, web_pages

from warc2gpt.dedup.minhash import EMPTY, MinHasher, estimated_jaccard, lsh_probability

HASHER = MinHasher()


def word_hashes(text: str) -> list[int]:
    words, offsets = HASHER.words([text])
    return words[offsets[0] : offsets[1]].tolist()


def shingle_set(text: str) -> set[int]:
    words, offsets = HASHER.words([text])
    grams, gram_offsets = HASHER.shingles(words, offsets)
    return set(grams.tolist())


def test_normalisation():
    assert word_hashes("Hello, World!") == word_hashes("  hello\tworld ")
    assert word_hashes("“Quoted” — text…") == word_hashes("quoted text")
    assert word_hashes("don’t ‘quote’") == word_hashes("don't 'quote'")
    assert word_hashes("ﬁne Ｆｕｌｌ-width") == word_hashes("fine full width")
    assert word_hashes("İstanbul, Ærø, café") == word_hashes("istanbul, ærø, cafe")
    assert word_hashes("대한민국") != word_hashes("대한민극")  # Hangul is not reduced to consonants
    assert len(word_hashes("snake_case-and-hyphens")) == 4
    assert len(word_hashes("x" * 100)) == 1
    assert word_hashes("a" * 70 + "b") != word_hashes("a" * 70 + "c")


def test_whole_numbers_fold_to_zero():
    assert word_hashes("in 1999") == word_hashes("in 19999") == word_hashes("in 0")
    assert word_hashes("pi is 3.14") == word_hashes("pi is 31.4159")
    assert word_hashes("1,000,000 people") == word_hashes("999 people")
    assert word_hashes("٣٤٥ and ３４５") == word_hashes("7 and 8")  # digits of every script
    assert word_hashes("mp3 at 128k") == word_hashes("mp4 at 96k")
    assert len(word_hashes("1, 2, 3.")) == 3 and len(word_hashes("2024-05-01")) == 3
    digits = MinHasher(fold_digits=False)
    assert digits.words(["in 1999"])[0][1] != digits.words(["in 2024"])[0][1]


def jaccard(text: str, other: str, hasher: MinHasher = HASHER) -> float:
    sig = hasher.signatures([text, other])
    return estimated_jaccard(sig[0], sig[1])


def test_pages_whose_numbers_grow_stay_duplicates(shared_data: Path):
    pages = [t for t in web_pages(shared_data).values() if len(re.findall(r"\d+", t)) >= 5]
    assert len(pages) >= 8
    for page in pages:
        grown = re.sub(r"\d+", lambda m: "1" + m.group(), page)  # every number one digit longer
        assert jaccard(page, grown) == 1.0
    # The most number-heavy page is far from its copy when digits are not folded.
    heaviest = max(pages, key=lambda t: len(re.findall(r"\d+", t)) / len(t.split()))
    grown = re.sub(r"\d+", lambda m: "1" + m.group(), heaviest)
    assert jaccard(heaviest, grown, MinHasher(fold_digits=False)) < 0.8


def strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


@pytest.mark.parametrize("language", ["french", "german", "portuguese", "finnish"])
def test_accent_stripped_copy_is_a_duplicate(shared_data: Path, language: str):
    text = genesis(shared_data, language)[:20_000]
    stripped = strip_accents(text)
    assert sum(strip_accents(c) != c for c in text) > 100  # accented letters
    assert jaccard(text, stripped) == 1.0
    assert jaccard(text, unicodedata.normalize("NFD", text)) == 1.0


def test_nfd_copy_of_korean_is_a_duplicate():
    text = korean_text()
    decomposed = unicodedata.normalize("NFD", text)
    assert len(decomposed) > 2 * len(text)  # syllables became jamo
    assert jaccard(text, decomposed) == 1.0
    assert jaccard(text, strip_accents(text)) == 1.0


def test_curly_quoted_copy_is_a_duplicate(shared_data: Path):
    straighten = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'"})
    pages = [t for t in web_pages(shared_data).values() if sum(map(t.count, "“”‘’")) >= 10]
    assert len(pages) >= 5
    for page in pages:
        assert jaccard(page, page.translate(straighten)) == 1.0


def test_different_documents_stay_far_apart(shared_data: Path):
    korean = korean_text()
    preamble, articles = korean.split("제 1 조")
    texts = [*web_pages(shared_data).values(), preamble, articles]
    # Genesis in four languages: the same text translated, and the accents of each stripped.
    texts += [strip_accents(genesis(shared_data, lang)[:5000]) for lang in ("french", "german")]
    texts += [genesis(shared_data, lang)[:5000] for lang in ("portuguese", "finnish", "swedish")]
    sig = HASHER.signatures(texts)
    for i in range(len(texts)):
        for j in range(i):
            assert estimated_jaccard(sig[i], sig[j]) < 0.1, (i, j)


def test_signature_equals_direct_minimum(paragraphs):
    docs = make_documents(paragraphs, 20)
    sig = HASHER.signatures(docs)
    words, offsets = HASHER.words(docs)
    grams, gram_offsets = HASHER.shingles(words, offsets)
    for d in range(len(docs)):
        shingles = grams[gram_offsets[d] : gram_offsets[d + 1]]
        assert shingles.size > 100
        direct = (shingles[:, None] * HASHER._perm_a + HASHER._perm_b).min(axis=0)
        np.testing.assert_array_equal(sig[d], direct)


def test_batch_boundaries_do_not_leak(paragraphs):
    docs = make_documents(paragraphs, 12) + ["", "one", "two words", "!!!", "four words in all"]
    together = HASHER.signatures(docs)
    for i, text in enumerate(docs):
        np.testing.assert_array_equal(together[i], HASHER.signatures([text])[0])


def test_short_and_empty_texts():
    sig = HASHER.signatures(["", "  ...  ", "two words", "Two, words!"])
    assert (sig[0] == EMPTY).all() and (sig[1] == EMPTY).all()
    assert (sig[2] != EMPTY).all()
    np.testing.assert_array_equal(sig[2], sig[3])


def test_estimates_follow_true_jaccard(paragraphs):
    rng = random.Random(3)
    errors = []
    for text in make_documents(paragraphs, 60, seed=1):
        edited = edit_words(text, rng.choice([0.01, 0.03, 0.1]), rng)
        a, b = shingle_set(text), shingle_set(edited)
        true = len(a & b) / len(a | b)
        sig = HASHER.signatures([text, edited])
        errors.append(estimated_jaccard(sig[0], sig[1]) - true)
    assert abs(np.mean(errors)) < 0.02  # unbiased
    assert np.std(errors) < 0.06  # ~sqrt(J(1-J)/112)


def test_seed_changes_hashes_and_processes_agree(paragraphs):
    text = make_documents(paragraphs, 1)[0]
    assert not np.array_equal(HASHER.signatures([text]), MinHasher(seed=2).signatures([text]))
    # Another interpreter (another PYTHONHASHSEED) computes the same signature.
    code = (
        "import sys; from warc2gpt.dedup.minhash import MinHasher; "
        "print(MinHasher().signatures([sys.stdin.read()])[0].sum(dtype='uint64'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=text,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123"},
    ).stdout
    assert int(out) == int(HASHER.signatures([text])[0].sum(dtype=np.uint64))


def test_band_keys_match_when_rows_match():
    sig = HASHER.signatures(["the quick brown fox jumps over the lazy dog"] * 2 + ["other text"])
    keys = HASHER.band_keys(sig)
    assert keys.shape == (3, 14)
    assert (keys[0] == keys[1]).all() and (keys[0] != keys[2]).all()


def test_s_curve():
    assert lsh_probability(0.8, 14, 8) == pytest.approx(0.924, abs=0.001)
    assert lsh_probability(0.5, 14, 8) < 0.06
