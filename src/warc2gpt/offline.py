"""Keep every tool of the stack offline and quiet unless the user says otherwise.

Called before Prefect, MLflow or DVC is imported: none of them may wait on the network. Run
from the checkout, Prefect keeps its history in the project's `.prefect/`, so the temporary
server of `make run`, `infra/services.sh` and `prefect server start` all see the same runs, and
the links Prefect prints point where `prefect server start` serves them.
"""

from __future__ import annotations

import os
from pathlib import Path

OFFLINE_DEFAULTS = {
    "DO_NOT_TRACK": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "DVC_NO_ANALYTICS": "1",
    "HF_HUB_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "RAY_USAGE_STATS_ENABLED": "0",
}
# Where `prefect server start` serves its UI by default.
LOCAL_PREFECT_UI = "http://127.0.0.1:4200"
# Set beside a PREFECT_UI_URL that these defaults chose: the API address it was chosen for
# ("" for the temporary server). A child process given another API drops the inherited UI.
UI_DEFAULT_FOR = "WARC2GPT_PREFECT_UI_DEFAULT_FOR"


def project_root(cwd: Path | None = None) -> Path | None:
    """The warc2gpt checkout a command runs in (DVC runs stages there too), else None."""
    cwd = Path.cwd() if cwd is None else cwd
    if (cwd / "dvc.yaml").is_file() and (cwd / "flows" / "pipeline.py").is_file():
        return cwd
    return None


def apply_offline_defaults() -> None:
    """Set the telemetry-off variables, the project's Prefect home and the Prefect UI address
    that the user has not set."""
    for key, value in OFFLINE_DEFAULTS.items():
        os.environ.setdefault(key, value)
    root = project_root()
    if root is not None:
        os.environ.setdefault("PREFECT_HOME", str(root / ".prefect"))
    api = os.environ.get("PREFECT_API_URL", "")
    if os.environ.get(UI_DEFAULT_FOR, api) != api:
        # inherited from a process that used another API: Prefect derives the UI from this one
        os.environ.pop("PREFECT_UI_URL", None)
        os.environ.pop(UI_DEFAULT_FOR)
    if not api and "PREFECT_UI_URL" not in os.environ:
        # With no server named, runs go to a temporary one whose port dies with the run; its
        # history stays in PREFECT_HOME, where `prefect server start` serves it on 4200.
        os.environ["PREFECT_UI_URL"] = LOCAL_PREFECT_UI
        os.environ[UI_DEFAULT_FOR] = ""


def share_prefect_api(env: dict[str, str], api_url: str) -> None:
    """Point a child process's `env` at `api_url`, the API this process reports to (the
    temporary server too), keeping the UI address this process links to."""
    env["PREFECT_API_URL"] = api_url
    if UI_DEFAULT_FOR in env:
        env[UI_DEFAULT_FOR] = api_url
