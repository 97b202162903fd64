"""A throwaway copy of the project for tests that run DVC stages, servers or kills on it.

The copy holds the files git would see (tracked, plus untracked ones that are not ignored), as
its own git repository with one commit, the tiny params profile merged into params.yaml, and a
DVC remote of its own. The project's own data/, artifacts/ and remote are never touched.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from warc2gpt.config import deep_merge

ROOT = Path(__file__).resolve().parents[2]
TINY_PARAMS = Path(__file__).with_name("tiny_params.yaml")
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "warc2gpt-tests",
    "GIT_AUTHOR_EMAIL": "tests@localhost",
    "GIT_COMMITTER_NAME": "warc2gpt-tests",
    "GIT_COMMITTER_EMAIL": "tests@localhost",
}


def project_files(root: Path = ROOT) -> list[str]:
    """Paths git would commit from `root`: tracked and untracked-but-not-ignored files."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        check=True,
        capture_output=True,
    ).stdout
    return [p for p in out.decode().split("\0") if p and (root / p).is_file()]


def sandbox_env(repo: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for commands in the copy: its own code first, offline, no outside servers."""
    env = dict(os.environ)
    for key in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI", "WARC2GPT_PARENT_RUN_ID"):
        env.pop(key, None)
    env.update(GIT_IDENTITY)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    # The copy's own sources win over the editable install of the project.
    env["PYTHONPATH"] = os.pathsep.join([str(repo / "src"), str(repo)])
    env["PREFECT_HOME"] = str(repo / ".prefect")
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("DO_NOT_TRACK", "true")
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    env.setdefault("DVC_NO_ANALYTICS", "1")
    env.update(extra or {})
    return env


def make_sandbox(dest: Path, params: Mapping[str, Any] | None = None, tiny: bool = True) -> Path:
    """Copy the project into `dest` (a git repository with one commit) and return it."""
    dest.mkdir(parents=True, exist_ok=True)
    for rel in project_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)
    values = yaml.safe_load((dest / "params.yaml").read_text(encoding="utf-8"))
    if tiny:
        deep_merge(values, yaml.safe_load(TINY_PARAMS.read_text(encoding="utf-8")))
    deep_merge(values, params or {})
    (dest / "params.yaml").write_text(yaml.safe_dump(values, sort_keys=False), encoding="utf-8")
    env = sandbox_env(dest)
    run(["git", "init", "-q", "-b", "main"], dest, env)
    run(
        ["dvc", "remote", "add", "-f", "-d", "local", str(dest.parent / f"{dest.name}-remote")],
        dest,
        env,
    )
    run(["git", "add", "-A"], dest, env)
    run(["git", "commit", "-q", "-m", "sandbox"], dest, env)
    return dest


def run(
    cmd: list[str],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
    check: bool = True,
) -> subprocess.CompletedProcess:
    """Run a command in the copy, capturing its output (shown in full when it fails)."""
    result = subprocess.run(
        cmd,
        cwd=cwd,
        env=dict(env or sandbox_env(cwd)),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {result.returncode} in {cwd}\n"
            f"--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}"
        )
    return result


def start(
    cmd: list[str], cwd: Path, log: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen:
    """Start a command in its own process group, output to `log`."""
    handle = log.open("w", encoding="utf-8")
    return subprocess.Popen(
        cmd,
        cwd=cwd,
        env=dict(env or sandbox_env(cwd)),
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def kill_group(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """Signal a process started by `start` and everything it spawned; SIGKILL after 30 s."""
    try:
        os.killpg(process.pid, sig)
        process.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    try:  # stragglers of the group (a stage's own subprocesses) go too
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    # Until the orphans are reaped their pids still exist, and DVC reads a pid that exists in
    # its lock file as a live run holding the lock.
    wait_for(lambda: not group_members(process.pid), timeout=60, what=f"group {process.pid} gone")


def group_members(pgid: int) -> list[int]:
    """Processes (zombies included) in process group `pgid`."""
    listing = subprocess.run(["ps", "-A", "-o", "pid=,pgid="], capture_output=True, text=True)
    rows = (line.split() for line in listing.stdout.splitlines())
    return [int(pid) for pid, group in rows if int(group) == pgid]


def wait_for(predicate, timeout: float, interval: float = 0.2, what: str = "condition") -> None:
    """Poll `predicate` until it is true; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def prefect_server(state: Path) -> Iterator[str]:
    """One Prefect server on a free loopback port for several pipeline runs; yields its API URL.

    Without it every `python -m flows.pipeline` starts (and waits for) a temporary server.
    """
    port = free_port()
    state.mkdir(parents=True, exist_ok=True)
    env = sandbox_env(state, {"PREFECT_HOME": str(state / "prefect")})
    server = start(
        ["prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        state,
        state / "prefect-server.log",
        env,
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        wait_healthy(server, f"{url}/health", state / "prefect-server.log", "the Prefect server")
        yield url
    finally:
        kill_group(server, signal.SIGTERM)


def wait_healthy(server: subprocess.Popen, url: str, log: Path, what: str) -> None:
    """Wait until `url` answers; fail with the end of `log` if the server exits first."""

    def healthy() -> bool:
        if server.poll() is not None:
            raise AssertionError(log.read_text()[-3000:])
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except OSError:
            return False

    wait_for(healthy, timeout=240, interval=0.5, what=what)
