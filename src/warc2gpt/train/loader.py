"""Training and validation batches from token shards: random windows, rank-aware, resumable.

The training stream is a sequence of epochs. Each epoch cuts every shard into windows of
`seq_len + 1` tokens (inputs and next-token targets) from a random shift, and orders all windows
by a permutation drawn from (seed, epoch). A step takes the next `windows_per_step` windows of
that stream and deals them out to ranks and micro-steps, so no two ranks read the same window in
a step, and a run with one process and gradient accumulation sees exactly the windows that N
processes see together. The loader's whole position is one integer: windows consumed.

With replay, two such streams feed the steps: the current increment's shards and the earlier
increments'. Each step draws `replay` of its windows from the earlier stream (exactly, over the
steps: a running count decides the odd window), spread evenly over the step's slots, so every
rank and micro-step gets its share.
"""

from __future__ import annotations

import glob
import math
from fractions import Fraction
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


class WindowStream:
    """The windows of some shards, epoch after epoch: window `i` of the stream is
    `window(i)`. Each epoch's shift and order are drawn from (*key, epoch)."""

    def __init__(self, shards: list[np.ndarray], seq_len: int, key: tuple[int, ...]) -> None:
        self.shards, self.seq_len, self.key = shards, seq_len, key
        # Windows per shard that fit after any shift: every epoch has the same length, so a
        # stream index maps to (epoch, position) by division alone.
        counts = np.array([max(0, (len(s) - seq_len) // seq_len) for s in shards], dtype=np.int64)
        self._cum = np.concatenate([[0], np.cumsum(counts)])
        self._epoch = -1
        self._order: np.ndarray = np.empty(0, dtype=np.int64)
        self._shift = 0
        self._load_epoch(0)

    def __len__(self) -> int:
        """Windows per epoch."""
        return int(self._cum[-1])

    @property
    def tokens(self) -> int:
        return sum(len(s) for s in self.shards)

    def _load_epoch(self, epoch: int) -> None:
        rng = np.random.default_rng([*self.key, epoch])
        self._shift = int(rng.integers(0, self.seq_len))
        self._order = rng.permutation(len(self))
        self._epoch = epoch

    def window(self, index: int) -> np.ndarray:
        """Window number `index` of the whole stream (all epochs), as seq_len + 1 tokens."""
        epoch, pos = divmod(index, len(self._order))
        if epoch != self._epoch:
            self._load_epoch(epoch)
        w = int(self._order[pos])
        shard = int(np.searchsorted(self._cum, w, side="right")) - 1
        start = self._shift + (w - int(self._cum[shard])) * self.seq_len
        return self.shards[shard][start : start + self.seq_len + 1]


# Seeds the earlier increments' stream apart from the current one's, which keeps (seed, epoch).
REPLAY_STREAM = 1


class TrainLoader:
    """Random training windows for one rank; `next_step()` returns its micro-batches.

    `earlier` (the earlier increments' shards) and `replay` (the share of each step's windows
    drawn from them) mix a second stream in; without them every window comes from `paths`.
    """

    def __init__(
        self,
        paths: list[Path],
        seq_len: int,
        batch_size: int,
        grad_accum: int,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        *,
        earlier: list[Path] = (),
        replay: float = 0.0,
    ) -> None:
        self.paths, self.earlier_paths = paths, list(earlier)
        self.seq_len, self.batch_size, self.grad_accum = seq_len, batch_size, grad_accum
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self.windows_per_step = batch_size * grad_accum * world_size
        self.consumed = 0  # windows taken by all ranks together
        # The exact decimal share, so the running count never drifts with float rounding.
        self.replay = Fraction(str(replay)) if self.earlier_paths else Fraction(0)
        self.current = WindowStream([read_token_shard(p) for p in paths], seq_len, (seed,))
        self.earlier = WindowStream(
            [read_token_shard(p) for p in self.earlier_paths], seq_len, (seed, REPLAY_STREAM)
        )
        self._check_size()

    @property
    def tokens(self) -> int:
        return self.current.tokens + self.earlier.tokens

    def _check_size(self) -> None:
        """Each stream a step draws from holds at least the windows it gives one step."""
        most_earlier = math.ceil(self.replay * self.windows_per_step)
        most_current = self.windows_per_step - math.floor(self.replay * self.windows_per_step)
        for stream, paths, need, what in (
            (self.current, self.paths, most_current, "train"),
            (self.earlier, self.earlier_paths, most_earlier, "earlier increments' train"),
        ):
            if need and len(stream) < need:
                where = paths[0].parent if paths else "the data folder"
                raise LoaderError(
                    f"{len(paths)} {what} shard(s) in {where} hold {stream.tokens} tokens, "
                    f"{len(stream)} windows of {self.seq_len + 1}; one step needs {need}: lower "
                    "train.sequence_len or the batch size"
                )

    def _earlier_before(self, step: int) -> int:
        """Windows the earlier stream gave the steps before `step`."""
        return math.floor(step * self.replay * self.windows_per_step)

    def step_slots(self, step: int) -> list[tuple[WindowStream, int]]:
        """(stream, stream index) of every window of step `step`, in slot order."""
        per_step = self.windows_per_step
        earlier_from = self._earlier_before(step)
        n_earlier = self._earlier_before(step + 1) - earlier_from
        current_from = step * per_step - earlier_from
        slots = []
        for j in range(per_step):
            # Slot j is an earlier one where the running share n_earlier * j / per_step steps up.
            if (j + 1) * n_earlier // per_step > j * n_earlier // per_step:
                slots.append((self.earlier, earlier_from))
                earlier_from += 1
            else:
                slots.append((self.current, current_from))
                current_from += 1
        return slots

    def step_windows(self, step_start: int) -> list[list[int]]:
        """Slots of this rank's windows, per micro-step, for the step starting at window
        `step_start` (a multiple of windows_per_step); slot i is window step_start + i."""
        out = []
        for micro in range(self.grad_accum):
            first = step_start + (micro * self.world_size + self.rank) * self.batch_size
            out.append(list(range(first, first + self.batch_size)))
        return out

    def next_step(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """This rank's (inputs, targets) micro-batches for the next step; advances the position."""
        step = self.consumed // self.windows_per_step
        slots = self.step_slots(step)
        batches = []
        for indices in self.step_windows(self.consumed):
            chosen = (slots[i - self.consumed] for i in indices)
            rows = np.stack([stream.window(i) for stream, i in chosen]).astype(np.int64)
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
