"""The mapper: same results on every kind, in call order, progress from workers, lost calls."""

from __future__ import annotations

import io
import os
import signal

import pytest

from warc2gpt.mapper import (
    ClusterMapper,
    LocalMapper,
    WorkerLost,
    _CountBatch,
    advance,
    lost_call_reason,
    mapper_for,
)
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


def test_a_call_lost_on_a_cluster_is_told_from_its_own_failure() -> None:
    from distributed import KilledWorker
    from ray.exceptions import NodeDiedError, WorkerCrashedError

    assert lost_call_reason(WorkerCrashedError()) == (
        "its Ray worker died twice (WorkerCrashedError: out of memory, or killed)"
    )
    assert lost_call_reason(NodeDiedError("node gone")).startswith("its Ray worker died twice")
    assert lost_call_reason(KilledWorker("curate_file-1", None, 2)) == (
        "its Dask worker died 3 times (out of memory, or killed)"
    )
    assert lost_call_reason(ValueError("three")) is None
    assert lost_call_reason(OSError("disk full")) is None


class ListChannel(list):
    def put(self, item) -> None:
        self.append(item)


def test_counts_from_cluster_workers_travel_in_batches() -> None:
    channel = ListChannel()
    batch = _CountBatch(channel, every_s=60)
    for _ in range(1000):
        batch.put((2.0, {"docs": 1}))
    batch.flush()
    assert len(channel) == 2  # the first count at once, then the rest when the call ends
    assert sum(n for n, _ in channel) == 2000 and sum(c["docs"] for _, c in channel) == 1000
    batch.flush()
    assert len(channel) == 2  # nothing new: nothing sent


@pytest.mark.slow
def test_calls_on_a_local_dask_cluster_report_their_progress() -> None:
    progress = Progress("test", total=55, unit="B", enabled=True, stream=io.StringIO())
    calls = [(x,) for x in range(1, 11)]
    results = ClusterMapper("dask", 2).map(square_and_count, calls, progress)
    progress.close()
    assert [r[0] for r in results] == [x * x for x in range(1, 11)]
    assert progress.count == 55 and progress.postfix["docs"] == 10
    assert os.getpid() not in {r[1] for r in results}
