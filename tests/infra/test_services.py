"""infra/services.sh: usage, status, and a server that cannot start is reported, not waited on."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from project_sandbox import ROOT, run, sandbox_env

SCRIPT = ROOT / "infra" / "services.sh"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def services(command: str, state: Path, **extra: str):
    env = sandbox_env(ROOT, {"WARC2GPT_STATE": str(state), **extra})
    return run(["bash", str(SCRIPT), command], ROOT, env, timeout=300, check=False)


def test_unknown_command_prints_usage(tmp_path):
    result = services("restart", tmp_path)
    assert result.returncode == 2
    assert "usage:" in result.stderr and "start|stop|status" in result.stderr


def test_status_and_stop_without_servers(tmp_path):
    status = services("status", tmp_path)
    assert status.returncode == 0
    assert status.stdout.splitlines() == ["prefect: stopped", "mlflow: stopped"]
    stop = services("stop", tmp_path)
    assert stop.returncode == 0 and stop.stdout == ""


@pytest.mark.slow
@pytest.mark.integration
def test_a_server_that_dies_at_start_fails_start_with_its_log(tmp_path):
    ports = {"PREFECT_PORT": str(free_port()), "MLFLOW_PORT": str(free_port())}
    try:
        result = services("start", tmp_path, MLFLOW_BACKEND_STORE_URI="nosuchdb://nowhere", **ports)
        assert result.returncode != 0
        assert "mlflow exited while starting" in result.stderr
        assert "nosuchdb" in result.stderr  # the end of its log says why
    finally:
        pids = [int(p.read_text()) for p in tmp_path.glob("*.pid")]
        assert services("stop", tmp_path, **ports).returncode == 0
    for pid in pids:  # every server process is gone (a zombie awaiting its reaper counts as gone)
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().split(") ")[1].startswith("Z"), pid
    assert not list(tmp_path.glob("*.pid"))
    assert os.path.exists(tmp_path / "prefect.log")
