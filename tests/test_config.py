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


@pytest.mark.parametrize(
    "override, key, expected",
    [
        ("train.lr=1e-3", "lr", 1e-3),
        ("train.muon_lr=3E5", "muon_lr", 3e5),
        ("train.lr=2.5e-4", "lr", 2.5e-4),
        ("train.lr=1.0e3", "lr", 1e3),
        ("train.steps=1e3", "steps", 1000),
    ],
)
def test_override_numbers_in_exponent_form(override, key, expected):
    value = getattr(load_params(Path("absent.yaml"), [override]).train, key)
    assert value == expected and type(value) is type(expected)


def test_negative_exponent_reaches_the_range_check():
    with pytest.raises(ConfigError, match=r"train.beta1: expected a value >= 0, got -0.00025"):
        load_params(Path("absent.yaml"), ["train.beta1=-2.5e-4"])


def test_params_file_reads_exponent_numbers(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  lr: 1e-3\n  weight_decay: '5E-2'\n")
    settings = load_params(path).train
    assert settings.lr == 1e-3 and settings.weight_decay == 5e-2
    # A float setting still refuses text that is not a number.
    assert parse_params({"train": {"lr": "1e-3"}}).train.lr == 1e-3
    with pytest.raises(ConfigError, match="train.lr: expected a number, got 'nan'"):
        parse_params({"train": {"lr": "nan"}})


@pytest.mark.parametrize("override", ["curate=", "curate= ", "evaluate.generation="])
def test_empty_section_override_is_refused(override):
    key = override.partition("=")[0]
    with pytest.raises(ConfigError, match=f"{key} is a section and cannot be emptied"):
        load_params(Path("absent.yaml"), [override])


def test_section_mapping_override_merges(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("curate:\n  output: kept\n")
    curate = load_params(path, ["curate={workers: 5}"]).curate
    assert (curate.workers, curate.output) == (5, "kept")


@pytest.mark.parametrize(
    "override, expected",
    [
        ("curate.input=data/*.warc.gz", ["data/*.warc.gz"]),
        ("curate.input=*.warc.gz", ["*.warc.gz"]),  # `*` would start a YAML alias
        ("curate.input=[a/*.gz, b.gz]", ["a/*.gz", "b.gz"]),
        ("curate.input=", []),
    ],
)
def test_list_and_glob_overrides(override, expected):
    assert load_params(Path("absent.yaml"), [override]).curate.input == expected


def test_text_settings_take_the_text():
    overrides = ["tracking.experiment= 2024", "curate.cluster_address=", "dedup.input= *.pq"]
    params = load_params(Path("absent.yaml"), overrides)
    assert params.tracking.experiment == "2024"
    assert params.curate.cluster_address == ""
    assert params.dedup.input == ["*.pq"]


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.lr=[", r"override 'train.lr=\[': the value is not valid YAML \(expected"),
        ("curate.workers={a", r"override 'curate.workers={a': the value is not valid YAML"),
        ("train.lr=", r"override 'train.lr=': no value; train.lr expects a number"),
        ("train..lr=1", r"override 'train..lr=1': expected dotted.key=value"),
        ("=1", r"override '=1': expected dotted.key=value"),
    ],
)
def test_bad_override_values_are_one_line(override, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_params(Path("absent.yaml"), [override])
    assert "\n" not in str(info.value)
    assert not str(info.value).startswith("absent.yaml")  # the override is at fault


def test_unknown_key_with_empty_value_names_the_key():
    with pytest.raises(ConfigError, match="unknown key nosuch"):
        load_params(Path("absent.yaml"), ["nosuch="])
