"""The scheduled deployment end to end on loopback: real Prefect and MLflow servers, a process
work pool and worker, the tiny params profile; the run must complete and register a model."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from project_sandbox import make_sandbox, run, sandbox_env, start

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEPLOYMENT = "warc2gpt-pipeline/nightly"
POOL = "warc2gpt-process"
MODEL = "warc2gpt"
STAGES = ["ingest", "curate", "dedup", "tokenizer", "tokenize", "train", "evaluate", "register"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> Iterator[dict]:
    """A project copy and both servers started by infra/services.sh; always stopped after."""
    base = tmp_path_factory.mktemp("deployment")
    repo = make_sandbox(base / "repo")
    state = base / "state"
    ports = {"PREFECT_PORT": str(free_port()), "MLFLOW_PORT": str(free_port())}
    env = sandbox_env(repo, {"WARC2GPT_STATE": str(state), **ports})
    try:
        started = run(["bash", "infra/services.sh", "start"], repo, env, timeout=400)
        exports = dict(
            line.removeprefix("export ").split("=", 1)
            for line in started.stdout.splitlines()
            if line.startswith("export ")
        )
        yield {
            "repo": repo,
            "state": state,
            "env": sandbox_env(repo, {**env, **exports}),
            **exports,
        }
    finally:
        stopped = run(["bash", "infra/services.sh", "stop"], repo, env, timeout=120, check=False)
        assert stopped.returncode == 0, stopped.stderr
    for port in ports.values():  # both servers gone: their ports accept nothing
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", int(port))) != 0, port


def _flow_run_state(api_url: str, flow_run_id: str) -> str:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        with get_client(sync_client=True) as client:
            return client.read_flow_run(flow_run_id).state.type.value


def _trigger(api_url: str, parameters: dict | None = None) -> str:
    """A flow run of the deployment, created through the Prefect API; returns its id."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name(DEPLOYMENT)
            assert [s.schedule.cron for s in deployment.schedules] == ["0 3 * * *"]
            run = client.create_flow_run_from_deployment(deployment.id, parameters=parameters)
            return str(run.id)


def _run_worker_until_done(servers: dict, flow_run_id: str, log: Path, timeout: float) -> str:
    worker = start(
        ["prefect", "worker", "start", "--pool", POOL, "--limit", "1"],
        servers["repo"],
        log,
        servers["env"],
    )
    try:
        deadline = time.monotonic() + timeout
        state = "SCHEDULED"
        while time.monotonic() < deadline:
            state = _flow_run_state(servers["PREFECT_API_URL"], flow_run_id)
            if state in {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}:
                return state
            if worker.poll() is not None:
                break
            time.sleep(2)
        return state
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()


def test_deployed_pipeline_runs_and_registers(servers):
    repo, env = servers["repo"], servers["env"]
    run(["prefect", "work-pool", "create", POOL, "--type", "process"], repo, env, timeout=120)
    run(
        ["prefect", "--no-prompt", "deploy", "--prefect-file", "infra/prefect.yaml", "--all"],
        repo,
        {**env, "WARC2GPT_HOME": str(repo)},
        timeout=180,
    )

    log = servers["state"] / "worker-1.log"
    first = _trigger(servers["PREFECT_API_URL"])
    state = _run_worker_until_done(servers, first, log, timeout=600)
    assert state == "COMPLETED", (
        f"flow run {first} ended {state}; worker log:\n" + log.read_text(encoding="utf-8")[-8000:]
    )

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=servers["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name("warc2gpt")
    assert experiment is not None
    challenger = client.get_model_version_by_alias(MODEL, "challenger")
    champion = client.get_model_version_by_alias(MODEL, "champion")
    assert challenger.version == "1" and champion.version == "1"  # the first one is promoted

    # A second run with a changed train param: a new version, the challenger alias moves to it.
    second_log = servers["state"] / "worker-2.log"
    second = _trigger(servers["PREFECT_API_URL"], {"overrides": ["train.steps=24"]})
    state = _run_worker_until_done(servers, second, second_log, timeout=600)
    assert state == "COMPLETED", second_log.read_text(encoding="utf-8")[-8000:]
    versions = client.search_model_versions(f"name = '{MODEL}'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    assert client.get_model_version_by_alias(MODEL, "challenger").version == "2"

    # The pipeline's MLflow runs carry the headline figures and say what ran and what changed.
    pipeline_runs = client.search_runs(
        [experiment.experiment_id],
        filter_string="tags.`warc2gpt.stage` = 'pipeline'",
        order_by=["attributes.start_time ASC"],
    )
    assert len(pipeline_runs) == 2
    first_run, second_run = pipeline_runs
    assert first_run.data.tags["stages_ran"].split(",") == STAGES
    assert second_run.data.tags["stages_ran"].split(",") == ["train", "evaluate", "register"]
    assert second_run.info.run_name.endswith("train.steps=24")
    metrics = first_run.data.metrics
    assert metrics["val_bpb"] > 0 and metrics["documents_kept"] > 0, sorted(metrics)
