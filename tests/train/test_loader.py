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
    n_epoch = len(loader.current._order)
    shift = loader.current._shift
    # Every window an epoch may hold: seq_len + 1 tokens at shift + k * seq_len in one shard.
    allowed = {
        np.asarray(s[start : start + 17]).tobytes()
        for s in loader.current.shards
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
    assert loader.current._epoch >= 1
    assert all(len(step) == 8 for step in epochs)


@pytest.mark.parametrize("seed", range(6))
def test_many_epochs_keep_their_length_and_window_size(token_dir, seed):
    paths = find_shards(token_dir, "train")
    loader = TrainLoader(paths, 100, 16, 1, seed=seed)  # ~88 windows an epoch
    n_epoch = len(loader.current._order)
    for _ in range(40):  # about 7 epochs, each with its own shift
        for x, y in loader.next_step():
            assert x.shape == y.shape == (16, 100)
        assert len(loader.current._order) == n_epoch


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


def test_replay_draws_its_share_of_every_step_from_the_earlier_shards(tmp_path):
    from warc2gpt.tokenizer.shards import write_token_shard

    # Earlier tokens are below 32, current ones 32 and up: a window tells where it came from.
    earlier, current = tmp_path / "train_i0001_0000.bin", tmp_path / "train_i0002_0000.bin"
    write_token_shard(earlier, np.arange(4000) % 32, 64)
    write_token_shard(current, 32 + np.arange(4000) % 32, 64)

    def mixed(seed: int, replay: float = 0.3, **ranks: int) -> TrainLoader:
        grad_accum = 2 if not ranks else 1
        return TrainLoader(
            [current], 16, 4, grad_accum, seed=seed, earlier=[earlier], replay=replay, **ranks
        )

    def earlier_per_step(loader: TrainLoader, steps: int) -> list[int]:
        return [sum(max(row) < 32 for row in step) for step in windows(loader, steps)]

    assert earlier_per_step(mixed(3, replay=0.25), 6) == [2] * 6  # 8 windows a step
    # 0.3 of 8 windows: 2 or 3 a step, exactly 0.3 over the steps, the same for the same seed.
    counts = earlier_per_step(mixed(3), 10)
    assert set(counts) == {2, 3} and sum(counts) == 24
    assert windows(mixed(3), 5) == windows(mixed(3), 5)
    assert windows(mixed(3), 5) != windows(mixed(4), 5)
    # Ranks split a step's windows, the replayed ones too, as one process's micro-steps do.
    ranks = [windows(mixed(3, rank=r, world_size=2), 4) for r in (0, 1)]
    single = windows(mixed(3), 6)
    for step in range(4):
        assert sorted(ranks[0][step] + ranks[1][step]) == sorted(single[step])
    # A resumed loader continues both streams where they were.
    first = mixed(3)
    windows(first, 3)
    resumed = mixed(3)
    resumed.load_state_dict(first.state_dict())
    assert windows(resumed, 3) == single[3:]
    # No replay: the current shards alone, window for window as a loader without earlier ones.
    assert windows(mixed(3, replay=0.0), 5) == windows(TrainLoader([current], 16, 4, 2, seed=3), 5)
