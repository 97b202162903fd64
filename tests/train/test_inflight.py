"""Reading a step's figures one step late: every step once, in order, and a diverged loss stops."""

from __future__ import annotations

import pytest
import torch

from warc2gpt.train.inflight import StepReader


def step(reader: StepReader, n: int, loss: float) -> list:
    reader.start()
    return reader.hand_over(n, 0.1 * n, torch.tensor(loss), torch.tensor(2.0 * n))


def test_each_step_is_read_after_the_next_is_handed_over_and_settle_reads_the_last():
    reader = StepReader(cuda=False, world_size=2)
    assert step(reader, 0, 4.0) == []
    [first] = step(reader, 1, 3.0)
    assert (first.step, first.lr, first.loss, first.grad_norm) == (0, 0.0, 2.0, 0.0)
    assert first.seconds > 0
    [second] = reader.settle()
    assert (second.step, second.loss) == (1, 1.5)  # the sum over 2 processes, halved
    assert reader.settle() == []  # nothing twice
    assert step(reader, 2, 1.0) == []  # after a pause, the next step starts afresh


def test_a_non_finite_loss_ends_the_run_with_its_step():
    reader = StepReader(cuda=False)
    step(reader, 7, float("nan"))
    with pytest.raises(FloatingPointError, match="loss became nan at step 7: lower train.lr"):
        reader.settle()
