"""params.yaml validation: unknown keys, wrong types and ranges fail with the dotted path."""

from __future__ import annotations

from pathlib import Path

import pytest

from warc2gpt.config import ConfigError, load_params, parse_params

ROOT = Path(__file__).resolve().parents[1]


def test_project_params_load():
    params = load_params(ROOT / "params.yaml")
    assert params.curate.language.min_score == 0.65
    assert params.curate.gopher_quality.min_doc_words == 50


@pytest.mark.parametrize(
    "data, message",
    [
        (
            {"curate": {"gopher_quality": {"min_doc_wrds": 3}}},
            "unknown key curate.gopher_quality.min_doc_wrds",
        ),
        ({"curat": {}}, "unknown key curat"),
        ({"curate": {"workers": "two"}}, "curate.workers: expected an integer, got 'two'"),
        ({"curate": {"workers": 0}}, "curate.workers: expected a value >= 1, got 0"),
        (
            {"curate": {"language": {"min_score": 1.5}}},
            "curate.language.min_score: expected a value <= 1",
        ),
        (
            {"curate": {"extractor": "boilerpipe"}},
            "curate.extractor: expected one of 'trafilatura'",
        ),
        (
            {"curate": {"language": {"languages": [1]}}},
            "curate.language.languages[0]: expected a string",
        ),
        ({"curate": {"url_filter": True}}, "curate.url_filter: expected a mapping"),
    ],
)
def test_bad_values_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_params(data)


def test_overrides_and_file_errors(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("curate:\n  workers: 3\n")
    assert load_params(path).curate.workers == 3
    assert load_params(path, ["curate.workers=1"]).curate.workers == 1
    with pytest.raises(ConfigError, match=f"{path}: unknown key curate.wrkers"):
        load_params(path, ["curate.wrkers=1"])
    path.write_text("curate: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(path)


def test_missing_file_means_defaults(tmp_path):
    assert load_params(tmp_path / "absent.yaml").curate.output == "data/curated"
