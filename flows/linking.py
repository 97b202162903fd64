"""Run a stage's flow as a subflow of the pipeline's flow run, across the process boundary.

DVC starts every stage in a process of its own, so Prefect cannot see the pipeline run that
started it. Prefect links a subflow to its parent by two records: a placeholder task run in the
parent flow run, and the child flow run's `parent_task_run_id` pointing at it (the server then
mirrors the child's state onto the placeholder). The pipeline exports its flow run id in
`PARENT_FLOW_RUN_ENV`; `run_linked` makes the same two records through the API and runs the
flow in the flow run it created, so the UI shows each stage under the pipeline run.
"""

from __future__ import annotations

import logging
import os
import uuid
from typing import Any

from prefect import Flow, Task
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext
from prefect.flow_engine import run_flow
from prefect.states import Pending
from prefect.utilities.callables import get_call_parameters

PARENT_FLOW_RUN_ENV = "WARC2GPT_PREFECT_PARENT_FLOW_RUN_ID"
log = logging.getLogger(__name__)


def run_linked(flow_obj: Flow, parameters: dict[str, Any]) -> Any:
    """Run `flow_obj(**parameters)`, as a subflow of the pipeline run when one is exported.

    Inside a flow of this process Prefect links the subflow itself; without an exported parent
    (a stage run on its own) the flow runs as a top-level flow run. Returns the flow's result.
    """
    parent_id = os.environ.get(PARENT_FLOW_RUN_ENV)
    if not parent_id or FlowRunContext.get() is not None:
        return flow_obj(**parameters)
    call_parameters = get_call_parameters(flow_obj.fn, (), parameters)
    flow_run = create_linked_flow_run(flow_obj, call_parameters, parent_id)
    if flow_run is None:
        return flow_obj(**parameters)
    return run_flow(flow_obj, flow_run=flow_run, parameters=call_parameters)


def create_linked_flow_run(flow_obj: Flow, parameters: dict[str, Any], parent_id: str):
    """A pending flow run of `flow_obj` whose parent is flow run `parent_id`, or None (with a
    warning) when that run is not in this API: the stage then runs unlinked, never not at all."""
    placeholder = Task(name=flow_obj.name, fn=flow_obj.fn, version=flow_obj.version)
    try:
        with get_client(sync_client=True) as client:
            parent = client.read_flow_run(uuid.UUID(parent_id))
            task_run = client.create_task_run(
                task=placeholder,
                flow_run_id=parent.id,
                dynamic_key=uuid.uuid4().hex,
                name=flow_obj.name,
                state=Pending(),
            )
            return client.create_flow_run(
                flow=flow_obj,
                parameters=flow_obj.serialize_parameters(parameters),
                parent_task_run_id=task_run.id,
                state=Pending(),
            )
    except Exception as exc:  # noqa: BLE001 - linking is for the UI; the stage must run anyway
        log.warning(
            "%s=%s names no flow run in this Prefect API (%s); running %s unlinked",
            PARENT_FLOW_RUN_ENV,
            parent_id,
            exc,
            flow_obj.name,
        )
        return None
