"""How a stage fans work out: the one place where threads, processes, Dask or Ray are chosen.

A stage's `run(params, mapper)` calls `mapper.map(fn, calls)` with module-level functions and
argument tuples; results come back in the order of the calls. The command line builds a
`LocalMapper` (or a Dask/Ray one) from the stage's `runner` and `workers` settings; the Prefect
flow builds a mapper that submits each call as a task on the task runner the same settings
choose, so both do the same work with the same parallelism.

Work functions report progress with `advance(n)` (documents, bytes): in this process, in threads,
in local worker processes and on Dask or Ray workers it reaches the `Progress` given to `map`;
in a Prefect task off this process's threads it is a no-op (Prefect logs each finished task).
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from warc2gpt.progress import Progress

Call = tuple[Any, ...]
# What stands in for the result of a call whose worker process died twice: (call, reason).
OnLost = Callable[[Call, str], Any]
# The parts of `map(fn, calls, progress, on_lost)`, named once for every mapper.
Fn = Callable[..., Any]
Calls = Sequence[Call]
Bar = Progress | None
Lost = OnLost | None


class WorkerLost(RuntimeError):
    """A call killed its worker process again after being retried."""


# Where advance() sends its counts: a callback in this process, or a channel to the process
# that maps (per thread: a Dask worker may run several calls at once).
_sink: Callable[..., None] | None = None
_sink_lock = threading.Lock()
_worker = threading.local()


def advance(n: float = 1, **counts: int) -> None:
    """Count `n` units of progress (and named `counts`, e.g. docs=1) for the enclosing `map`."""
    channel = getattr(_worker, "channel", None)
    if channel is not None:
        channel.put((n, counts))
    elif _sink is not None:
        with _sink_lock:
            _sink(n, **counts)


@contextmanager
def reporting_to(progress: Progress | None) -> Iterator[None]:
    """Inside the block, `advance` in this process (its threads included) counts to `progress`."""
    global _sink
    previous, _sink = _sink, (progress.advance if progress is not None else None)
    try:
        yield
    finally:
        _sink = previous


def _set_channel(channel: Any) -> None:
    _worker.channel = channel


class Mapper(Protocol):
    """Runs `fn(*call)` for every call, possibly in parallel; results in call order."""

    workers: int

    def map(
        self, fn: Fn, calls: Calls, progress: Bar = None, on_lost: Lost = None
    ) -> list[Any]: ...


class LocalMapper:
    """Threads or processes on this machine; one worker (or one call) runs in this process.

    Processes are forked where the platform allows, so state a stage built before mapping
    (a language model, a multi-million-domain blocklist) is shared copy-on-write, not rebuilt.
    """

    def __init__(self, kind: str = "processes", workers: int = 1) -> None:
        if kind not in ("threads", "processes"):
            raise ValueError(f"unknown local mapper {kind!r}: expected threads or processes")
        self.kind, self.workers = kind, workers

    @property
    def in_process(self) -> bool:
        return self.workers <= 1

    def map(self, fn: Fn, calls: Calls, progress: Bar = None, on_lost: Lost = None) -> list[Any]:
        calls = list(calls)
        with reporting_to(progress):
            if self.in_process or len(calls) <= 1:
                return [fn(*call) for call in calls]
            if self.kind == "threads":
                with ThreadPoolExecutor(min(self.workers, len(calls))) as pool:
                    futures = [pool.submit(fn, *call) for call in calls]
                    return gather(fn, calls, futures, Future.result, cancel=Future.cancel)
            return self._map_processes(fn, calls, progress, on_lost)

    def _map_processes(
        self,
        fn: Callable[..., Any],
        calls: list[Call],
        progress: Progress | None,
        on_lost: OnLost | None,
    ) -> list[Any]:
        """Calls on a pool of worker processes. A worker that dies (out of memory, killed)
        breaks the pool: the calls not finished go to a fresh pool once; those still not
        finished then run one at a time, and a call that kills its worker again is lost:
        `on_lost(call, reason)` stands in for its result, or WorkerLost is raised once every
        other call has finished."""
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        context = multiprocessing.get_context(method)
        channel = context.Queue() if progress is not None else None
        pump = _Pump(channel, progress) if channel is not None else None
        results: dict[int, Any] = {}
        lost: list[Call] = []
        try:
            pending = list(range(len(calls)))
            for workers in (self.workers, self.workers):
                pending = _run_pool(fn, calls, pending, results, context, channel, workers)
            for index in pending:
                if _run_pool(fn, calls, [index], results, context, channel, 1):
                    reason = "its worker process died twice (out of memory, or killed)"
                    if on_lost is None:
                        lost.append(calls[index])
                    else:
                        results[index] = on_lost(calls[index], reason)
        finally:
            if pump is not None:
                pump.stop()
        _raise_lost(fn, lost, "the worker process died twice (out of memory, or killed)")
        return [results[i] for i in range(len(calls))]


def _raise_lost(fn: Fn, lost: list[Call], reason: str) -> None:
    """WorkerLost naming every call in `lost`, if any."""
    if lost:
        names = ", ".join(f"{fn.__name__}{_short(call)}" for call in lost)
        raise WorkerLost(f"{names}: {reason}")


def _short(call: Call) -> str:
    return "(" + ", ".join(repr(a) if isinstance(a, (str, int)) else "..." for a in call) + ")"


def _run_pool(
    fn: Callable[..., Any],
    calls: list[Call],
    indices: list[int],
    results: dict[int, Any],
    context: Any,
    channel: Any,
    workers: int,
) -> list[int]:
    """Run `calls[indices]` on a fresh pool into `results`; returns the indices left unfinished
    because a worker died (an exception raised by a call itself propagates)."""
    if not indices:
        return []
    pool = ProcessPoolExecutor(
        min(workers, len(indices)),
        mp_context=context,
        initializer=_set_channel,
        initargs=(channel,),
    )
    with pool:
        futures = {i: pool.submit(fn, *calls[i]) for i in indices}
        try:
            for i, future in futures.items():
                results[i] = future.result()
        except BrokenProcessPool:
            for i, future in futures.items():
                if i not in results and future.done() and not future.cancelled():
                    if future.exception() is None:
                        results[i] = future.result()
            return [i for i in indices if i not in results]
        except BaseException:
            for future in futures.values():
                future.cancel()
            raise
    return []


class _Pump(threading.Thread):
    """Moves the counts worker processes put on the channel into the parent's Progress."""

    def __init__(self, channel: Any, progress: Progress) -> None:
        super().__init__(daemon=True, name="progress-pump")
        self.channel, self.progress = channel, progress
        self._stop_event = threading.Event()
        self.start()

    def run(self) -> None:
        while True:
            try:
                n, counts = self.channel.get(timeout=0.2)
            except (queue.Empty, TimeoutError):  # TimeoutError: a Dask queue's empty
                if self._stop_event.is_set():
                    return
                continue
            self.progress.advance(n, **counts)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


