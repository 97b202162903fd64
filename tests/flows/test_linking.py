"""A stage flow started in another process appears under the pipeline run in the Prefect API,
as DVC starts them: the parent flow run's id in the environment, the flow in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.context import get_run_context
from prefect.testing.utilities import prefect_test_harness

from flows.linking import PARENT_FLOW_RUN_ENV

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
STAGE_SCRIPT = textwrap.dedent(
    """
    import json
    from prefect import flow
    from prefect.context import get_run_context
    from flows.linking import run_linked

    @flow(name="stage-under-test")
    def stage(size: int, label: str = "default") -> dict:
        run = get_run_context().flow_run
        return {"flow_run_id": str(run.id), "size": size, "label": label}

    print("RESULT " + json.dumps(run_linked(stage, {"size": 3})))
    """
)


@pytest.fixture(scope="module")
def api_url() -> Iterator[str]:
    with prefect_test_harness(server_startup_timeout=120):
        with get_client(sync_client=True) as client:
            yield str(client.api_url).rstrip("/")


def run_stage(tmp_path: Path, api_url: str, parent: str | None) -> dict:
    """The stage script in a fresh process, as a DVC stage command runs; returns its result."""
    import json

    script = tmp_path / "stage_script.py"
    script.write_text(STAGE_SCRIPT, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != PARENT_FLOW_RUN_ENV}
    env.update(PREFECT_API_URL=api_url, PYTHONPATH=str(ROOT))
    if parent is not None:
        env[PARENT_FLOW_RUN_ENV] = parent
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT ")) | {"log": done.stdout + done.stderr}


def test_stage_in_another_process_is_a_subflow_of_the_pipeline_run(api_url, tmp_path):
    @flow(name="pipeline-under-test")
    def pipeline() -> tuple[str, list[dict]]:
        parent = str(get_run_context().flow_run.id)
        return parent, [run_stage(tmp_path, api_url, parent) for _ in range(2)]

    parent_id, stages = pipeline()

    with get_client(sync_client=True) as client:
        for stage in stages:
            assert stage["size"] == 3 and stage["label"] == "default"  # the flow ran, defaults too
            child = client.read_flow_run(uuid.UUID(stage["flow_run_id"]))
            assert child.parent_task_run_id is not None
            placeholder = client.read_task_run(child.parent_task_run_id)
            assert str(placeholder.flow_run_id) == parent_id
            assert placeholder.name == "stage-under-test"
            assert child.state.is_completed() and placeholder.state.is_completed()
            assert str(placeholder.state.state_details.child_flow_run_id) == str(child.id)
            assert child.parameters == {"size": 3, "label": "default"}
    # two runs of the same stage under one parent are two child runs, not one
    assert len({stage["flow_run_id"] for stage in stages}) == 2


def test_without_a_parent_the_stage_is_a_top_level_flow_run(api_url, tmp_path):
    stage = run_stage(tmp_path, api_url, parent=None)

    with get_client(sync_client=True) as client:
        assert client.read_flow_run(uuid.UUID(stage["flow_run_id"])).parent_task_run_id is None


def test_a_parent_unknown_to_the_api_runs_the_stage_unlinked(api_url, tmp_path):
    stage = run_stage(tmp_path, api_url, parent=str(uuid.uuid4()))

    assert "running stage-under-test unlinked" in stage["log"]
    with get_client(sync_client=True) as client:
        child = client.read_flow_run(uuid.UUID(stage["flow_run_id"]))
        assert child.parent_task_run_id is None and child.state.is_completed()
