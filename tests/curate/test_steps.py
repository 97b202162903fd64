"""The curate steps as one kind of thing: each module holds a step and its settings, config.py
assembles `curate:` from them, and loading config stays light."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
import subprocess
import sys
from dataclasses import dataclass

import pytest

from warc2gpt.config import ConfigError, CurateSettings, load_params, parse_params
from warc2gpt.curate.steps import PIPELINE, Step
from warc2gpt.curate.steps.base import settings_fields
from warc2gpt.curate.steps.language import LanguageSettings
from warc2gpt.curate.steps.url_filter import UrlFilterSettings


def test_every_step_has_a_name_and_its_settings_beside_it():
    for step in PIPELINE:
        assert issubclass(step, Step) and step.name, step
        assert dataclasses.is_dataclass(step.Settings), step
        defined_in = inspect.getmodule(step.Settings).__name__
        assert defined_in.startswith("warc2gpt.curate.steps."), (step, defined_in)
        assert step.__call__ is not Step.__call__, step


def test_params_yaml_holds_the_steps_defaults():
    loaded = load_params("params.yaml").curate
    for step in PIPELINE:
        assert step.settings_in(loaded) == step.Settings(), step.name


def test_curate_keys_and_their_errors_are_unchanged():
    settings = CurateSettings()
    assert (settings.extractor, settings.prefilter_language, settings.extraction_timeout) == (
        "trafilatura",
        True,
        0.1,
    )
    assert settings.url_filter == UrlFilterSettings() and settings.language == LanguageSettings()
    # worker processes receive the settings pickled
    assert pickle.loads(pickle.dumps(load_params("params.yaml").curate)).workers == 2
    with pytest.raises(ConfigError, match=r"unknown key curate\.c4_quality\.min_words_per_lines"):
        parse_params({"curate": {"c4_quality": {"min_words_per_lines": 3}}})
    with pytest.raises(ConfigError, match=r"did you mean curate\.extraction_timeout\?"):
        parse_params({"curate": {"extraction_timeot": 1}})
    with pytest.raises(ConfigError, match=r"curate\.language\.min_score: expected a value <= 1"):
        parse_params({"curate": {"language": {"min_score": 2}}})
    with pytest.raises(ConfigError, match=r"curate\.extractor: expected one of 'trafilatura'"):
        parse_params({"curate": {"extractor": "lynx"}})


def test_loading_config_imports_nothing_outside_the_standard_library_and_pyyaml():
    probe = (
        "import sys; before = set(sys.modules); import warc2gpt.config; "
        "print('\\n'.join(sorted({m.split('.')[0] for m in set(sys.modules) - before})))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    # PyYAML's C loader is a Cython extension
    allowed = {"warc2gpt", "yaml", "_yaml", "cython_runtime"}
    foreign = {m for m in loaded if m not in sys.stdlib_module_names}
    assert {m for m in foreign if m not in allowed and not m.startswith("_cython_")} == set()
    assert "warc2gpt" in foreign


@dataclass
class TitleSettings:
    enabled: bool = True
    min_chars: int = 3


class TitleFilter(Step):
    """A new filter: its module would hold just this, and PIPELINE would name it."""

    name = "title_filter"
    Settings = TitleSettings

    def __call__(self, doc):
        return None if len(doc.text) >= self.settings.min_chars else "short"


def test_a_new_step_brings_its_own_section():
    fields = dict((name, tp) for name, tp, _ in settings_fields([*PIPELINE, TitleFilter]))
    assert fields["title_filter"] is TitleSettings
    assert list(fields)[-1] == "title_filter" and "extractor" in fields


def test_two_steps_cannot_claim_one_key():
    class OtherLanguage(TitleFilter):
        name = "language"

    with pytest.raises(TypeError, match="curate.language: claimed by both"):
        settings_fields([*PIPELINE, OtherLanguage])