class ClusterMapper:
    """Calls on a Dask or Ray cluster (`address`), or on a local one of `workers` processes.

    `advance` on the workers reaches `progress` in batches, through a queue the engine keeps.
    A call whose worker dies is run again by the engine (Ray: once; Dask: as often as its
    scheduler's `allowed-failures`); when it is lost all the same, `on_lost(call, reason)`
    stands in for its result, or WorkerLost is raised once every other call has finished, as
    on local processes.
    """

    def __init__(self, engine: str, workers: int, address: str = "") -> None:
        self.engine, self.workers, self.address = engine, workers, address

    def map(self, fn: Fn, calls: Calls, progress: Bar = None, on_lost: Lost = None) -> list[Any]:
        calls = list(calls)
        session = _dask_session if self.engine == "dask" else _ray_session
        with session(self.workers, self.address) as engine:
            channel = engine.channel() if progress is not None and calls else None
            pump = _Pump(channel, progress) if channel is not None else None
            batch = _CountBatch(channel) if channel is not None else None
            try:
                handles = [engine.submit(batch, fn, *call) for call in calls]
                return gather(fn, calls, handles, engine.result, on_lost, engine.cancel)
            finally:
                if pump is not None:
                    pump.stop()


def lost_call_reason(exc: BaseException) -> str | None:
    """Why a call is lost when a cluster engine raises `exc` for it (its worker died again
    after the engine retried it); None when `exc` is the call's own failure."""
    ray_errors = sys.modules.get("ray.exceptions")
    if ray_errors is not None and isinstance(
        exc, (ray_errors.WorkerCrashedError, ray_errors.NodeDiedError, ray_errors.OutOfMemoryError)
    ):
        return f"its Ray worker died twice ({type(exc).__name__}: out of memory, or killed)"
    dask_scheduler = sys.modules.get("distributed.scheduler")
    if dask_scheduler is not None and isinstance(exc, dask_scheduler.KilledWorker):
        return f"its Dask worker died {exc.allowed_failures + 1} times (out of memory, or killed)"
    return None


