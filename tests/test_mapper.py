"""The mapper: same results on every local kind, in call order, and progress from workers."""

from __future__ import annotations

import io
import os

import pytest

from warc2gpt.mapper import LocalMapper, advance, mapper_for
from warc2gpt.progress import Progress


def square_and_count(x: int) -> tuple[int, int]:
    advance(x, docs=1)
    return x * x, os.getpid()


@pytest.mark.parametrize("kind,workers", [("threads", 1), ("threads", 3), ("processes", 2)])
def test_results_in_call_order_and_progress_counted(kind: str, workers: int) -> None:
    progress = Progress("test", total=55, unit="B", enabled=True, stream=io.StringIO())
    results = LocalMapper(kind, workers).map(
        square_and_count, [(x,) for x in range(1, 11)], progress
    )
    progress.close()
    assert [r[0] for r in results] == [x * x for x in range(1, 11)]
    assert progress.count == 55 and progress.postfix["docs"] == 10
    pids = {r[1] for r in results}
    if kind == "processes":
        assert os.getpid() not in pids  # really ran in worker processes
    else:
        assert pids == {os.getpid()}


def fails_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    return x


@pytest.mark.parametrize("kind", ["threads", "processes"])
def test_a_failing_call_raises_its_own_error(kind: str) -> None:
    with pytest.raises(ValueError, match="three"):
        LocalMapper(kind, 2).map(fails_on_three, [(x,) for x in range(6)])


def test_unknown_runner_is_named() -> None:
    with pytest.raises(ValueError, match="unknown runner 'slurm'"):
        mapper_for("slurm", 2)
