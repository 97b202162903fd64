"""Offline defaults: the project's Prefect home, and links that outlive the temporary server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from warc2gpt.offline import apply_offline_defaults

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def clean_env(monkeypatch):
    for key in ("PREFECT_HOME", "PREFECT_UI_URL", "PREFECT_API_URL"):
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
