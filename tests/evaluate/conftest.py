"""A small real tokenizer (trained on Tiny Shakespeare) and a tiny untrained GPT."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from warc2gpt.model.gpt import GPT, GPTConfig
from warc2gpt.tokenizer.bpe import Tokenizer, train_bpe
from warc2gpt.tokenizer.shards import write_token_shard


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Models this small run fastest on one thread; more only contend on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def corpus(shared_data: Path) -> str:
    return (shared_data / "text" / "tinyshakespeare.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def tokenizer(corpus: str) -> Tokenizer:
    return train_bpe([corpus[:300_000]], vocab_size=512)


def tiny_gpt(vocab_size: int, sequence_len: int = 256, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    config = GPTConfig(
        vocab_size=vocab_size,
        sequence_len=sequence_len,
        n_layer=2,
        n_head=2,
        n_kv_head=2,
        n_embd=64,
    )
    return GPT(config).eval()


@pytest.fixture(scope="session")
def make_gpt():
    """Build a tiny untrained GPT: make_gpt(vocab_size, sequence_len=256, seed=0)."""
    return tiny_gpt


@pytest.fixture(scope="session")
def model(tokenizer: Tokenizer) -> GPT:
    return tiny_gpt(tokenizer.vocab_size)


@pytest.fixture(scope="session")
def val_shard(tmp_path_factory: pytest.TempPathFactory, tokenizer: Tokenizer, corpus: str) -> Path:
    """A val shard of real text: Tiny Shakespeare's last 20,000 characters."""
    path = tmp_path_factory.mktemp("tokens") / "val_000000.bin"
    ids = [tokenizer.eot_id] + tokenizer.encode(corpus[-20_000:])
    write_token_shard(path, np.array(ids), tokenizer.vocab_size)
    return path


@pytest.fixture(scope="session")
def artifacts(
    tmp_path_factory: pytest.TempPathFactory, tokenizer: Tokenizer, model: GPT
) -> tuple[Path, Path]:
    """(model_dir, tokenizer_dir) laid out as the train and tokenizer stages write them."""
    root = tmp_path_factory.mktemp("artifacts")
    model_dir, tokenizer_dir = root / "model", root / "tokenizer"
    model_dir.mkdir()
    torch.save(model.state_dict(), model_dir / "model.pt")
    (model_dir / "config.json").write_text(json.dumps(model.config.to_dict()))
    tokenizer.save(tokenizer_dir)
    return model_dir, tokenizer_dir
