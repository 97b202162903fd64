"""The Prefect task runner a data stage fans out on, chosen in params."""

from __future__ import annotations

from typing import Any


def task_runner_for(runner: str, workers: int, address: str = "") -> Any:
    """`threads` or `processes` locally; `dask` / `ray` reach a cluster (address) or start one."""
    if runner == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=workers)
    if runner == "processes":
        from prefect.task_runners import ProcessPoolTaskRunner

        return ProcessPoolTaskRunner(max_workers=workers)
    if runner == "dask":
        from prefect_dask import DaskTaskRunner

        if address:
            return DaskTaskRunner(address=address)
        return DaskTaskRunner(
            cluster_kwargs={
                "n_workers": workers,
                "threads_per_worker": 1,
                "processes": True,
                "dashboard_address": None,
            }
        )
    if runner == "ray":
        try:
            from prefect_ray import RayTaskRunner
        except ImportError:
            raise ImportError(
                "runner: ray needs the ray and prefect-ray packages (pip install 'warc2gpt[ray]')"
            ) from None
        if address:
            return RayTaskRunner(address=address)
        from warc2gpt.mapper import local_ray_options

        # a Ray instance of this run's own, never one that happens to run on the machine
        return RayTaskRunner(address="local", init_kwargs=local_ray_options(workers))
    raise ValueError(f"unknown task runner {runner!r}: expected threads, processes, dask or ray")
