"""Training checkpoints and the exported model: atomic writes, `weights_only` loads.

A checkpoint (`step_000100.pt`) holds the model, optimizer states, step, loader position, RNG
states and the log so far; it is written under a temporary name and renamed, so a killed run
never leaves a file that resume would pick up half-written. The exported model is
`model.pt` (state_dict) + `config.json` (GPTConfig), what evaluation and serving load.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import torch

from warc2gpt.model.gpt import GPT, GPTConfig

CHECKPOINT_RE = re.compile(r"^step_(\d+)\.pt$")


class CheckpointError(ValueError):
    """A checkpoint or model directory that does not fit the model being built."""


def _atomic_torch_save(obj: Any, path: Path) -> None:
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


def checkpoint_path(directory: str | Path, step: int) -> Path:
    return Path(directory) / f"step_{step:06d}.pt"


def list_checkpoints(directory: str | Path) -> list[tuple[int, Path]]:
    """(step, path) of the complete checkpoints in `directory`, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = CHECKPOINT_RE.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(directory: str | Path) -> Path | None:
    found = list_checkpoints(directory)
    return found[-1][1] if found else None


def save_checkpoint(directory: str | Path, step: int, state: dict[str, Any], keep: int = 2) -> Path:
    """Write `state` as the checkpoint after `step` steps; drop all but the newest `keep`."""
    path = checkpoint_path(directory, step)
    _atomic_torch_save(state, path)
    for _, old in list_checkpoints(directory)[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
    return path


def remove_checkpoints(directory: str | Path) -> int:
    """Delete a finished run's checkpoints (its model is exported); returns how many."""
    found = list_checkpoints(directory)
    for _, path in found:
        path.unlink(missing_ok=True)
    return len(found)


def config_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    keys = sorted(set(saved) | set(current))
    return [
        f"{k}: checkpoint {saved.get(k)!r}, this run {current.get(k)!r}"
        for k in keys
        if saved.get(k) != current.get(k)
    ]


def load_checkpoint(path: str | Path, identity: dict[str, Any]) -> dict[str, Any]:
    """Read a checkpoint (tensors and plain data only) and check it was made for `identity`.

    `identity` is what must not change across a resume: the model config and the settings
    that shape the optimizer state and the data stream.
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"{path}: not a readable checkpoint ({exc}); delete it to start over"
        ) from exc
    diffs = config_differences(state.get("identity", {}), identity)
    if diffs:
        raise CheckpointError(
            f"{path} was written by a run with other settings ({'; '.join(diffs)}). "
            f"Resume with the same settings, or start fresh: delete {path.parent} or set "
            "train.resume=false"
        )
    return state


def save_model(model: GPT, directory: str | Path) -> None:
    """Export weights (model.pt) and shape (config.json), each written atomically."""
    directory = Path(directory)
    _atomic_torch_save(model.state_dict(), directory / "model.pt")
    tmp = directory / f".config.json.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(model.config.to_dict(), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, directory / "config.json")


def load_model(model_dir: str | Path, device: str | torch.device = "cpu") -> GPT:
    """The exported GPT from `model_dir` (model.pt + config.json), in eval mode on `device`."""
    model_dir = Path(model_dir)
    config_file, weights_file = model_dir / "config.json", model_dir / "model.pt"
    for f in (config_file, weights_file):
        if not f.exists():
            raise CheckpointError(f"{f} is missing: train a model first (`warc2gpt train`)")
    try:
        config = GPTConfig.from_dict(json.loads(config_file.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{config_file}: not a valid GPT config: {exc}") from exc
    state = torch.load(weights_file, map_location="cpu", weights_only=True)
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
            f"{weights_file} does not match {config_file}: {'; '.join(problems[:5])}"
            + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "")
            + ". Export both files from the same training run."
        )
    model.load_state_dict(state)
    return model.to(device).eval()
