"""The data stages on a Ray cluster of 2 CPUs on this machine give the local runner's output:
the command through ClusterMapper, the Prefect flow through prefect-ray's RayTaskRunner."""

from __future__ import annotations

import ctypes
import io
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

# the work functions every mapper runs in the tests (tests/ is on sys.path under pytest)
from test_mapper import dies_on_three, fails_on_three, square_and_count

from warc2gpt.cli import main
from warc2gpt.mapper import ClusterMapper, WorkerLost
from warc2gpt.progress import Progress

pytestmark = [pytest.mark.slow, pytest.mark.integration]

HERE = Path(__file__).resolve().parent
WORK_PATH = [str(HERE), str(HERE.parent)]  # where this module and test_mapper are
FIGURES = ("files", "pages", "kept", "removed", "records", "pii_replacements", "read_problems")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stop_with_pytest() -> None:
    """In the head's process: SIGTERM when pytest dies, even killed (Linux's PDEATHSIG)."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


@pytest.fixture(scope="module")
def ray_address(tmp_path_factory) -> Iterator[str]:
    """A Ray head as README starts one (`ray start --head`): 2 CPUs, no dashboard, usage stats
    off, token authentication with a token of its own; its address. Stopped at the end."""
    log_path = tmp_path_factory.mktemp("ray") / "ray-start.log"
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # Ray's socket paths must stay short
    port = _free_port()
    with pytest.MonkeyPatch.context() as env, log_path.open("w") as log:
        env.setenv("RAY_USAGE_STATS_ENABLED", "0")
        env.setenv("RAY_AUTH_MODE", "token")
        env.setenv("RAY_AUTH_TOKEN", secrets.token_hex(16))
        # The workers import the tests' work functions as they import warc2gpt's, and a
        # Prefect home of their own keeps any stray temporary server off the project's.
        path = os.pathsep.join(filter(None, [*WORK_PATH, os.environ.get("PYTHONPATH")]))
        workers = {"PYTHONPATH": path, "PREFECT_HOME": str(log_path.parent / "prefect")}
        head = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "ray"), "start", "--head", "--block",
                "--port", str(port), "--num-cpus", "2", "--include-dashboard", "false",
                "--disable-usage-stats", "--temp-dir", temp_dir,
                "--ray-client-server-port", str(_free_port()),
                "--dashboard-agent-listen-port", str(_free_port()),
            ],
            env=os.environ | workers,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_stop_with_pytest,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 180
            while "Ray runtime started" not in log_path.read_text():
                assert head.poll() is None, f"ray start failed:\n{log_path.read_text()}"
                assert time.monotonic() < deadline, f"ray start hung:\n{log_path.read_text()}"
                time.sleep(0.5)
            yield f"127.0.0.1:{port}"
        finally:
            head.send_signal(signal.SIGTERM)  # --block: stops every process it started
            try:
                head.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(head.pid, signal.SIGKILL)  # its own session: only what it started
            shutil.rmtree(temp_dir, ignore_errors=True)


def test_calls_on_ray_come_back_in_order_with_their_progress(ray_address) -> None:
    progress = Progress("test", total=55, unit="B", enabled=True, stream=io.StringIO())
    calls = [(x,) for x in range(1, 11)]
    results = ClusterMapper("ray", 2, ray_address).map(square_and_count, calls, progress)
    progress.close()
    assert [r[0] for r in results] == [x * x for x in range(1, 11)]
    assert progress.count == 55 and progress.postfix["docs"] == 10  # advance() on the workers
    assert os.getpid() not in {r[1] for r in results}
    with pytest.raises(ValueError, match="three"):
        ClusterMapper("ray", 2, ray_address).map(fails_on_three, [(x,) for x in range(6)])


def test_a_dead_ray_worker_is_retried_once_then_its_call_is_reported(ray_address, tmp_path) -> None:
    mapper = ClusterMapper("ray", 2, ray_address)
    marker = str(tmp_path / "died-once")
    assert mapper.map(dies_on_three, [(x, marker) for x in range(6)]) == [0, 10, 20, 30, 40, 50]
    assert os.path.exists(marker)

    calls = [(x, "") for x in range(6)]
    lost = []
    results = mapper.map(
        dies_on_three, calls, on_lost=lambda call, why: lost.append((call, why)) or "lost"
    )
    assert results == [0, 10, 20, "lost", 40, 50]
    assert lost == [
        ((3, ""), "its Ray worker died twice (WorkerCrashedError: out of memory, or killed)")
    ]
    with pytest.raises(WorkerLost, match=r"dies_on_three\(3, ''\): its Ray worker died twice"):
        mapper.map(dies_on_three, calls)


def test_a_call_lost_on_ray_in_a_flow_is_reported_as_the_command_reports_it(ray_address):
    from prefect import flow
    from prefect.testing.utilities import prefect_test_harness
    from prefect_ray import RayTaskRunner

    from flows.stage import PrefectMapper, api_shared_with_workers

    @flow(task_runner=RayTaskRunner(address=ray_address))
    def lose_a_call() -> tuple[list, list]:
        lost: list = []
        with api_shared_with_workers():
            results = PrefectMapper("test", 2).map(
                dies_on_three,
                [(x, "") for x in range(6)],
                on_lost=lambda call, why: lost.append((call, why)) or "lost",
            )
        return results, lost

    with prefect_test_harness(server_startup_timeout=120):
        results, lost = lose_a_call()
    assert results == [0, 10, 20, "lost", 40, 50]
    assert lost == [
        ((3, ""), "its Ray worker died twice (WorkerCrashedError: out of memory, or killed)")
    ]


def cluster_cpus(x: int) -> float:
    import ray

    return ray.cluster_resources()["CPU"]


def test_an_empty_address_starts_a_ray_instance_of_its_own(ray_address, monkeypatch) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(WORK_PATH))  # for its workers
    monkeypatch.setenv("RAY_ADDRESS", ray_address)  # Ray's own default: not taken
    assert ClusterMapper("ray", 1).map(cluster_cpus, [(0,), (1,)]) == [1.0, 1.0]


def _curate_params(out: Path, sample_dir: Path, runner: str, address: str = "") -> Path:
    """Curate the sample into `out` on 2 workers, without extraction timeouts (a loaded
    machine must not change the output)."""
    curate = {"input": [f"{sample_dir}/*.warc.gz"], "output": str(out / "curated")}
    curate |= {"metrics": str(out / "curate.json"), "extraction_timeout": 60}
    curate |= {"workers": 2, "runner": runner, "cluster_address": address}
    params = out / "params.yaml"
    params.write_text(yaml.safe_dump({"curate": curate, "tracking": {"enabled": False}}))
    return params


def _kept_ids(shards: dict[str, list[dict]]) -> list[str]:
    return [row["id"] for path, rows in shards.items() if "/" not in path for row in rows]


def _assert_same_outputs(out: Path, local: Path, read_shards) -> dict:
    """The run into `out` wrote what the local run wrote; returns its figures."""
    shards, local_shards = read_shards(out / "curated"), read_shards(local / "curated")
    assert len(local_shards) == 6  # kept and removed shards of the three sample files
    assert _kept_ids(shards) == _kept_ids(local_shards) != []
    assert shards == local_shards
    figures = json.loads((out / "curated" / "stats.json").read_text())
    local_figures = json.loads((local / "curated" / "stats.json").read_text())
    for key in FIGURES:
        assert figures[key] == local_figures[key], key
    assert figures["files_failed"] == [] and figures["workers"] == 2
    assert json.loads((out / "curate.json").read_text()) == json.loads(
        (local / "curate.json").read_text()
    )
    return figures


@pytest.fixture(scope="module")
def local_run(sample_dir, tmp_path_factory) -> Path:
    """The command's run on 2 local threads: what every Ray run must write."""
    out = tmp_path_factory.mktemp("local")
    assert main(["curate", "--params", str(_curate_params(out, sample_dir, "threads"))]) == 0
    return out


