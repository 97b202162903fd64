"""The pipeline flow over `dvc repro` reruns exactly what changed: nothing, or the stages below a
changed param; its stage runs sit under its own run in Prefect and MLflow. Runs the real stages
on the tiny profile in a throwaway copy of the project."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "infra"))
from project_sandbox import make_sandbox, prefect_server, run, sandbox_env  # noqa: E402

pytestmark = pytest.mark.slow

STAGES = ["ingest", "curate", "dedup", "tokenizer", "tokenize", "train", "evaluate", "register"]
RAN = re.compile(r"Running stage '([\w-]+)'")
PREFECT_LINK = re.compile(r"- Prefect UI:\s+(\S+)/runs/flow-run/([0-9a-f-]{36})")
HEADLINE = {"documents_kept", "corpus_tokens", "train_loss", "val_loss", "val_bpb"}


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


def mlflow_runs(repo: Path) -> list:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("warc2gpt")
    return client.search_runs([experiment.experiment_id], max_results=1000)


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
        yield repo, api_url, output


def test_stage_flow_runs_are_subflows_of_the_pipeline_run(built):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    repo, api_url, output = built
    link = PREFECT_LINK.search(output)
    assert link and link.group(1) == api_url.removesuffix("/api"), output[-3000:]
    with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        pipeline_run = client.read_flow_run(link.group(2))
        assert client.read_flow(pipeline_run.flow_id).name == "warc2gpt-pipeline"
        children = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[pipeline_run.id])
            )
        )
        placeholders = [client.read_task_run(run.parent_task_run_id) for run in children]
    assert sorted(t.name for t in placeholders) == sorted(STAGES)
    assert all(run.state.is_completed() for run in children)


def test_the_pipeline_mlflow_run_carries_headlines_report_and_model(built):
    from mlflow import MlflowClient

    repo, _, _ = built
    runs = mlflow_runs(repo)
    (pipeline_run,) = [r for r in runs if r.data.tags.get("warc2gpt.stage") == "pipeline"]
    assert pipeline_run.info.run_name.startswith("pipeline 20")
    assert HEADLINE <= set(pipeline_run.data.metrics) <= HEADLINE | {"hellaswag_acc", "lambada_acc"}
    assert len(pipeline_run.data.params) <= 10
    assert pipeline_run.data.tags["model_version"] == "1"
    assert pipeline_run.data.tags["model_uri"] == "models:/warc2gpt/1"
    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")
    artifacts = {a.path for a in client.list_artifacts(pipeline_run.info.run_id)}
    assert {"dvc.lock", "eval.md", "pipeline.md"} <= artifacts
    # the per-step series stay on the stage runs nested under it
    nested = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == pipeline_run.info.run_id]
    assert {"train", "evaluate"} <= {r.data.tags.get("warc2gpt.stage") for r in nested}


def test_rerun_with_nothing_changed_runs_no_stage(built):
    repo, api_url, _ = built
    before = output_mtimes(repo)
    versions = registry_versions(repo)
    assert versions == [1]
    runs = len(mlflow_runs(repo))

    ran, output = run_pipeline(repo, api_url)

    assert ran == []
    assert "stages run: nothing to do, all stages up to date" in output
    assert "val_bpb" in output  # the headline figures of the last run
    assert output_mtimes(repo) == before  # not one output file rewritten
    assert registry_versions(repo) == versions  # and no new model version
    assert len(mlflow_runs(repo)) == runs  # nothing happened, nothing recorded


def test_changed_train_param_reruns_exactly_train_evaluate_register(built):
    repo, api_url, _ = built
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
    summary = (repo / "artifacts" / "model" / "train_summary.json").read_text(encoding="utf-8")
    assert '"steps": 24' in summary
    params = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))
    assert params["train"]["steps"] == 24  # the override stays in params.yaml (DVC's workspace)
    assert registry_versions(repo) == [1, 2]
