"""Registries to test against: a real `mlflow server` on 127.0.0.1 and the embedded SQLite store.

Both live for the test session (their first start runs the schema migrations, seconds each);
tests keep apart by using their own registered model names.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from mlflow import MlflowClient

from warc2gpt.config import Params, load_params
from warc2gpt.model.gpt import GPT, GPTConfig
from warc2gpt.registry.stage import run as run_register
from warc2gpt.tokenizer.bpe import train_bpe
from warc2gpt.train.checkpoint import save_model

EXPERIMENT = "warc2gpt-tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"{url}: process exited with {proc.returncode}:\n"
                f"{log.read_text(errors='replace')[-3000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(
        f"{url} did not answer in {timeout}s:\n{log.read_text(errors='replace')[-3000:]}"
    )


def stop(proc: subprocess.Popen) -> None:
    """End a server started with its own process group (the server forks workers)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def start_server(
    args: list[str], health_url: str, log: Path, env: dict[str, str], timeout: float = 120
) -> subprocess.Popen:
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            args, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        wait_for_http(health_url, proc, timeout, log)
    except BaseException:
        stop(proc)
        raise
    return proc


def mlflow_cli() -> str:
    return str(Path(sys.executable).with_name("mlflow"))


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory):
    """`mlflow server` with a SQLite backend and proxied artifacts; yields its URI."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = start_server(
        [
            mlflow_cli(),
            "server",
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination",
            str(root / "artifacts"),
            "--serve-artifacts",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        f"http://127.0.0.1:{port}/health",
        root / "server.log",
        env,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def embedded_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The embedded default: a SQLite file, artifacts in a local folder."""
    root = tmp_path_factory.mktemp("mlflow-embedded")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    MlflowClient(tracking_uri=uri).create_experiment(
        EXPERIMENT, artifact_location=(root / "artifacts").as_uri()
    )
    return uri


@pytest.fixture(scope="session", params=["server", "embedded"])
def tracking_uri(request: pytest.FixtureRequest) -> str:
    """Each registry test runs against both stores."""
    name = "mlflow_server" if request.param == "server" else "embedded_store"
    return request.getfixturevalue(name)


@pytest.fixture
def client(tracking_uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


@pytest.fixture(scope="session")
def experiment() -> str:
    return EXPERIMENT


@pytest.fixture
def model_name() -> str:
    return f"warc2gpt-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def trained_dirs(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> tuple[Path, Path]:
    """(model_dir, tokenizer_dir): a real tokenizer on Tiny Shakespeare and a tiny GPT."""
    root = tmp_path_factory.mktemp("artifacts")
    text = (shared_data / "text" / "tinyshakespeare.txt").read_text(encoding="utf-8")
    tokenizer = train_bpe([text[:300_000]], vocab_size=512)
    tokenizer.save(root / "tokenizer")
    torch.manual_seed(0)
    config = GPTConfig(
        vocab_size=tokenizer.vocab_size,
        sequence_len=128,
        n_layer=2,
        n_head=2,
        n_kv_head=2,
        n_embd=64,
    )
    model = GPT(config)
    with torch.no_grad():  # an untrained model that still says something varied
        for p in model.parameters():
            p.normal_(0.0, 0.3 if p.dim() > 1 else 1.0)
    save_model(model, root / "model")
    return root / "model", root / "tokenizer"


@pytest.fixture
def make_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trained_dirs, experiment: str):
    """A working directory as the pipeline leaves it before `register` (cwd for the test).

    make_project(tracking_uri, model_name) returns params(*overrides) -> Params for it.
    """
    monkeypatch.chdir(tmp_path)
    Path("metrics").mkdir()
    Path("metrics/curate.json").write_text(json.dumps({"pages": 20, "kept": 12}))
    model_dir, tokenizer_dir = trained_dirs

    def make(tracking_uri: str, model_name: str) -> Callable[..., Params]:
        def params(*extra: str) -> Params:
            return load_params(
                tmp_path / "params.yaml",
                [
                    f"tracking.tracking_uri={tracking_uri}",
                    f"tracking.experiment={experiment}",
                    f"register.model_name={model_name}",
                    f"register.model_dir={model_dir}",
                    f"register.tokenizer_dir={tokenizer_dir}",
                    *extra,
                ],
            )

        return params

    return make


@pytest.fixture
def project(make_project, tracking_uri: str, model_name: str) -> Callable[..., Params]:
    return make_project(tracking_uri, model_name)


@pytest.fixture
def register_with_bpb() -> Callable[[Params, float], dict]:
    """Run the register stage as if evaluate had measured `bpb`."""

    def register(params: Params, bpb: float) -> dict:
        Path("metrics/eval.json").write_text(json.dumps({"val_bpb": bpb, "val_loss": bpb * 2}))
        return run_register(params)

    return register


@pytest.fixture
def launch(tmp_path: Path):
    """launch(args, health_path, env) starts a server on a free port; stopped after the test.

    `args` may hold "{port}"; returns the base URL once `health_path` answers.
    """
    procs: list[subprocess.Popen] = []

    def start(args: list[str], health_path: str, env: dict[str, str], timeout: float = 180) -> str:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        args = [a.replace("{port}", str(port)) for a in args]
        log = tmp_path / f"server-{port}.log"
        procs.append(start_server(args, url + health_path, log, env, timeout))
        return url

    yield start
    for proc in procs:
        stop(proc)


@pytest.fixture(scope="session")
def mlflow_executable() -> str:
    return mlflow_cli()
