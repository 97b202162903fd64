"""A step's loss, gradient norm and time, read by the host one step late so the GPU never waits.

On CUDA a step's figures are copied to pinned host memory behind its kernels and an event marks
its end; the host queues the next step before it reads them. A step's time runs from the
previous step's end, or from its own start after a pause (an evaluation, a checkpoint). On CPU
a step has finished when it is handed over, so its time is taken on the host clock at once.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch


@dataclass
class StepFigures:
    """One optimizer step as the host reads it."""

    step: int
    lr: float
    loss: float  # the mean over every process's windows
    grad_norm: float
    seconds: float


class _Pending:
    """One step's figures on their way to the host."""

    def __init__(
        self,
        step: int,
        lr: float,
        loss_sum: torch.Tensor,
        grad_norm: torch.Tensor,
        since: torch.cuda.Event | float,
    ) -> None:
        self.step, self.lr, self.since = step, lr, since
        values = torch.stack([loss_sum.float(), grad_norm.detach().float()])
        self.end: torch.cuda.Event | None = None
        if values.is_cuda:
            self.values = values.to("cpu", non_blocking=True)
            self.end = torch.cuda.Event(enable_timing=True)
            self.end.record()
        else:
            self.values = values
            self.seconds = time.perf_counter() - since

    def read(self, world_size: int) -> StepFigures:
        """The figures; waits for the step's end on the device. A diverged loss ends the run."""
        if self.end is not None:
            self.end.synchronize()
            self.seconds = self.since.elapsed_time(self.end) / 1e3
        loss_sum, grad_norm = self.values.tolist()
        loss = loss_sum / world_size
        if not math.isfinite(loss):
            raise FloatingPointError(f"loss became {loss} at step {self.step}: lower train.lr")
        return StepFigures(self.step, self.lr, loss, grad_norm, self.seconds)


class StepReader:
    """`start()` before a step's work, `hand_over(...)` after it; `settle()` before a pause.

    `hand_over` and `settle` return the figures of the steps whose reading is due, oldest first:
    every step's exactly once. `loss_sum` is the step's loss summed over the `world_size`
    processes (all-reduced).
    """

    def __init__(self, cuda: bool, world_size: int = 1) -> None:
        self.cuda, self.world_size = cuda, world_size
        self._pending: _Pending | None = None
        self._previous_end: torch.cuda.Event | None = None
        self._since: torch.cuda.Event | float | None = None

    def start(self) -> None:
        """Mark the start of a step: the previous step's end, or now after a pause."""
        self._since = self._previous_end if self._previous_end is not None else self._now()

    def hand_over(
        self, step: int, lr: float, loss_sum: torch.Tensor, grad_norm: torch.Tensor
    ) -> list[StepFigures]:
        """Queue this step's figures; return the previous step's, now that this one is queued."""
        pending = _Pending(step, lr, loss_sum, grad_norm, self._since)
        ready = self._read()
        self._pending, self._previous_end = pending, pending.end
        return ready

    def settle(self) -> list[StepFigures]:
        """Read the step in flight; the next step's time starts at its own start.

        Before an evaluation, a checkpoint (which holds every step before it), a stop or the end.
        """
        ready = self._read()
        self._pending = self._previous_end = None
        return ready

    def _read(self) -> list[StepFigures]:
        return [self._pending.read(self.world_size)] if self._pending is not None else []

    def _now(self) -> torch.cuda.Event | float:
        """Now, as a step's start: an event in the device's queue, or the host clock."""
        if not self.cuda:
            return time.perf_counter()
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event
