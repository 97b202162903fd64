"""Language ID with the bundled lid.176 model on real text."""

from __future__ import annotations

from warc2gpt.curate.steps.language import LanguageFilter, LanguageSettings
from warc2gpt.documents import Document


def test_language_filter_on_real_sentences(shared_data):
    lid = LanguageFilter(LanguageSettings(languages=["en"], min_score=0.65))
    lines = (shared_data / "langid/tatoeba_long.txt").read_text(encoding="utf-8").splitlines()
    rows = [line.split("\t") for line in lines if line.count("\t") >= 3]
    samples = {row[2]: row[3] for row in rows if row[2] in {"eng", "deu", "fra", "jpn"}}
    assert set(samples) == {"eng", "deu", "fra", "jpn"}
    english = Document(id="1", url="u", text=samples["eng"])
    assert lid(english) is None and english.language == "en" and english.language_score > 0.65
    german = Document(id="2", url="u", text=samples["deu"])
    assert lid(german) == "language_de" and german.language == "de"
    japanese = Document(id="3", url="u", text=samples["jpn"])
    assert lid(japanese) == "language_ja"


def test_low_score_is_removed_with_its_reason():
    lid = LanguageFilter(LanguageSettings(languages=["en"], min_score=0.99999))
    doc = Document(id="1", url="u", text="The quick brown fox jumps over the lazy dog.")
    assert lid(doc) == "low_language_score" and doc.language == "en"


def test_several_languages_can_be_kept():
    lid = LanguageFilter(LanguageSettings(languages=["en", "fr"], min_score=0.5))
    doc = Document(id="1", url="u", text="Le chat dort sur le canapé pendant que la pluie tombe.")
    assert lid(doc) is None and doc.language == "fr"
