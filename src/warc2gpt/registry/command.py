"""`warc2gpt register` (the stage) and `warc2gpt models list | promote VERSION | rollback`."""

from __future__ import annotations

import argparse
import os
import sys
from urllib.parse import urlsplit

from warc2gpt.cli import add_params_options, stage_command
from warc2gpt.config import load_params

# What an MLflow server with authentication answers a request it refuses (HTTP 401 and 403).
ACCESS_ERRORS = {"UNAUTHENTICATED", "PERMISSION_DENIED"}


REGISTER_DOC = """`warc2gpt register`: log the model to MLflow, register it as challenger, run the gate.

Log the trained model as an MLflow pyfunc, register a new version with alias `challenger`, and
move `champion` to it when its val bits-per-byte passes the promotion gate (register.promotion).
"""
register_stage = stage_command("register", REGISTER_DOC, [])


def register(sub: argparse._SubParsersAction) -> None:
    register_stage(sub)

    models = sub.add_parser(
        "models",
        help="list registered versions, promote one, or roll the champion back",
        description="Work with the registered model's versions and its `champion` alias.",
    )
    add_params_options(models)
    models.add_argument("--name", help="registered model name (default: register.model_name)")
    actions = models.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="versions, newest first, with aliases, val bpb and parent")
    promote = actions.add_parser("promote", help="make VERSION the champion")
    promote.add_argument("version")
    actions.add_parser(
        "rollback", help="return champion to the one before it; again to go further back"
    )
    models.set_defaults(func=run_models)


def run_models(args: argparse.Namespace) -> int:
    from mlflow.exceptions import MlflowException

    from warc2gpt.registry.promotion import (
        RegistryError,
        format_table,
        list_versions,
        promote,
        rollback,
    )
    from warc2gpt.registry.stage import registry_client

    params = load_params(args.params, args.overrides)
    name = args.name or params.register.model_name
    client = registry_client(params)
    try:
        if args.action == "list":
            print(format_table(list_versions(client, name)))
        elif args.action == "promote":
            previous = promote(client, name, args.version)
            print(f"{name}: champion is now version {args.version} (was {previous or 'none'})")
        else:
            demoted, restored = rollback(client, name)
            print(f"{name}: champion rolled back from version {demoted} to {restored}")
    except (RegistryError, MlflowException) as exc:
        problem = access_problem(exc, client.tracking_uri, args.action, name)
        if problem is None and not isinstance(exc, RegistryError):
            raise
        print(f"warc2gpt models: {problem or exc}", file=sys.stderr)
        return 1
    return 0


def access_problem(exc: BaseException, uri: str, action: str, name: str) -> str | None:
    """One line for a request the server refused over who sent it; None for any other error.

    Credentials come from the environment only (MLflow's client reads MLFLOW_TRACKING_USERNAME
    and MLFLOW_TRACKING_PASSWORD itself); the password is never shown.
    """
    from mlflow.exceptions import MlflowException

    cause = exc if isinstance(exc, MlflowException) else exc.__cause__
    if not isinstance(cause, MlflowException) or cause.error_code not in ACCESS_ERRORS:
        return None
    server = urlsplit(uri).netloc.rpartition("@")[2] or uri
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    if cause.error_code == "PERMISSION_DENIED":
        verb, need = ("read", "READ") if action == "list" else ("move the champion of", "EDIT")
        return (
            f"permission denied: user {user!r} may not {verb} registered model {name!r} "
            f"at {server}; it needs {need} on the model (an admin grants it: infra/README.md)"
        )
    if user:
        return (
            f"permission denied: {server} did not accept the password of user {user!r} "
            "(MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD)"
        )
    return (
        f"permission denied: {server} asks who you are: set MLFLOW_TRACKING_USERNAME and "
        "MLFLOW_TRACKING_PASSWORD"
    )
