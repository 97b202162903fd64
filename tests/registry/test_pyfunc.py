"""The registered pyfunc model: loaded by alias, through `warc2gpt generate`, and served."""

from __future__ import annotations

import json
import os
import urllib.request

import mlflow
import pandas as pd
import pytest

from warc2gpt.cli import main as cli_main
from warc2gpt.evaluate.generate import generate_text
from warc2gpt.registry.pyfunc import load_artifacts, pip_requirements

pytestmark = [pytest.mark.shared_data, pytest.mark.integration]

PROMPT = "ROMEO: But soft"
GREEDY = {"max_new_tokens": 12, "temperature": 0.0}


@pytest.fixture(scope="session")
def expected(trained_dirs) -> str:
    """The greedy continuation straight from the files, no MLflow in between."""
    model, tokenizer = load_artifacts(*trained_dirs)
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

    argv = ["generate", "--params", "absent.yaml", "--set", f"tracking.tracking_uri={tracking_uri}"]
    argv += ["--model", f"models:/{model_name}@champion", "--prompt", PROMPT, "--no-stream"]
    argv += ["--max-tokens", "12", "--temperature", "0"]
    assert cli_main(argv) == 0
    assert capsys.readouterr().out == PROMPT + expected + "\n"


def test_saved_serving_example_is_a_valid_request(
    project, register_with_bpb, tracking_uri, model_name, monkeypatch
) -> None:
    from mlflow.models import validate_serving_input
    from mlflow.models.utils import load_serving_example

    register_with_bpb(project(), 1.5)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    uri = f"models:/{model_name}@champion"
    example = load_serving_example(uri)
    assert json.loads(example)["dataframe_split"]["data"] == [["The"]]
    # What `mlflow models serve` would answer to it: one continuation of the prompt.
    [text] = validate_serving_input(uri, example)
    assert isinstance(text, str) and text


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
