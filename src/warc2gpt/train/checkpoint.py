"""Training checkpoints and the exported model: atomic writes, `weights_only` loads.

A checkpoint (`step_000100.pt`) holds the model, optimizer states, step, loader position, RNG
states and the log so far; it is written under a temporary name and renamed, so a killed run
never leaves a file that resume would pick up half-written. The exported model folder (weights,
config, the run's summary) is built beside the previous one and swapped in whole, so evaluation
never loads the weights of one run with the config of another; the optimizer state goes with
them when train.save_optimizer is on, for a run that continues from the model. The files of the
exported model and the model's entries in a checkpoint are model/store.py's (`save_model`,
`load_model`, re-exported here for the training loop).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from warc2gpt.atomic import StagedDirectory, write_json
from warc2gpt.model.gpt import GPT
from warc2gpt.model.store import (
    CONFIG_FILE,
    OPTIMIZER_FILE,
    SUMMARY_FILE,
    WEIGHTS_FILE,
    CheckpointError,
    atomic_torch_save,
    load_model,
    save_model,
    save_optimizer_state,
)

__all__ = [
    "CheckpointError",
    "checkpoint_path",
    "export_model",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "load_model",
    "remove_checkpoints",
    "save_checkpoint",
    "save_model",
]

CHECKPOINT_RE = re.compile(r"^step_(\d+)\.pt$")
EXPORT_FILES = (WEIGHTS_FILE, CONFIG_FILE, SUMMARY_FILE, OPTIMIZER_FILE)


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
    atomic_torch_save(state, path)
    for _, old in list_checkpoints(directory)[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
    return path


def remove_checkpoints(directory: str | Path) -> int:
    """Delete a finished run's checkpoints (its model is exported), and what writes killed
    halfway left there; returns how many checkpoints."""
    found = list_checkpoints(directory)
    for _, path in found:
        path.unlink(missing_ok=True)
    for path in Path(directory).glob(".step_*.pt.tmp-*"):
        path.unlink(missing_ok=True)
    return len(found)


def export_model(
    model: GPT,
    directory: str | Path,
    summary: dict[str, Any],
    optimizers: tuple[str, list[torch.optim.Optimizer]] | None = None,
) -> None:
    """The exported model (weights and config), the run's summary and, given `optimizers`
    (train.optimizer, the optimizers), their state, as `directory`: written into a staging
    folder beside it and swapped in whole. Other files there are kept."""
    with StagedDirectory(directory, EXPORT_FILES.__contains__) as export:
        save_model(model, export.path)
        if optimizers is not None:
            kind, built = optimizers
            save_optimizer_state(built, kind, export.path)
        write_json(export.path / SUMMARY_FILE, summary)
        export.commit()


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
