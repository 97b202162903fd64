"""Shard loader: deterministic from the seed, disjoint across ranks, resumable, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from warc2gpt.train.loader import (
    LoaderError,
    TrainLoader,
    find_shards,
    unigram_entropy,
    val_batches,
)


def windows(loader: TrainLoader, steps: int) -> list[list[tuple[int, ...]]]:
    """Per step, every row this rank read, as tuples of tokens."""
    out = []
    for _ in range(steps):
        rows = []
        for x, y in loader.next_step():
            assert torch.equal(x[:, 1:], y[:, :-1])  # targets are inputs shifted by one
            rows += [tuple(r.tolist()) + (int(t[-1]),) for r, t in zip(x, y, strict=True)]
        out.append(rows)
    return out


def test_same_seed_same_windows_other_seed_other(token_dir):
    paths = find_shards(token_dir, "train")
    a = windows(TrainLoader(paths, 16, 4, 1, seed=7), 5)
    b = windows(TrainLoader(paths, 16, 4, 1, seed=7), 5)
    c = windows(TrainLoader(paths, 16, 4, 1, seed=8), 5)
    assert a == b
    assert a != c


def test_ranks_split_one_process_step_without_overlap(token_dir):
    paths = find_shards(token_dir, "train")
    single = windows(TrainLoader(paths, 16, 4, grad_accum=2, seed=3), 4)
    rank0 = windows(TrainLoader(paths, 16, 4, 1, rank=0, world_size=2, seed=3), 4)
    rank1 = windows(TrainLoader(paths, 16, 4, 1, rank=1, world_size=2, seed=3), 4)
    for step in range(4):
        assert not set(rank0[step]) & set(rank1[step])
        assert sorted(rank0[step] + rank1[step]) == sorted(single[step])


def test_windows_come_from_the_shards_and_cover_an_epoch_once(token_dir):
    paths = find_shards(token_dir, "train")
    loader = TrainLoader(paths, 16, 4, 1, seed=0)
    n_epoch = len(loader._order)
    shift = loader._shift
    # Every window an epoch may hold: seq_len + 1 tokens at shift + k * seq_len in one shard.
    allowed = {
        np.asarray(s[start : start + 17]).tobytes()
        for s in loader.shards
        for start in range(shift, len(s) - 16, 16)
    }
    taken = []
    for _ in range(n_epoch // 4):
        for x, y in loader.next_step():
            taken += [
                torch.cat([r, t[-1:]]).numpy().astype(np.uint16).tobytes()
                for r, t in zip(x, y, strict=True)
            ]
    assert set(taken) <= allowed
    # One epoch reads distinct windows (equal token content can repeat, rarely).
    assert len(set(taken)) > 0.95 * len(taken)


def test_resume_position_continues_the_stream(token_dir):
    paths = find_shards(token_dir, "train")
    straight = windows(TrainLoader(paths, 16, 4, 2, seed=5), 6)
    first = TrainLoader(paths, 16, 4, 2, seed=5)
    windows(first, 3)
    resumed = TrainLoader(paths, 16, 4, 2, seed=5)
    resumed.load_state_dict(first.state_dict())
    assert windows(resumed, 3) == straight[3:]
    with pytest.raises(LoaderError, match="seed 5"):
        TrainLoader(paths, 16, 4, 2, seed=6).load_state_dict(first.state_dict())


def test_stream_crosses_epochs(token_dir):
    paths = find_shards(token_dir, "train")
    loader = TrainLoader(paths, 256, 8, 1, seed=0)  # ~35 windows an epoch: 5 steps cross it
    epochs = windows(loader, 10)
    assert loader._epoch >= 1
    assert all(len(step) == 8 for step in epochs)


@pytest.mark.parametrize("seed", range(6))
def test_many_epochs_keep_their_length_and_window_size(token_dir, seed):
    paths = find_shards(token_dir, "train")
    loader = TrainLoader(paths, 100, 16, 1, seed=seed)  # ~88 windows an epoch
    n_epoch = len(loader._order)
    for _ in range(40):  # about 7 epochs, each with its own shift
        for x, y in loader.next_step():
            assert x.shape == y.shape == (16, 100)
        assert len(loader._order) == n_epoch


def test_missing_and_too_small_data_fail_clearly(tmp_path, token_dir):
    with pytest.raises(LoaderError, match=r"no train token shards .* run the tokenize stage"):
        find_shards(tmp_path, "train")
    with pytest.raises(LoaderError, match="one step needs 4096"):
        TrainLoader(find_shards(token_dir, "train"), 16, 1024, 4)


def test_val_batches_are_fixed_and_split_across_ranks(token_dir):
    paths = find_shards(token_dir, "val")
    whole = val_batches(paths, 16, 4, 256)
    assert sum(x.size(0) for x, _ in whole) == 16
    parts = [val_batches(paths, 16, 4, 256, rank=r, world_size=2) for r in (0, 1)]
    rows = lambda bs: {tuple(x_row.tolist()) for x, _ in bs for x_row in x}  # noqa: E731
    assert rows(parts[0]) | rows(parts[1]) == rows(whole)
    assert not rows(parts[0]) & rows(parts[1])


def test_unigram_entropy_of_known_distribution(tmp_path):
    from warc2gpt.tokenizer.shards import write_token_shard

    write_token_shard(tmp_path / "train_000000.bin", np.tile(np.arange(8), 100), 8)
    assert unigram_entropy([tmp_path / "train_000000.bin"]) == pytest.approx(np.log(8))
