"""Prefect's cost per task and per flow run, as the stage flows use them.

    python benchmarks/prefect_overhead.py [--tasks 200]

Runs a flow of N trivial tasks (on the thread runner, and on the process runner the data
stages use) against the same calls made directly, under one temporary Prefect server, and
prints the overhead per task and the flow run's fixed cost.
"""

# ruff: noqa: I001  (flows first: it sets the offline defaults Prefect reads at import)
from __future__ import annotations

import argparse
import time

import flows  # noqa: F401  (offline, telemetry-free settings before Prefect loads)
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.stage import api_shared_with_workers
from flows.runners import task_runner_for


def work(i: int) -> int:
    return i * i


@task(cache_policy=NO_CACHE)
def work_task(i: int) -> int:
    return work(i)


@flow
def fan_out(n: int) -> int:
    with api_shared_with_workers():
        return sum(f.result() for f in work_task.map(range(n)))


@flow
def empty() -> None:
    return None


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    args = parser.parse_args()
    n = args.tasks
    direct = timed(lambda: sum(work(i) for i in range(n)))
    first = timed(empty)  # starts the temporary server
    rows = [("first flow run (server start)", first, None)]
    rows.append(("empty flow run", timed(empty), None))
    for runner in ("threads", "processes"):
        flow_fn = fan_out.with_options(task_runner=task_runner_for(runner, 2))
        seconds = timed(flow_fn, n)
        rows.append((f"{n} tasks, {runner} runner", seconds, (seconds - direct) / n))
    print(f"\n{'case':<34}{'seconds':>9}{'ms per task':>13}")
    for name, seconds, per_task in rows:
        extra = f"{per_task * 1000:>13.1f}" if per_task is not None else f"{'':>13}"
        print(f"{name:<34}{seconds:>9.2f}{extra}")


if __name__ == "__main__":
    main()
