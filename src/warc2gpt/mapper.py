"""How a stage fans work out: the one place where threads, processes, Dask or Ray are chosen.

A stage's `run(params, mapper)` calls `mapper.map(fn, calls)` with module-level functions and
argument tuples; results come back in the order of the calls. The command line builds a
`LocalMapper` (or a Dask/Ray one) from the stage's `runner` and `workers` settings; the Prefect
flow builds a mapper that submits each call as a task on the task runner the same settings
choose, so both do the same work with the same parallelism.

Work functions report progress with `advance(n)` (documents, bytes): in this process, in threads
and in local worker processes it reaches the `Progress` given to `map`; elsewhere it is a no-op.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
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


# Where advance() sends its counts: a callback in this process, or a queue to the parent.
_sink: Callable[..., None] | None = None
_sink_lock = threading.Lock()
_channel: Any = None


def advance(n: float = 1, **counts: int) -> None:
    """Count `n` units of progress (and named `counts`, e.g. docs=1) for the enclosing `map`."""
    if _channel is not None:
        _channel.put((n, counts))
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
    global _channel
    _channel = channel


class Mapper(Protocol):
    """Runs `fn(*call)` for every call, possibly in parallel; results in call order."""

    workers: int

    def map(
        self, fn: Fn, calls: Calls, progress: Bar = None, on_lost: Lost = None
    ) -> list[Any]: ...


def _gather(futures: list[Future]) -> list[Any]:
    """Every future's result in order; the first failure cancels what has not started."""
    try:
        return [future.result() for future in futures]
    except BaseException:
        for future in futures:
            future.cancel()
        raise


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
                    return _gather([pool.submit(fn, *call) for call in calls])
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
        if lost:
            names = ", ".join(f"{fn.__name__}{_short(call)}" for call in lost)
            raise WorkerLost(f"{names}: the worker process died twice (out of memory, or killed)")
        return [results[i] for i in range(len(calls))]


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
            except queue.Empty:
                if self._stop_event.is_set():
                    return
                continue
            self.progress.advance(n, **counts)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


class ClusterMapper:
    """Calls on a Dask or Ray cluster (`address`), or on a local one of `workers` processes.

    Progress stays with the engine's own dashboard: work on other machines cannot report here.
    """

    def __init__(self, engine: str, workers: int, address: str = "") -> None:
        self.engine, self.workers, self.address = engine, workers, address

    def map(self, fn: Fn, calls: Calls, progress: Bar = None, on_lost: Lost = None) -> list[Any]:
        # The engine retries tasks whose worker died; `on_lost` has nothing to stand in for.
        session = _dask_session if self.engine == "dask" else _ray_session
        with session(self.workers, self.address) as run_all:
            return run_all(fn, list(calls))


@contextmanager
def _dask_session(workers: int, address: str) -> Iterator[Callable[..., list[Any]]]:
    from dask.distributed import Client, LocalCluster

    cluster = None
    if not address:
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
    client = Client(address or cluster)
    try:
        yield lambda fn, calls: client.gather([client.submit(fn, *c, pure=False) for c in calls])
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


@contextmanager
def _ray_session(workers: int, address: str) -> Iterator[Callable[..., list[Any]]]:
    try:
        import ray
    except ImportError:
        raise ImportError(
            "runner: ray needs the ray package (pip install 'ray[default]'); "
            "it is not installed with warc2gpt"
        ) from None
    started = not ray.is_initialized()
    if started:
        ray.init(address=address or None, num_cpus=None if address else workers)
    try:
        yield lambda fn, calls: ray.get([ray.remote(fn).remote(*c) for c in calls])
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
