"""infra/services.sh: usage, status, and a server that cannot start is reported, not waited on."""

from __future__ import annotations

import base64
import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from project_sandbox import ROOT, free_port, run, sandbox_env

SCRIPT = ROOT / "infra" / "services.sh"


def services(command: str, state: Path, **extra: str):
    env = sandbox_env(ROOT, {"WARC2GPT_STATE": str(state), **extra})
    if "PREFECT_HOME" not in extra:  # the script's own default, as a user's shell has it
        env.pop("PREFECT_HOME")
    return run(["bash", str(SCRIPT), command], ROOT, env, timeout=300, check=False)


def test_unknown_command_prints_usage(tmp_path):
    result = services("restart", tmp_path)
    assert result.returncode == 2
    assert "usage:" in result.stderr and "start|stop|status" in result.stderr


def test_status_and_stop_without_servers(tmp_path):
    status = services("status", tmp_path)
    assert status.returncode == 0
    # Prefect's history is the checkout's .prefect/, the one `make run` and `prefect server
    # start` use, not a folder of the script's own.
    assert status.stdout.splitlines() == [
        "prefect: stopped",
        "mlflow: stopped",
        f"prefect history: {ROOT / '.prefect'}",
    ]
    stop = services("stop", tmp_path)
    assert stop.returncode == 0 and stop.stdout == ""


def test_a_prefect_home_set_by_the_user_is_kept(tmp_path):
    status = services("status", tmp_path, PREFECT_HOME=str(tmp_path / "elsewhere"))
    assert status.stdout.splitlines()[-1] == f"prefect history: {tmp_path / 'elsewhere'}"


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


def http_status(url: str, method: str = "GET", auth: str | None = None) -> int:
    """The HTTP status `url` answers, optionally with a Basic authorization of `auth`."""
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    data = b"{}" if method == "POST" else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.slow
@pytest.mark.integration
def test_credentials_turn_authentication_on_and_stay_unprinted(tmp_path):
    secrets = {
        "MLFLOW_AUTH_ADMIN_PASSWORD": "admin-pass-5678",
        "PREFECT_SERVER_API_AUTH_STRING": "ops:prefect-pass-5678",
    }
    ports = {"PREFECT_PORT": str(free_port()), "MLFLOW_PORT": str(free_port())}
    home = {"PREFECT_HOME": str(tmp_path / "prefect-home")}
    try:
        started = services("start", tmp_path, **secrets, **ports, **home)
        assert started.returncode == 0, started.stderr
        for secret in secrets.values():
            assert secret not in started.stdout + started.stderr
            for path in tmp_path.glob("*.*"):  # logs, the auth ini, pid files
                if path.is_file():
                    assert secret not in path.read_text(errors="replace"), path
        assert "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD" in started.stdout
        assert "set PREFECT_API_AUTH_STRING" in started.stdout
        assert (tmp_path / "mlflow-secret-key").stat().st_mode & 0o077 == 0
        # Each server holds only its own secret.
        foreign = {
            "prefect": {"MLFLOW_AUTH_ADMIN_PASSWORD"},
            "mlflow": {"PREFECT_SERVER_API_AUTH_STRING", "PREFECT_API_AUTH_STRING"},
        }
        for server, names in foreign.items():
            pid = (tmp_path / f"{server}.pid").read_text().strip()
            environ = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
            assert not names & {entry.partition("=")[0] for entry in environ}, server

        mlflow = f"http://127.0.0.1:{ports['MLFLOW_PORT']}/api/2.0/mlflow/experiments/search"
        assert http_status(mlflow + "?max_results=1") == 401
        assert http_status(mlflow + "?max_results=1", auth="admin:wrong") == 401
        assert http_status(mlflow + "?max_results=1", auth="admin:admin-pass-5678") == 200
        prefect = f"http://127.0.0.1:{ports['PREFECT_PORT']}/api/flows/filter"
        assert http_status(prefect, "POST") == 401
        assert http_status(prefect, "POST", auth="ops:wrong") == 401
        assert http_status(prefect, "POST", auth=secrets["PREFECT_SERVER_API_AUTH_STRING"]) == 200
        assert (tmp_path / "prefect-home" / "prefect.db").exists()
    finally:
        assert services("stop", tmp_path, **ports, **home).returncode == 0
