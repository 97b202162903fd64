"""The mapper: same results on every local kind, in call order, and progress from workers."""

from __future__ import annotations

import io
import os
import signal

import pytest

from warc2gpt.mapper import LocalMapper, WorkerLost, advance, mapper_for
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


def dies_on_three(x: int, marker: str) -> int:
    """Kills its own worker for 3: always, or only the first time when `marker` is a path."""
    if x == 3 and not (marker and os.path.exists(marker)):
        if marker:
            open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return x * 10


def test_a_dead_worker_is_retried_once(tmp_path) -> None:
    marker = str(tmp_path / "died-once")
    results = LocalMapper("processes", 2).map(dies_on_three, [(x, marker) for x in range(6)])
    assert results == [0, 10, 20, 30, 40, 50] and os.path.exists(marker)


def test_a_call_that_kills_its_worker_twice_is_reported_and_the_others_finish() -> None:
    calls = [(x, "") for x in range(6)]
    lost = []
    results = LocalMapper("processes", 2).map(
        dies_on_three, calls, on_lost=lambda call, why: lost.append((call, why)) or "lost"
    )
    assert results == [0, 10, 20, "lost", 40, 50]
    assert lost == [((3, ""), "its worker process died twice (out of memory, or killed)")]
    with pytest.raises(WorkerLost, match=r"dies_on_three\(3, ''\): the worker process died"):
        LocalMapper("processes", 2).map(dies_on_three, calls)
