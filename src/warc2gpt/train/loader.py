"""Training and validation batches from token shards: random windows, rank-aware, resumable.

The training stream is a sequence of epochs. Each epoch cuts every shard into windows of
`seq_len + 1` tokens (inputs and next-token targets) from a random shift, and orders all windows
by a permutation drawn from (seed, epoch). A step takes the next `windows_per_step` windows of
that stream and deals them out to ranks and micro-steps, so no two ranks read the same window in
a step, and a run with one process and gradient accumulation sees exactly the windows that N
processes see together. The loader's whole position is one integer: windows consumed.
"""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import torch

from warc2gpt.tokenizer.shards import read_token_shard


class LoaderError(ValueError):
    """Token shards missing or too small for the requested windows."""


def find_shards(data_dir: str | Path, split: str) -> list[Path]:
    """`<data_dir>/<split>_*.bin`, sorted; a clear error when there are none."""
    paths = sorted(Path(p) for p in glob.glob(str(Path(data_dir) / f"{split}_*.bin")))
    if not paths:
        raise LoaderError(
            f"no {split} token shards ({split}_*.bin) in {data_dir}: run the tokenize stage "
            f"(`warc2gpt tokenize`) or point train.data at a folder of shards"
        )
    return paths


def check_token_ids(paths: list[Path], vocab_size: int) -> None:
    """Fail with the shard's name when a shard holds a token id the model has no row for.

    A shard whose token width cannot reach `vocab_size` is skipped; the others are read once
    (a max over the memmap) before training starts, where a bad id would otherwise stop the
    run with an IndexError, or a device assert on GPU, at the first batch that holds it.
    """
    for path in paths:
        tokens = read_token_shard(path)
        if not tokens.size or np.iinfo(tokens.dtype).max < vocab_size:
            continue
        top = int(tokens.max())
        if top >= vocab_size:
            raise LoaderError(
                f"{path}: token id {top} is outside the model's vocabulary of {vocab_size} "
                "(train.vocab_size, or the tokenizer's size when it is 0): tokenize with the "
                "tokenizer the model trains with, or raise train.vocab_size"
            )


class TrainLoader:
    """Random training windows for one rank; `next_step()` returns its micro-batches."""

    def __init__(
        self,
        paths: list[Path],
        seq_len: int,
        batch_size: int,
        grad_accum: int,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
    ) -> None:
        self.shards = [read_token_shard(p) for p in paths]
        self.paths = paths
        self.seq_len, self.batch_size, self.grad_accum = seq_len, batch_size, grad_accum
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self.windows_per_step = batch_size * grad_accum * world_size
        self.consumed = 0  # windows taken by all ranks together
        self._epoch = -1
        self._order: np.ndarray = np.empty(0, dtype=np.int64)
        self._shard_of: np.ndarray = np.empty(0, dtype=np.int64)
        self._cum: np.ndarray = np.empty(0, dtype=np.int64)
        self._shift = 0
        self._load_epoch(0)
        if len(self._order) < self.windows_per_step:
            tokens = sum(len(s) for s in self.shards)
            raise LoaderError(
                f"{len(paths)} train shard(s) in {paths[0].parent} hold {tokens} tokens, "
                f"{len(self._order)} windows of {seq_len + 1}; one step needs "
                f"{self.windows_per_step}: lower train.sequence_len or the batch size"
            )

    @property
    def tokens(self) -> int:
        return sum(len(s) for s in self.shards)

    def _load_epoch(self, epoch: int) -> None:
        rng = np.random.default_rng([self.seed, epoch])
        self._shift = int(rng.integers(0, self.seq_len))
        # Windows per shard that fit after any shift: every epoch has the same length, so a
        # stream index maps to (epoch, position) by division alone.
        counts = np.array(
            [max(0, (len(s) - self.seq_len) // self.seq_len) for s in self.shards], dtype=np.int64
        )
        self._cum = np.concatenate([[0], np.cumsum(counts)])
        self._order = rng.permutation(int(self._cum[-1]))
        self._epoch = epoch

    def _window(self, index: int) -> np.ndarray:
        """Window number `index` of the whole stream (all epochs), as seq_len + 1 tokens."""
        epoch, pos = divmod(index, len(self._order))
        if epoch != self._epoch:
            self._load_epoch(epoch)
        w = int(self._order[pos])
        shard = int(np.searchsorted(self._cum, w, side="right")) - 1
        start = self._shift + (w - int(self._cum[shard])) * self.seq_len
        return self.shards[shard][start : start + self.seq_len + 1]

    def step_windows(self, step_start: int) -> list[list[int]]:
        """Stream indices of this rank's windows, per micro-step, for the step starting there."""
        out = []
        for micro in range(self.grad_accum):
            first = step_start + (micro * self.world_size + self.rank) * self.batch_size
            out.append(list(range(first, first + self.batch_size)))
        return out

    def next_step(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """This rank's (inputs, targets) micro-batches for the next step; advances the position."""
        batches = []
        for indices in self.step_windows(self.consumed):
            rows = np.stack([self._window(i) for i in indices]).astype(np.int64)
            chunk = torch.from_numpy(rows)
            batches.append((chunk[:, :-1], chunk[:, 1:]))
        self.consumed += self.windows_per_step
        return batches

    def state_dict(self) -> dict:
        return {"consumed": self.consumed, "seed": self.seed, "seq_len": self.seq_len}

    def load_state_dict(self, state: dict) -> None:
        if state["seed"] != self.seed or state["seq_len"] != self.seq_len:
            raise LoaderError(
                f"loader state is for seed {state['seed']} and sequence_len {state['seq_len']}, "
                f"this run has seed {self.seed} and sequence_len {self.seq_len}"
            )
        self.consumed = int(state["consumed"])


def val_batches(
    paths: list[Path],
    seq_len: int,
    batch_size: int,
    max_tokens: int,
    rank: int = 0,
    world_size: int = 1,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The fixed validation windows (the first `max_tokens` of the val shards) for one rank.

    Windows are dealt round-robin; every rank gets the same count so collectives line up.
    """
    windows = []
    budget = max(1, max_tokens // seq_len)
    for path in paths:
        tokens = read_token_shard(path)
        for start in range(0, len(tokens) - seq_len, seq_len):
            windows.append(np.asarray(tokens[start : start + seq_len + 1], dtype=np.int64))
            if len(windows) >= budget:
                break
        if len(windows) >= budget:
            break
    per_rank = len(windows) // world_size
    if per_rank == 0:
        raise LoaderError(
            f"validation shards {paths[0].parent}/val_*.bin hold fewer than {world_size} windows "
            f"of {seq_len + 1} tokens: lower train.sequence_len or add validation data"
        )
    mine = windows[rank::world_size][:per_rank]
    batches = []
    for i in range(0, per_rank, batch_size):
        chunk = torch.from_numpy(np.stack(mine[i : i + batch_size]))
        batches.append((chunk[:, :-1], chunk[:, 1:]))
    return batches


def unigram_entropy(paths: list[Path], max_tokens: int = 20_000_000) -> float:
    """Entropy (nats/token) of the unigram distribution of the first `max_tokens` tokens."""
    counts = np.zeros(0, dtype=np.int64)
    seen = 0
    for path in paths:
        tokens = np.asarray(read_token_shard(path)[: max_tokens - seen])
        c = np.bincount(tokens)
        if len(c) > len(counts):
            counts = np.pad(counts, (0, len(c) - len(counts)))
        counts[: len(c)] += c
        seen += len(tokens)
        if seen >= max_tokens:
            break
    p = counts[counts > 0] / max(1, counts.sum())
    return float(-(p * np.log(p)).sum())
