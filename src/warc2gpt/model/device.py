"""Where the GPT runs: one rule for training, evaluation, generation and the served model."""

from __future__ import annotations

import torch

from warc2gpt.config import ConfigError


def resolve_device(
    choice: str = "auto", local_rank: int | None = None, setting: str = "device"
) -> torch.device:
    """The torch device for a setting: auto, cpu, cuda, cuda:N or mps.

    `auto` is the GPU when torch sees CUDA, else Apple's MPS for a single process, else the CPU.
    `local_rank` is this process's place on its node in a torchrun group: it picks the GPU for
    `auto` and `cuda`, and keeps `auto` off MPS, which has no multi-process backend.
    `setting` names the params key in the error for a GPU that is not there.
    """
    if choice == "auto":
        if torch.cuda.is_available():
            choice = "cuda"
        elif local_rank is None and _mps_available():
            choice = "mps"
        else:
            choice = "cpu"
    device = torch.device(choice)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"{setting} is {choice} but torch sees no CUDA GPU: set {setting}: auto or cpu"
        )
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", local_rank or 0)
    return device


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()