def gather(
    fn: Fn,
    calls: list[Call],
    handles: list[Any],
    result: Callable[[Any], Any],
    on_lost: Lost = None,
    cancel: Callable[[Any], Any] | None = None,
) -> list[Any]:
    """`result(handle)` of every call in order. A lost call (`lost_call_reason`) is reported
    as on local processes; the first failure of a call itself cancels the rest and is raised."""
    results: list[Any] = []
    lost: list[Call] = []
    reason = ""
    try:
        for call, handle in zip(calls, handles, strict=True):
            try:
                results.append(result(handle))
            except Exception as exc:
                reason = lost_call_reason(exc) or ""
                if not reason:
                    raise
                if on_lost is None:
                    lost.append(call)
                results.append(None if on_lost is None else on_lost(call, reason))
    except BaseException:
        if cancel is not None:
            for handle in handles:
                cancel(handle)
        raise
    _raise_lost(fn, lost, reason)
    return results


@dataclass(frozen=True)
class _Engine:
    """What ClusterMapper asks of a cluster."""

    submit: Callable[..., Any]  # (batch, fn, *args) -> handle of `_call_reporting` on a worker
    result: Callable[[Any], Any]  # handle -> fn's result, or its exception raised
    cancel: Callable[[Any], Any] | None  # None: leaving the session ends what is left
    channel: Callable[[], Any]  # a queue: workers put, `_Pump` gets


def _call_reporting(batch: _CountBatch | None, fn: Fn, *args: Any) -> Any:
    """One call on a cluster worker, its `advance` counts sent through `batch`."""
    _set_channel(batch)
    try:
        return fn(*args)
    finally:
        _set_channel(None)
        if batch is not None:
            batch.flush()


class _CountBatch:
    """A worker's `advance` counts, put on the engine's queue at most every `every_s` seconds
    (each put is a round trip to the cluster) and when the call ends."""

    def __init__(self, channel: Any, every_s: float = 0.5) -> None:
        self.channel, self.every_s = channel, every_s
        self.n, self.counts, self.sent = 0.0, {}, 0.0

    def put(self, item: tuple[float, dict[str, int]]) -> None:
        n, counts = item
        self.n += n
        for key, value in counts.items():
            self.counts[key] = self.counts.get(key, 0) + value
        if time.monotonic() - self.sent >= self.every_s:
            self.flush()

    def flush(self) -> None:
        if self.n or self.counts:
            self.channel.put((self.n, self.counts))
            self.n, self.counts = 0.0, {}
        self.sent = time.monotonic()


@contextmanager
def _dask_session(workers: int, address: str) -> Iterator[_Engine]:
    from dask.distributed import Client, LocalCluster, Queue

    cluster = None
    if not address:
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
    client = Client(address or cluster)
    try:
        yield _Engine(
            submit=lambda *args: client.submit(_call_reporting, *args, pure=False),
            result=lambda future: future.result(),
            cancel=lambda future: future.cancel(),
            channel=lambda: Queue(client=client),
        )
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def local_ray_options(workers: int) -> dict[str, Any]:
    """`ray.init` settings of a Ray instance started on this machine for one run: `workers`
    CPUs and no dashboard."""
    return {"num_cpus": workers, "include_dashboard": False}


@contextmanager
def _ray_session(workers: int, address: str) -> Iterator[_Engine]:
    try:
        import ray
    except ImportError:
        raise ImportError(
            "runner: ray needs the ray package (pip install 'warc2gpt[ray]'); "
            "it is not installed with warc2gpt"
        ) from None
    from ray.util.queue import Queue

    started = not ray.is_initialized()
    if started and address:
        ray.init(address=address)
    elif started:  # "local": a new instance, never one that `ray start` left running here
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(address="local", **local_ray_options(workers))
    remote = ray.remote(max_retries=1)(_call_reporting)
    try:
        yield _Engine(
            submit=lambda *args: remote.remote(*args),
            result=ray.get,
            # ray.cancel racing a task that is finishing aborts this process (a Ray bug,
            # ray-project/ray#54846); the tasks left end with the job at ray.shutdown.
            cancel=None,
            channel=lambda: Queue(actor_options={"num_cpus": 0}),  # placed on a busy cluster too
        )
    finally:
        if started:
            ray.shutdown()


def mapper_for(runner: str, workers: int, address: str = "") -> Mapper:
    """The mapper a stage's settings name: threads, processes, dask or ray."""
    if runner in ("threads", "processes"):
        return LocalMapper(runner, workers)
    if runner in ("dask", "ray"):
        return ClusterMapper(runner, workers, address)
    raise ValueError(f"unknown runner {runner!r}: expected threads, processes, dask or ray")
