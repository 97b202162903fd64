"""The one Prefect flow wrapper every stage runs under: `python -m flows.<stage>`.

It does what the command line does — params, the stage's `run` through `run_stage`, its
summary — with a mapper that submits each call as a Prefect task on the task runner the stage's
settings name (threads, processes, Dask, Ray), and adds the summary as a Markdown artifact.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.runners import task_runner_for
from warc2gpt.config import load_params
from warc2gpt.mapper import Bar, Call, Calls, Fn, Lost, gather, reporting_to
from warc2gpt.stages import fan_out, run_stage, stage, summary

TRANSIENT_ERRORS = (OSError, TimeoutError, ConnectionError)


def retry_on_io_error(task, task_run, state) -> bool:
    """Prefect retry condition: retry transient I/O failures, never a deterministic bug."""
    try:
        exc = state.result(raise_on_failure=False)
    except Exception as raised:  # noqa: BLE001 - the state's own exception
        exc = raised
    return isinstance(exc, TRANSIENT_ERRORS) and not isinstance(
        exc, (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)
    )


def _call_name(fn: Callable[..., Any], call: Call) -> str:
    first = next((a for a in call if isinstance(a, (str, int)) and not isinstance(a, bool)), "")
    label = os.path.basename(first) if isinstance(first, str) else first
    return f"{fn.__name__} {label}".strip()


@functools.cache
def _as_task(fn: Callable[..., Any], stage_name: str) -> Any:
    # DVC decides what is stale and the steps resume from their own files: no Prefect cache.
    return task(
        fn,
        name=f"{stage_name}-{fn.__name__.replace('_', '-')}",
        retries=2,
        retry_delay_seconds=[2, 10],
        retry_condition_fn=retry_on_io_error,
        cache_policy=NO_CACHE,
    )


class PrefectMapper:
    """Each call as a task of the current flow run, on the flow's task runner.

    A call whose Dask or Ray worker died on every try is reported through `on_lost`, as the
    command reports it; on a local process pool the broken pool fails the run.
    """

    def __init__(self, stage_name: str, workers: int) -> None:
        self.stage_name, self.workers = stage_name, workers

    def map(self, fn: Fn, calls: Calls, progress: Bar = None, on_lost: Lost = None) -> list[Any]:
        calls = list(calls)
        as_task = _as_task(fn, self.stage_name)
        runner = _task_runner()
        # Tasks on threads report to the progress here; on processes or a cluster they cannot,
        # and Prefect's own log line per finished task takes its place.
        if progress is not None and not _is_runner(runner, "prefect.task_runners", "ThreadPool"):
            progress.discard()
            progress = None
        with reporting_to(progress), _ray_task_options(runner):
            futures = [
                as_task.with_options(task_run_name=_call_name(fn, call)).submit(*call)
                for call in calls
            ]
            return gather(fn, calls, futures, lambda future: future.result(), on_lost)


def _task_runner() -> Any:
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    return context.task_runner if context is not None else None


def _is_runner(runner: Any, module: str, kind: str) -> bool:
    """Whether `runner` is `module`'s `<kind>TaskRunner`, without importing `module`."""
    cls = getattr(sys.modules.get(module), f"{kind}TaskRunner", None)
    return cls is not None and isinstance(runner, cls)


def _ray_task_options(runner: Any) -> Any:
    """On Ray: a task whose worker dies is retried once (as on local processes), and the
    workers report to this flow's API. Ray workers keep the environment of the node that
    started them, so without it each would start a temporary Prefect server of its own."""
    if not _is_runner(runner, "prefect_ray.task_runners", "Ray"):
        return nullcontext()
    from prefect_ray.context import remote_options

    api = os.environ.get("PREFECT_API_URL")
    env = {"PREFECT_API_URL": api} if api else {}
    return remote_options(max_retries=1, runtime_env={"env_vars": env})


@contextmanager
def api_shared_with_workers() -> Iterator[None]:
    """Inside a flow: point task-runner worker processes at this flow's API.

    Without it each worker process of a process pool (or Dask worker on this machine) that finds
    no PREFECT_API_URL starts a temporary server of its own: seconds of start-up per worker.
    """
    if os.environ.get("PREFECT_API_URL"):
        yield
        return
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        os.environ["PREFECT_API_URL"] = str(client.api_url).rstrip("/")
    try:
        yield
    finally:
        os.environ.pop("PREFECT_API_URL", None)


def stage_flow(name: str) -> Any:
    """The Prefect flow of stage `name`, on the task runner its settings name."""

    @flow(name=name, log_prints=True)
    def run_stage_flow(params_path: str = "params.yaml", overrides: list[str] | None = None):
        params = load_params(params_path, overrides or [])
        _, workers, _ = fan_out(stage(name).settings(params))
        with api_shared_with_workers():
            metrics = run_stage(name, params, PrefectMapper(name, workers))
        text = summary(name, metrics)
        print(text)
        create_markdown_artifact(
            key=f"{name}-summary",
            markdown=f"```\n{text}\n```",
            description=f"the {name} stage's figures",
        )
        get_run_logger().info("%s finished", name)
        return metrics

    run_stage_flow.__doc__ = f"Run the {name} stage (warc2gpt.stages) as a Prefect flow."
    return run_stage_flow


def configured_flow(name: str, params_path: str, overrides: list[str]) -> Any:
    """The stage's flow with the task runner its params section names."""
    runner, workers, address = fan_out(stage(name).settings(load_params(params_path, overrides)))
    return stage_flow(name).with_options(task_runner=task_runner_for(runner, workers, address))


def run_flow(name: str, params_path: str = "params.yaml", overrides: list[str] | None = None):
    """Run stage `name`'s flow in this process; linked under the pipeline's run when it runs
    inside one."""
    from flows.linking import run_linked

    overrides = list(overrides or [])
    flow_obj = configured_flow(name, params_path, overrides)
    return run_linked(flow_obj, {"params_path": params_path, "overrides": overrides})


class StageFlow:
    """A stage's flow entry: call it to run the flow, `main()` for `python -m flows.<stage>`."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(
        self, params_path: str = "params.yaml", overrides: list[str] | None = None
    ) -> dict[str, Any]:
        return run_flow(self.name, params_path, overrides)

    def main(self, argv: list[str] | None = None) -> int:
        parser = argparse.ArgumentParser(
            description=f"Run the {self.name} stage as a Prefect flow."
        )
        parser.add_argument("--params", default="params.yaml")
        parser.add_argument(
            "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE"
        )
        args = parser.parse_args(argv)
        self(args.params, args.overrides)
        return 0
