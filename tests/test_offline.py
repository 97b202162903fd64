"""Offline defaults: the project's Prefect home, and links that outlive the temporary server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from warc2gpt.offline import UI_DEFAULT_FOR, apply_offline_defaults, share_prefect_api

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def clean_env(monkeypatch):
    for key in ("PREFECT_HOME", "PREFECT_UI_URL", "PREFECT_API_URL", UI_DEFAULT_FOR):
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


def test_in_the_checkout_prefect_lives_in_the_project(clean_env):
    clean_env.chdir(ROOT)
    apply_offline_defaults()
    assert os.environ["PREFECT_HOME"] == str(ROOT / ".prefect")
    assert os.environ["PREFECT_UI_URL"] == "http://127.0.0.1:4200"


def test_elsewhere_and_with_a_server_the_users_settings_stand(clean_env, tmp_path):
    clean_env.chdir(tmp_path)
    clean_env.setenv("PREFECT_API_URL", "http://prefect.internal:4200/api")
    apply_offline_defaults()
    assert "PREFECT_HOME" not in os.environ
    assert "PREFECT_UI_URL" not in os.environ  # Prefect derives it from the API URL


def test_a_home_the_user_set_is_kept(clean_env):
    clean_env.chdir(ROOT)
    clean_env.setenv("PREFECT_HOME", "/elsewhere")
    apply_offline_defaults()
    assert os.environ["PREFECT_HOME"] == "/elsewhere"


def test_a_child_keeps_the_local_ui_only_for_the_api_it_was_chosen_for(clean_env, tmp_path):
    clean_env.chdir(tmp_path)
    apply_offline_defaults()  # a pipeline with no server: links to prefect server start's UI
    assert os.environ["PREFECT_UI_URL"] == "http://127.0.0.1:4200"

    stage_env = dict(os.environ)  # its stages report to its temporary server
    share_prefect_api(stage_env, "http://127.0.0.1:8123/api")
    clean_env.setattr(os, "environ", stage_env)
    apply_offline_defaults()
    assert os.environ["PREFECT_UI_URL"] == "http://127.0.0.1:4200"

    other = {k: v for k, v in stage_env.items() if k != "PREFECT_API_URL"}
    other["PREFECT_API_URL"] = "http://prefect.internal:4200/api"  # a real server named later
    clean_env.setattr(os, "environ", other)
    apply_offline_defaults()
    assert "PREFECT_UI_URL" not in os.environ