def test_curate_command_on_ray_matches_the_local_runner(
    ray_address, local_run, sample_dir, tmp_path, read_shards, capsys
) -> None:
    params = _curate_params(tmp_path, sample_dir, "ray", ray_address)
    assert main(["curate", "--params", str(params)]) == 0
    figures = _assert_same_outputs(tmp_path, local_run, read_shards)
    # the closing progress line counts every byte and page the Ray workers read
    closing = [line for line in capsys.readouterr().out.splitlines() if line.startswith("curate:")]
    assert "(100%)" in closing[-1] and f"docs {figures['pages']}" in closing[-1], closing


def test_curate_flow_on_ray_task_runner_matches_the_local_runner(
    ray_address, local_run, sample_dir, tmp_path, read_shards
) -> None:
    """`python -m flows.curate`, as `dvc repro curate` runs it, with no Prefect server named:
    the Ray workers report to the flow's temporary server instead of starting their own."""
    params = _curate_params(tmp_path, sample_dir, "ray", ray_address)
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "RAY_DEDUP_LOGS": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "flows.curate", "--params", str(params)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    _assert_same_outputs(tmp_path, local_run, read_shards)
    assert log.count("Starting temporary server") == 1, log
    with sqlite3.connect(tmp_path / "prefect" / "prefect.db") as db:
        tasks = sorted(db.execute("select name, state_type from task_run"))
    files = sorted(p.name for p in sample_dir.glob("*.warc.gz"))
    assert tasks == [(f"curate_file {name}", "COMPLETED") for name in files]
