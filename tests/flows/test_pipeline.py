"""The pipeline flow over `dvc repro` reruns exactly what changed: nothing, or the stages below a
changed param. Runs the real stages on the tiny profile in a throwaway copy of the project."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "infra"))
from project_sandbox import make_sandbox, prefect_server, run, sandbox_env  # noqa: E402

pytestmark = pytest.mark.slow

STAGES = ["ingest", "curate", "dedup", "tokenizer", "tokenize", "train", "evaluate", "register"]
RAN = re.compile(r"Running stage '([\w-]+)'")


def run_pipeline(repo: Path, api_url: str, *args: str) -> tuple[list[str], str]:
    """`python -m flows.pipeline ARGS` in the copy; returns the stages DVC ran and the output."""
    env = sandbox_env(repo, {"PREFECT_API_URL": api_url})
    result = run([sys.executable, "-m", "flows.pipeline", *args], repo, env, timeout=900)
    output = result.stdout + result.stderr
    return RAN.findall(output), output


def registry_versions(repo: Path) -> list[int]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")
    return sorted(int(v.version) for v in client.search_model_versions("name = 'warc2gpt'"))


def output_mtimes(repo: Path) -> dict[str, int]:
    paths = ["data/raw", "data/curated", "data/dedup", "artifacts", "data/tokens", "reports"]
    return {
        str(f.relative_to(repo)): f.stat().st_mtime_ns
        for p in paths
        for f in (repo / p).rglob("*")
        if f.is_file()
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Iterator[tuple[Path, str]]:
    """A copy of the project after one complete pipeline run, and the Prefect API it used."""
    base = tmp_path_factory.mktemp("pipeline")
    repo = make_sandbox(base / "repo")
    with prefect_server(base / "prefect") as api_url:
        ran, output = run_pipeline(repo, api_url)
        assert ran == STAGES, output[-6000:]
        yield repo, api_url


def test_rerun_with_nothing_changed_runs_no_stage(built):
    repo, api_url = built
    before = output_mtimes(repo)
    versions = registry_versions(repo)
    assert versions == [1]

    ran, output = run_pipeline(repo, api_url)

    assert ran == []
    assert "stages run: nothing" in output
    assert output_mtimes(repo) == before  # not one output file rewritten
    assert registry_versions(repo) == versions  # and no new model version


def test_changed_train_param_reruns_exactly_train_evaluate_register(built):
    repo, api_url = built
    upstream = {
        k: v
        for k, v in output_mtimes(repo).items()
        if not k.startswith("artifacts/model")
        and not k.startswith("artifacts/checkpoints")
        and not k.startswith("reports")
    }

    ran, output = run_pipeline(repo, api_url, "--set", "train.steps=24")

    assert ran == ["train", "evaluate", "register"], output[-6000:]
    after = output_mtimes(repo)
    assert {k: after[k] for k in upstream} == upstream  # data and tokenizer untouched
    assert '"steps": 24' in (repo / "metrics" / "train.json").read_text(encoding="utf-8")
    assert registry_versions(repo) == [1, 2]
