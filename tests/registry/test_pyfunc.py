"""The registered pyfunc model: loaded by alias, through `warc2gpt generate`, and served."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import torch
from fastapi.testclient import TestClient
from mlflow.pyfunc import scoring_server

from warc2gpt.cli import main as cli_main
from warc2gpt.model.generate import generate_text
from warc2gpt.model.store import download_model, load_model, load_model_and_tokenizer
from warc2gpt.registry.pyfunc import pip_requirements

pytestmark = [pytest.mark.shared_data, pytest.mark.integration]

PROMPT = "ROMEO: But soft"
GREEDY = {"max_new_tokens": 12, "temperature": 0.0}


@pytest.fixture(scope="session")
def expected(trained_dirs) -> str:
    """The greedy continuation straight from the files, no MLflow in between."""
    model, tokenizer = load_model_and_tokenizer(*trained_dirs)
    return generate_text(model, tokenizer, PROMPT, **GREEDY)


def test_pip_requirements_are_pinned() -> None:
    pins = dict(p.split("==") for p in pip_requirements())
    assert {"mlflow", "torch", "tiktoken", "numpy"} <= set(pins)
    assert "+" not in pins["torch"]  # a local build tag would not install from an index


def test_champion_loads_and_generates(
    project, register_with_bpb, tracking_uri, model_name, expected, monkeypatch, capsys
) -> None:
    register_with_bpb(project(), 1.5)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/{model_name}@champion")
    out = model.predict(pd.DataFrame({"prompt": [PROMPT, PROMPT]}), params=GREEDY)
    assert list(out) == [expected, expected]
    capsys.readouterr()  # MLflow's own "View run" lines

    argv = ["generate", "--params", os.devnull, "--set", f"tracking.tracking_uri={tracking_uri}"]
    argv += ["--model", f"models:/{model_name}@champion", "--prompt", PROMPT, "--no-stream"]
    argv += ["--max-tokens", "12", "--temperature", "0"]
    assert cli_main(argv) == 0
    assert capsys.readouterr().out == PROMPT + expected + "\n"


def test_served_requests_are_answered(
    project, register_with_bpb, tracking_uri, model_name, expected, monkeypatch
) -> None:
    from mlflow.models.utils import load_serving_example

    register_with_bpb(project(), 1.5)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    uri = f"models:/{model_name}@champion"
    # What `mlflow models serve` runs, in this process: the scoring app over the loaded model.
    server = TestClient(scoring_server.init(mlflow.pyfunc.load_model(uri)))
    example = load_serving_example(uri)
    assert json.loads(example)["inputs"] == [{"prompt": "The"}]
    records = {"dataframe_records": [{"prompt": PROMPT}], "params": GREEDY}
    split = {"dataframe_split": {"columns": ["prompt"], "data": [[PROMPT]]}, "params": GREEDY}
    answers = [
        server.post(
            "/invocations", content=body, headers={"Content-Type": "application/json"}
        ).json()
        for body in (example, json.dumps(records), json.dumps(split))
    ]
    [text] = answers[0]["predictions"]
    assert isinstance(text, str) and text
    assert answers[1:] == [{"predictions": [expected]}] * 2


def test_load_model_takes_a_registry_uri(
    project, register_with_bpb, tracking_uri, model_name, trained_dirs
) -> None:
    register_with_bpb(project(), 1.5)
    uri = f"models:/{model_name}@champion"
    logged = download_model(uri, tracking_uri)
    # Logged from code: MLflow rebuilds it by running served_model.py, nothing is unpickled.
    assert "served_model.py" in (logged / "MLmodel").read_text()
    assert not list(logged.glob("*.pkl"))
    registered = load_model(uri, tracking_uri=tracking_uri)
    exported = load_model(trained_dirs[0])
    assert registered.config == exported.config
    state = exported.state_dict()
    assert all(torch.equal(v, state[k]) for k, v in registered.state_dict().items())


# A warning as Python prints it from a file of MLflow's, and a WARNING line of MLflow's loggers.
MLFLOW_WARNING = re.compile(r"^\S*mlflow\S*:\d+: (\w+Warning): .*$|^.*WARNING mlflow.*$", re.M)


def mlflow_warnings(stderr: str) -> list[str]:
    """The MLflow warnings a command printed.

    SQLAlchemy's deprecation notice about MLflow's store internals is left out: Python's
    default filters hide it from users, and it is MLflow's to fix, not this project's.
    """
    return [
        m.group(0) for m in MLFLOW_WARNING.finditer(stderr) if m.group(1) != "SADeprecationWarning"
    ]


def test_register_serve_and_generate_print_no_mlflow_warnings(
    make_project, embedded_store, model_name
) -> None:
    """Each in a fresh process, as a user runs them, with every warning shown once."""
    params = make_project(embedded_store, model_name)()
    Path("metrics/eval.json").write_text(json.dumps({"val_bpb": 1.5, "val_loss": 3.0}))
    sets = {
        "tracking.tracking_uri": embedded_store,
        "tracking.experiment": params.tracking.experiment,
        "register.model_name": model_name,
        "register.model_dir": params.register.model_dir,
        "register.tokenizer_dir": params.register.tokenizer_dir,
    }
    common = ["--params", os.devnull] + [f"--set={k}={v}" for k, v in sets.items()]
    uri = f"models:/{model_name}@champion"
    cli = "from warc2gpt.cli import main; raise SystemExit(main())"
    serve = (
        "import sys, mlflow, pandas as pd; mlflow.set_tracking_uri(sys.argv[2]); "
        "print(mlflow.pyfunc.load_model(sys.argv[1]).predict("
        "pd.DataFrame({'prompt': ['The']}), params={'max_new_tokens': 3}))"
    )
    commands = [
        [cli, "register", *common],
        [serve, uri, embedded_store],
        [cli, "generate", *common, "--model", uri, "--prompt", PROMPT, "--max-tokens", "4"],
    ]
    env = {**os.environ, "MLFLOW_TRACKING_URI": embedded_store}
    for code, *args in commands:
        done = subprocess.run(
            [sys.executable, "-W", "default", "-c", code, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert mlflow_warnings(done.stderr) == [], args[0]


def test_the_warning_check_sees_mlflow_warnings() -> None:
    stderr = (
        "/x/site-packages/mlflow/pyfunc/utils/data_validation.py:187: UserWarning: Add type "
        "hints to the `predict` method\n  color_warning(\n"
        "2026/01/01 10:00:00 WARNING mlflow.utils.requirements_utils: Detected one or more "
        "mismatches\n"
        "/x/site-packages/mlflow/store/tracking/sqlalchemy_store.py:327: SADeprecationWarning: "
        "The noload loader strategy is deprecated\n"
    )
    assert len(mlflow_warnings(stderr)) == 2


@pytest.mark.slow
def test_mlflow_models_serve_answers_invocations(
    make_project, register_with_bpb, mlflow_server, expected, launch, mlflow_executable
) -> None:
    register_with_bpb(make_project(mlflow_server, "warc2gpt")(), 1.5)
    url = launch(
        [mlflow_executable, "models", "serve", "-m", "models:/warc2gpt@champion"]
        + ["--env-manager", "local", "-h", "127.0.0.1", "-p", "{port}"],
        "/ping",
        {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server},
    )
    body = {"dataframe_records": [{"prompt": PROMPT}], "params": GREEDY}
    request = urllib.request.Request(
        f"{url}/invocations",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.load(response)
    assert answer == {"predictions": [expected]}
