"""What every stage flow shares: params loading, the I/O retry rule, the `python -m` entry."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from warc2gpt.offline import apply_offline_defaults

apply_offline_defaults()

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


def with_configured_runner(
    flow_obj: Any, section: str, params_path: str, overrides: list[str] | None
) -> Any:
    """Run a data-stage flow on the task runner its params section names."""
    from flows.runners import task_runner_for
    from warc2gpt.config import load_params

    settings = getattr(load_params(params_path, overrides or []), section)
    runner = task_runner_for(settings.runner, settings.workers, settings.cluster_address)
    return flow_obj.with_options(task_runner=runner)(params_path, overrides)


def run_flow_cli(flow_fn: Callable, description: str, argv: list[str] | None = None) -> int:
    """`python -m flows.<stage> [--params FILE] [--set key=value ...]`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    flow_fn(params_path=args.params, overrides=args.overrides)
    return 0
