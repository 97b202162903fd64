"""Val loss and bits-per-byte against figures that follow from a uniform model."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from warc2gpt.evaluate.bpb import evaluate_val, iter_windows, val_shards
from warc2gpt.tokenizer.shards import read_token_shard

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def uniform_model(tokenizer, make_gpt):
    """Zero output weights: every next-token distribution is uniform over the vocabulary."""
    model = make_gpt(tokenizer.vocab_size, sequence_len=64)
    with torch.no_grad():
        model.lm_head.weight.zero_()
    return model


def test_every_val_token_is_a_target_once(val_shard: Path) -> None:
    n = len(read_token_shard(val_shard))
    targets = np.concatenate([y.ravel() for _, y in iter_windows([val_shard], 64, 4)])
    assert len(targets) == n - 1
    assert np.array_equal(targets, np.asarray(read_token_shard(val_shard)[1:]))


def test_max_tokens_bounds_the_work(val_shard: Path) -> None:
    seen = sum(y.size for _, y in iter_windows([val_shard], 64, 4, max_tokens=300))
    assert 300 <= seen < 300 + 64


def test_uniform_model_loss_and_bpb(uniform_model, tokenizer, val_shard: Path) -> None:
    result = evaluate_val(
        uniform_model, [val_shard], tokenizer.token_bytes, sequence_len=64, batch_size=4
    )
    targets = np.asarray(read_token_shard(val_shard)[1:])
    nbytes = tokenizer.token_bytes[targets]
    assert result.tokens == len(targets)
    assert result.bytes == int(nbytes.sum())
    assert result.loss == pytest.approx(math.log(tokenizer.vocab_size), rel=1e-5)
    # Special tokens (0 bytes) drop out of the byte ratio.
    expected_bpb = math.log2(tokenizer.vocab_size) * int((nbytes > 0).sum()) / nbytes.sum()
    assert result.bpb == pytest.approx(expected_bpb, rel=1e-5)


def test_batch_size_does_not_change_the_result(model, tokenizer, val_shard: Path) -> None:
    one = evaluate_val(model, [val_shard], tokenizer.token_bytes, 64, batch_size=1, max_tokens=2000)
    many = evaluate_val(
        model, [val_shard], tokenizer.token_bytes, 64, batch_size=16, max_tokens=2000
    )
    assert one.tokens == many.tokens
    assert one.bpb == pytest.approx(many.bpb, rel=1e-5)


def test_missing_shards_say_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="tokenize stage"):
        val_shards(str(tmp_path / "val_*.bin"))


def test_foreign_token_ids_are_refused(model, val_shard: Path) -> None:
    with pytest.raises(ValueError, match="another tokenizer"):
        evaluate_val(model, [val_shard], np.ones(100, dtype=np.int32), 64)
