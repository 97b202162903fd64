"""The GPT as an MLflow pyfunc model: prompts in, generated text out.

The logged model carries the exported model (`artifacts/model`, with the training summary
and optimizer state when the export has them, so a run can continue from the registered
model), its tokenizer (`artifacts/tokenizer`), this package's code and pinned pip
requirements, so `mlflow models serve` can run it anywhere. It is logged from code: MLflow runs served_model.py to build it,
so nothing is pickled. Generation settings are request params whose defaults come from
params.yaml.
"""

from __future__ import annotations

import shutil
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel, PythonModelContext
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

from warc2gpt.config import GenerationSettings
from warc2gpt.model.device import resolve_device
from warc2gpt.model.generate import generate_text
from warc2gpt.model.store import BUNDLE_EXTRAS, BUNDLE_FILES, load_model_and_tokenizer

PACKAGE_DIR = Path(__file__).resolve().parents[1]
MODEL_CODE = Path(__file__).with_name("served_model.py")
# What loading and generating import; versions pinned to those installed when logging.
REQUIREMENTS = ("mlflow", "torch", "numpy", "tiktoken", "pandas", "pyyaml")
# A short request, shown in the UI and saved as serving_input_example.json.
INPUT_EXAMPLE = ([{"prompt": "The"}], {"max_new_tokens": 8})


def pip_requirements() -> list[str]:
    """`name==version` for the serving dependencies, local build tags (`+cpu`) dropped."""
    pins = []
    for name in REQUIREMENTS:
        try:
            pins.append(f"{name}=={version(name).split('+')[0]}")
        except PackageNotFoundError:
            pins.append(name)
    return pins


def signature(generation: GenerationSettings) -> ModelSignature:
    """Input: a `prompt` string column; output: the generated text; params: sampling settings."""
    return ModelSignature(
        inputs=Schema([ColSpec("string", "prompt")]),
        outputs=Schema([ColSpec("string", "text")]),
        params=ParamSchema(
            [
                ParamSpec("max_new_tokens", "long", generation.max_new_tokens),
                ParamSpec("temperature", "double", generation.temperature),
                ParamSpec("top_k", "long", generation.top_k),
                ParamSpec("top_p", "double", generation.top_p),
                ParamSpec("seed", "long", generation.seed),
            ]
        ),
    )


def _prompts(model_input: Any) -> list[str]:
    """The prompt strings of a request: a DataFrame, a {"prompt": ...} mapping, or a list."""
    if hasattr(model_input, "columns"):  # a pandas DataFrame, as MLflow passes table input
        column = "prompt" if "prompt" in model_input.columns else model_input.columns[0]
        model_input = model_input[column].tolist()
    elif isinstance(model_input, dict):
        model_input = model_input.get("prompt", [])
    if isinstance(model_input, str):
        return [model_input]
    prompts: list[str] = []
    for value in model_input:
        # {"prompt": [a, b]} reaches predict as one row holding the whole list.
        if isinstance(value, str):
            prompts.append(value)
        else:
            prompts.extend(str(v) for v in value)
    return prompts


class GPTTextGenerator(PythonModel):
    """Loads the GPT and tokenizer from the model's artifacts; continues each prompt."""

    def load_context(self, context: PythonModelContext) -> None:
        self.model, self.tokenizer = load_model_and_tokenizer(
            context.artifacts["model"], context.artifacts["tokenizer"], resolve_device()
        )

    # MLflow infers no schema from a DataFrame hint, so the signature's `prompt` column stays
    # the served contract (dataframe_records, dataframe_split and inputs requests all fit it).
    def predict(
        self,
        context: PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> list[str]:
        params = params or {}
        return [
            generate_text(
                self.model,
                self.tokenizer,
                prompt,
                max_new_tokens=int(params.get("max_new_tokens", 64)),
                temperature=float(params.get("temperature", 0.8)),
                top_k=int(params.get("top_k", 50)),
                top_p=float(params.get("top_p", 1.0)),
                seed=int(params["seed"]) if params.get("seed") is not None else None,
            )
            for prompt in _prompts(model_input)
        ]


def _package_copy(dst: Path) -> Path:
    """This package's code without caches or bundled data, for the model's `code/` folder."""
    target = dst / PACKAGE_DIR.name
    shutil.copytree(
        PACKAGE_DIR, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "data")
    )
    return target


def log_gpt_model(
    model_dir: str | Path,
    tokenizer_dir: str | Path,
    generation: GenerationSettings,
    name: str = "model",
    tags: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
) -> Any:
    """Log the pyfunc model into the active run; returns MLflow's ModelInfo."""
    with tempfile.TemporaryDirectory() as tmp:
        # Fixed folder names inside the model, whatever the source folders are called.
        staged = {}
        for key, directory in (("model", model_dir), ("tokenizer", tokenizer_dir)):
            staged[key] = Path(tmp) / "artifacts" / key
            staged[key].mkdir(parents=True)
            for filename in BUNDLE_FILES[key]:
                source = Path(directory) / filename
                if not source.is_file():
                    raise FileNotFoundError(
                        f"{source} is missing: run the train and tokenizer stages first"
                    )
                shutil.copy2(source, staged[key] / filename)
            for filename in BUNDLE_EXTRAS.get(key, ()):
                if (Path(directory) / filename).is_file():
                    shutil.copy2(Path(directory) / filename, staged[key] / filename)
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=str(MODEL_CODE),
            artifacts={key: str(path) for key, path in staged.items()},
            code_paths=[str(_package_copy(Path(tmp) / "code"))],
            signature=signature(generation),
            input_example=INPUT_EXAMPLE,
            pip_requirements=pip_requirements(),
            tags=tags,
            params=params,
        )
