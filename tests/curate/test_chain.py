"""The curation chain: one loop runs every step, counts each row as a funnel, records the
removing step and reason, and turns a step's exception into a removal of that page only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from warc2gpt.config import load_params
from warc2gpt.curate.chain import CurationChain, chain_steps
from warc2gpt.curate.steps.extract import HTML, Extraction, ExtractSettings
from warc2gpt.curate.steps.gopher_quality import GopherQualityFilter
from warc2gpt.documents import Document
from warc2gpt.ingest.warc import Page

ROOT = Path(__file__).resolve().parents[2]
FINEWEB_ROWS = [
    "url_filter",
    "extract",
    "language",
    "gopher_repetition",
    "gopher_quality",
    "c4_quality",
    "fineweb_quality",
]

ENGLISH = [
    "The river rises in the hills to the north and reaches the sea after a long journey.",
    "Farmers along its banks have grown wheat and barley there for many hundreds of years.",
    "In the spring the water is high, and the old bridges are closed to heavy traffic.",
    "A small museum in the town explains how the mills once worked and who owned them.",
    "Visitors can walk the path beside the water and stop at the cafe near the lock.",
    "The council has planted new trees to hold the soil and to give shade in summer.",
    "Write to office@river-museum.org or call in person if you have questions about a visit.",
]
GERMAN = [
    "Der Fluss entspringt in den Bergen im Norden und fließt nach einer langen Reise ins Meer.",
    "Die Bauern an seinen Ufern bauen dort seit vielen hundert Jahren Weizen und Gerste an.",
    "Im Frühling ist das Wasser hoch, und die alten Brücken sind für schwere Fahrzeuge gesperrt.",
    "Ein kleines Museum in der Stadt erklärt, wie die Mühlen früher gearbeitet haben.",
    "Besucher können den Weg am Wasser entlang gehen und im Café an der Schleuse anhalten.",
]


def html_page(url: str, sentences: list[str], offset: int = 0) -> Page:
    paragraphs = "".join(f"<p>{s}</p>" for s in sentences)
    body = f"<html><head><title>River</title></head><body><article>{paragraphs}</article></body></html>"
    return Page(
        url=url,
        date="2024-05-01T00:00:00Z",
        record_id=f"<urn:uuid:0000000{offset}>",
        offset=offset,
        kind="html",
        body=body.encode(),
        http_charset="utf-8",
    )


def curate_settings(**overrides):
    sets = [f"curate.{key}={json.dumps(value)}" for key, value in overrides.items()]
    return load_params(ROOT / "params.yaml", sets).curate


class ExplodingGopherQuality(GopherQualityFilter):
    """Gopher's quality filter with a bug that only one page's text triggers."""

    def __call__(self, doc: Document) -> str | None:
        if "cafe" in doc.text:
            raise ZeroDivisionError("no words")
        return super().__call__(doc)


def test_summary_rows_are_fineweb_order_whatever_the_options():
    assert chain_steps(curate_settings()) == FINEWEB_ROWS
    # the prefilter's steps report under the rows they stand in for
    assert chain_steps(curate_settings(prefilter_language=True)) == FINEWEB_ROWS
    without = chain_steps(
        curate_settings(language={"enabled": False}, c4_quality={"enabled": False})
    )
    assert without == [r for r in FINEWEB_ROWS if r not in ("language", "c4_quality")]


def test_a_step_that_raises_removes_its_page_and_the_next_page_goes_on():
    chain = CurationChain(curate_settings(extractor="resiliparse"))
    index = [step.name for step in chain.steps].index("gopher_quality")
    chain.steps[index] = ExplodingGopherQuality(chain.steps[index].settings)
    tally = chain.tally()
    broken = chain.apply(html_page("https://river.example/a", ENGLISH, 1), "f.warc.gz", tally)
    kept = chain.apply(
        html_page("https://river.example/b", ENGLISH[:4] + ENGLISH[5:], 2), "f.warc.gz", tally
    )

    assert (broken.step, broken.reason) == ("gopher_quality", "error_ZeroDivisionError")
    assert broken.doc.id == "00000001"
    assert kept.step == "" and "office@" not in kept.doc.text
    assert kept.doc.pii_replacements == 1 and not kept.doc.cache
    counts = {name: stats.to_dict() for name, stats in tally.items()}
    assert list(counts) == FINEWEB_ROWS
    assert counts["gopher_quality"]["in"] == 2
    assert counts["gopher_quality"]["reasons"] == {"error_ZeroDivisionError": 1}
    assert counts["fineweb_quality"] == {**counts["fineweb_quality"], "in": 1, "kept": 1}
    assert set(kept.timings) >= {"decode", *FINEWEB_ROWS, "pii"}


def test_the_prefilter_removes_at_the_language_row_before_trafilatura(monkeypatch):
    chain = CurationChain(curate_settings(prefilter_language=True))
    precise = []
    monkeypatch.setattr(
        "warc2gpt.curate.steps.extract.extract_trafilatura",
        lambda html, timeout: precise.append(html) or "",
    )
    tally = chain.tally()
    outcome = chain.apply(html_page("https://fluss.example/", GERMAN), "f.warc.gz", tally)
    assert (outcome.step, outcome.reason) == ("language", "prefilter_language_de")
    assert outcome.doc.language == "de" and "Fluss" in outcome.doc.text
    assert not precise, "a page in an unwanted language never meets the precise extractor"
    assert tally["extract"].to_dict()["kept"] == 1
    assert tally["language"].to_dict()["removed"] == 1
    assert tally["gopher_repetition"].docs_in == 0

    english = chain.apply(html_page("https://river.example/", ENGLISH), "f.warc.gz", tally)
    assert (english.step, english.reason) == ("extract", "empty")  # the stub extracts nothing
    assert len(precise) == 1 and "<article>" in precise[0]
    assert tally["extract"].docs_in == 2 and tally["language"].docs_in == 1


def test_a_url_filter_removal_keeps_the_page_as_its_text():
    chain = CurationChain(curate_settings(extractor="resiliparse"))
    outcome = chain.apply(
        html_page("https://camgirls.example/river", ENGLISH), "f.warc.gz", chain.tally()
    )
    assert (outcome.step, outcome.reason) == ("url_filter", "banned_word")
    assert outcome.doc.text.startswith("<html>")


def test_extraction_runs_out_of_budget_or_passes_plain_text_through():
    page = (
        "<html><body>"
        + "<div><p>A sentence of text in a block.</p></div>" * 20000
        + "</body></html>"
    )
    slow = Document(id="d", url="u", text=page)
    slow.cache[HTML] = page
    # ~3 s of CPU for trafilatura; the budget runs out well inside its main work (a signal that
    # lands in its first milliseconds can meet one of its own `except Exception` blocks)
    extraction = Extraction(ExtractSettings(extraction_timeout=0.3))
    assert extraction(slow) == "timeout" and slow.text == ""

    wet = Document(id="d", url="u", text="  plain text of a WET record \n")
    assert extraction(wet) is None and wet.text == "plain text of a WET record"
    assert extraction(Document(id="d", url="u", text=" \n ")) == "empty"


@pytest.mark.parametrize(
    "options",
    [{}, {"extractor": "resiliparse"}, {"prefilter_language": True}],
    ids=["trafilatura", "resiliparse", "prefilter"],
)
def test_a_page_nested_too_deep_is_removed_before_any_extractor_runs(options) -> None:
    # 30,000 nested divs: about 30 s in resiliparse, in C where no timer reaches.
    deep = html_page("https://example.org/deep", ENGLISH, offset=1)
    deep.body = b"<html><body>" + b"<div>" * 30_000 + deep.body + b"</div>" * 30_000
    fine = html_page("https://example.org/fine", ENGLISH, offset=2)
    chain = CurationChain(curate_settings(**options))
    tally = chain.tally()
    outcomes = [chain.apply(page, "test.warc.gz", tally) for page in (deep, fine)]
    assert (outcomes[0].step, outcomes[0].reason) == ("extract", "too_deep")
    assert outcomes[1].step != "extract" and "river" in outcomes[1].doc.text.lower()
