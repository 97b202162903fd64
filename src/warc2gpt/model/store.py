"""The GPT on disk: the one module that knows how a model is saved and where to find one.

Three layouts hold a model, and `load_model` takes any of them (or a registry URI):

- the exported model, a directory with `model.pt` (the state_dict) and `config.json`
  (GPTConfig), which the train stage writes with `save_model`, beside the run's summary
  (`train_summary.json`) and, when kept, the optimizer state (`optimizer.pt`);
- a training checkpoint file (`step_*.pt`): a dict whose `model` entry is the state_dict and
  whose `identity` holds the GPTConfig fields as `model.<field>` keys;
- a logged MLflow model, a pyfunc directory (`MLmodel`) carrying the exported model under
  `artifacts/model` and its tokenizer under `artifacts/tokenizer`; `models:/NAME@ALIAS` and
  `runs:/...` URIs name one in a registry.

Files are read with `weights_only=True` (tensors and plain data, never pickled code) and written
under a temporary name, then renamed, so a killed writer never leaves a half-written model.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from warc2gpt.model.gpt import GPT, GPTConfig
from warc2gpt.tokenizer.bpe import TOKEN_BYTES_FILE, TOKENIZER_FILE, Tokenizer

WEIGHTS_FILE = "model.pt"
CONFIG_FILE = "config.json"
# The training run's summary (its figures, totals and parent) beside the exported model.
SUMMARY_FILE = "train_summary.json"
# The optimizers' state at the end of the run, for a run that continues from the model.
OPTIMIZER_FILE = "optimizer.pt"
# What a logged MLflow model carries: artifact name -> the files copied under artifacts/<name>.
BUNDLE_FILES = {
    "model": (WEIGHTS_FILE, CONFIG_FILE),
    "tokenizer": (TOKENIZER_FILE, TOKEN_BYTES_FILE),
}
# Files a logged model carries when the exported model has them: what continuing needs.
BUNDLE_EXTRAS = {"model": (SUMMARY_FILE, OPTIMIZER_FILE)}
MLFLOW_URI_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/")


class CheckpointError(ValueError):
    """A checkpoint or model directory that does not fit the model being built."""


def atomic_torch_save(obj: Any, path: Path) -> None:
    """torch.save to a temporary sibling, synced, then renamed onto `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_model(model: GPT, directory: str | Path) -> None:
    """Export weights (model.pt) and shape (config.json), each written atomically."""
    directory = Path(directory)
    atomic_torch_save(model.state_dict(), directory / WEIGHTS_FILE)
    tmp = directory / f".{CONFIG_FILE}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(model.config.to_dict(), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, directory / CONFIG_FILE)


def save_optimizer_state(
    optimizers: list[torch.optim.Optimizer], kind: str, directory: str | Path
) -> None:
    """The optimizers' state (`optimizer.pt`) beside an exported model; `kind` is the
    train.optimizer setting they were built for."""
    state = {"optimizer": kind, "states": [opt.state_dict() for opt in optimizers]}
    atomic_torch_save(state, Path(directory) / OPTIMIZER_FILE)


@dataclass
class SavedRun:
    """A model to continue training: weights, the optimizer state and summary kept with them.

    `optimizer` is {"optimizer": kind, "states": [state_dict, ...]} or None; `summary` is the
    run's summary ({} when none was kept; a checkpoint gives its step and tokens).
    """

    model: GPT
    optimizer: dict[str, Any] | None
    summary: dict[str, Any]


def load_for_training(source: str | Path, tracking_uri: str | None = None) -> SavedRun:
    """The model at `source` (any layout above or a registry URI) with what a run continuing
    from it uses; a registry model is downloaded into a temporary folder, removed after."""
    if str(source).startswith(MLFLOW_URI_SCHEMES):
        with tempfile.TemporaryDirectory(prefix="warc2gpt-init-") as tmp:
            return _saved_run(locate(download_model(str(source), tracking_uri, tmp))[0])
    return _saved_run(locate(source)[0])


def _saved_run(path: Path) -> SavedRun:
    if path.is_file():
        state = _read(path)
        model = _from_checkpoint(path, state)  # refuses anything but a training checkpoint
        identity = state["identity"]
        optimizer = None
        if state.get("optimizers"):
            optimizer = {"optimizer": identity.get("optimizer"), "states": state["optimizers"]}
        step = int(state.get("step", 0))
        summary = {"steps": step, "tokens": step * int(identity.get("tokens_per_step", 0))}
        return SavedRun(model, optimizer, summary)
    model = _from_export(path)
    optimizer = _read(path / OPTIMIZER_FILE) if (path / OPTIMIZER_FILE).is_file() else None
    summary_file = path / SUMMARY_FILE
    summary = {}
    if summary_file.is_file():
        try:
            summary = json.loads(summary_file.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise CheckpointError(f"{summary_file}: not valid JSON ({exc})") from exc
    return SavedRun(model, optimizer, summary)


def load_model(
    source: str | Path, device: str | torch.device = "cpu", tracking_uri: str | None = None
) -> GPT:
    """The GPT in eval mode on `device`, from any layout above or a registry URI.

    `tracking_uri` is the MLflow store a `models:/` or `runs:/` URI is looked up in.
    """
    path, _ = locate(source, tracking_uri)
    return _load(path, device)


def load_model_and_tokenizer(
    source: str | Path,
    tokenizer_dir: str | Path,
    device: str | torch.device = "cpu",
    tracking_uri: str | None = None,
) -> tuple[GPT, Tokenizer]:
    """(GPT, Tokenizer): a logged MLflow model brings its own tokenizer; the others use
    `tokenizer_dir`, which must be the one the model was trained with."""
    path, bundled = locate(source, tracking_uri)
    model = _load(path, device)
    tokenizer_dir = bundled or Path(tokenizer_dir)
    tokenizer = Tokenizer.load(tokenizer_dir)
    check_vocab(model, tokenizer, tokenizer_dir)
    return model, tokenizer


def locate(source: str | Path, tracking_uri: str | None = None) -> tuple[Path, Path | None]:
    """(the exported model directory or checkpoint file, the tokenizer bundled with it or None)."""
    source = str(source)
    if source.startswith(MLFLOW_URI_SCHEMES):
        source = str(download_model(source, tracking_uri))
    path = Path(source)
    if (path / "MLmodel").is_file():
        return path / "artifacts" / "model", path / "artifacts" / "tokenizer"
    return path, None


def download_model(
    uri: str, tracking_uri: str | None = None, dst: str | Path | None = None
) -> Path:
    """A logged or registered model (`models:/name@alias`, `runs:/...`) as a local directory."""
    # Imported here, not above: the training machines run without MLflow installed.
    from mlflow.artifacts import download_artifacts

    from warc2gpt.offline import apply_offline_defaults

    apply_offline_defaults()
    return Path(
        download_artifacts(
            artifact_uri=uri,
            dst_path=str(dst) if dst else None,
            tracking_uri=tracking_uri,
            registry_uri=tracking_uri,
        )
    )


def check_vocab(model: GPT, tokenizer: Tokenizer, where: str | Path) -> None:
    """Refuse a tokenizer whose ids do not fit the model's embedding."""
    if tokenizer.vocab_size != model.config.vocab_size:
        raise ValueError(
            f"tokenizer in {where} has {tokenizer.vocab_size} ids but the model was trained "
            f"for {model.config.vocab_size}; use the tokenizer the model was trained with"
        )


def _load(path: Path, device: str | torch.device) -> GPT:
    model = _from_checkpoint(path) if path.is_file() else _from_export(path)
    return model.to(device).eval()


def _from_export(model_dir: Path) -> GPT:
    config_file, weights_file = model_dir / CONFIG_FILE, model_dir / WEIGHTS_FILE
    for f in (config_file, weights_file):
        if not f.exists():
            raise CheckpointError(
                f"{f} is missing: train a model first (`warc2gpt train`), or give a checkpoint "
                "file or a registry URI such as models:/warc2gpt@champion"
            )
    try:
        config = GPTConfig.from_dict(json.loads(config_file.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{config_file}: not a valid GPT config: {exc}") from exc
    state = _read(weights_file)
    return _with_weights(config, state, f"{weights_file} does not match {config_file}")


def _from_checkpoint(path: Path, state: Any = None) -> GPT:
    state = _read(path) if state is None else state
    identity = state.get("identity", {}) if isinstance(state, dict) else {}
    config = {k.removeprefix("model."): v for k, v in identity.items() if k.startswith("model.")}
    if "model" not in state or not config:
        raise CheckpointError(
            f"{path}: not a training checkpoint (no model weights and config); give an exported "
            "model directory or a step_*.pt file from train.checkpoint_dir"
        )
    try:
        gpt_config = GPTConfig.from_dict(config)
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{path}: the model config it records is not valid: {exc}") from exc
    return _with_weights(gpt_config, state["model"], f"{path}: the weights do not match its config")


def _read(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable model or checkpoint ({exc})") from exc


def _with_weights(config: GPTConfig, state: dict[str, torch.Tensor], mismatch: str) -> GPT:
    """A GPT of `config` holding `state`; a mismatch names the first differing tensors."""
    model = GPT(config)
    expected = model.state_dict()
    problems = [f"missing {k}" for k in expected if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in expected]
    problems += [
        f"{k}: weights {tuple(state[k].shape)}, config expects {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if problems:
        raise CheckpointError(
            f"{mismatch}: {'; '.join(problems[:5])}"
            + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "")
            + ". Use weights and config written by the same training run."
        )
    model.load_state_dict(state)
    return model
