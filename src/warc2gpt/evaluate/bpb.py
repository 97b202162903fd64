"""Validation loss and bits-per-byte on the val token shards.

Bits-per-byte divides the summed loss (nats) by ln 2 times the UTF-8 bytes the target tokens
stand for, so models with different tokenizers compare on the same scale. Special tokens stand
for no bytes and are left out of that ratio; the mean loss covers every target token.
"""

from __future__ import annotations

import glob
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from warc2gpt.tokenizer.shards import read_token_shard


@dataclass(frozen=True)
class ValResult:
    """Val loss (mean nats per token), bits-per-byte and what they were measured on."""

    loss: float
    bpb: float
    tokens: int
    bytes: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def val_shards(pattern: str) -> list[Path]:
    """The val shards a glob names, sorted; an error that says what to run when there are none."""
    paths = sorted(Path(p) for p in glob.glob(pattern))
    if not paths:
        raise FileNotFoundError(
            f"no val token shards match {pattern!r}: run the tokenize stage "
            "(`dvc repro tokenize`) or set evaluate.val_tokens"
        )
    return paths


def iter_windows(
    shards: Sequence[str | Path], sequence_len: int, batch_size: int, max_tokens: int = 0
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(inputs, targets) batches of non-overlapping windows: every val token is a target once.

    Windows stay inside a shard; a shard's short tail comes as its own batch of one.
    `max_tokens` > 0 stops after about that many target tokens.
    """
    budget = max_tokens if max_tokens > 0 else math.inf
    batch: list[np.ndarray] = []
    for path in shards:
        tokens = read_token_shard(path)
        for start in range(0, max(0, len(tokens) - 1), sequence_len):
            if budget <= 0:
                break
            window = np.asarray(tokens[start : start + sequence_len + 1], dtype=np.int64)
            budget -= len(window) - 1
            if len(window) == sequence_len + 1:
                batch.append(window)
                if len(batch) == batch_size:
                    stacked = np.stack(batch)
                    yield stacked[:, :-1], stacked[:, 1:]
                    batch = []
            else:
                if batch:
                    stacked = np.stack(batch)
                    yield stacked[:, :-1], stacked[:, 1:]
                    batch = []
                yield window[None, :-1], window[None, 1:]
    if batch:
        stacked = np.stack(batch)
        yield stacked[:, :-1], stacked[:, 1:]


@torch.no_grad()
def evaluate_val(
    model: torch.nn.Module,
    shards: Sequence[str | Path],
    token_bytes: np.ndarray,
    sequence_len: int,
    batch_size: int = 8,
    max_tokens: int = 0,
    device: torch.device | str = "cpu",
) -> ValResult:
    """Mean val loss and bits-per-byte of `model` over the shards."""
    device = torch.device(device)
    byte_counts = torch.as_tensor(np.asarray(token_bytes, dtype=np.int64))
    total_nats = 0.0
    text_nats = 0.0
    total_tokens = 0
    total_bytes = 0
    for inputs, targets in iter_windows(shards, sequence_len, batch_size, max_tokens):
        x = torch.from_numpy(inputs).to(device)
        y = torch.from_numpy(targets)
        if int(y.max()) >= len(byte_counts):
            raise ValueError(
                f"token id {int(y.max())} is outside the tokenizer's {len(byte_counts)} ids: "
                "the val shards were written with another tokenizer; rerun the tokenize stage"
            )
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = model(x)
        nats = F.cross_entropy(
            logits.float().flatten(0, 1), y.to(device).flatten(), reduction="none"
        ).cpu()
        nbytes = byte_counts[y.flatten()]
        total_nats += float(nats.sum())
        text_nats += float(nats[nbytes > 0].sum())
        total_tokens += y.numel()
        total_bytes += int(nbytes.sum())
    if total_tokens == 0:
        raise ValueError("the val shards hold no tokens to evaluate")
    if total_bytes == 0:
        raise ValueError("the val targets stand for no bytes (token_bytes all zero?)")
    return ValResult(
        loss=total_nats / total_tokens,
        bpb=text_nats / (math.log(2) * total_bytes),
        tokens=total_tokens,
        bytes=total_bytes,
    )
