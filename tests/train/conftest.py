"""Small token shards and settings for fast CPU training tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from warc2gpt.config import TrainSettings
from warc2gpt.tokenizer.shards import write_token_shard

VOCAB = 64


def markov_tokens(n: int, seed: int) -> np.ndarray:
    """Tokens from a fixed random bigram chain: learnable, so losses move during a test."""
    rng = np.random.default_rng(1234)
    successors = rng.integers(0, VOCAB, size=(VOCAB, 3))
    draws = np.random.default_rng(seed).integers(0, 3, size=n)
    out = np.empty(n, dtype=np.int64)
    out[0] = 0
    for i in range(1, n):
        out[i] = successors[out[i - 1], draws[i]]
    return out


@pytest.fixture
def token_dir(tmp_path: Path) -> Path:
    data = tmp_path / "tokens"
    write_token_shard(data / "train_000000.bin", markov_tokens(6000, 1), VOCAB)
    write_token_shard(data / "train_000001.bin", markov_tokens(3000, 2), VOCAB)
    write_token_shard(data / "val_000000.bin", markov_tokens(2000, 3), VOCAB)
    return data


@pytest.fixture
def markov_shard() -> Callable[[Path, int, int], Path]:
    """markov_shard(path, tokens, seed) writes a shard of the bigram chain; returns the path."""

    def write(path: Path, n: int, seed: int) -> Path:
        write_token_shard(path, markov_tokens(n, seed), VOCAB)
        return path

    return write


@pytest.fixture
def tiny_settings(tmp_path: Path, token_dir: Path) -> TrainSettings:
    out = tmp_path / "run"
    return replace(
        TrainSettings(),
        data=str(token_dir),
        vocab_size=VOCAB,
        output=str(out / "model"),
        checkpoint_dir=str(out / "checkpoints"),
        metrics=str(out / "metrics" / "train.json"),
        plot=str(out / "plots" / "train.tsv"),
        val_plot=str(out / "plots" / "val.tsv"),
        depth=2,
        n_embd=32,
        head_dim=16,
        sequence_len=16,
        device_batch_size=4,
        steps=20,
        warmup_steps=3,
        lr=0.01,
        eval_every=5,
        eval_tokens=256,
        checkpoint_every=10,
        device="cpu",
    )
