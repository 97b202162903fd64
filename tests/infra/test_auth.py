"""Who may move `champion`: a real basic-auth MLflow server on loopback, the real CLI as three users.

Only a user with EDIT (or MANAGE) on the registered model, or an admin, may promote or roll
back; no credentials and a READ user get a one-line "permission denied" and leave the alias where
it was. Also: infra/services.sh will not serve beyond loopback without credentials.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import pytest
from project_sandbox import ROOT, free_port, kill_group, run, sandbox_env, start, wait_healthy

SERVICES = ROOT / "infra" / "services.sh"
CREDENTIALS = (
    "MLFLOW_AUTH_ADMIN_PASSWORD",
    "MLFLOW_AUTH_CONFIG_PATH",
    "PREFECT_SERVER_API_AUTH_STRING",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
)
MODEL = "warc2gpt"
ADMIN = ("admin", "admin-pass-1234")
READER = ("reader", "reader-pass-1234")
EDITOR = ("editor", "editor-pass-1234")


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    """A `mlflow server --app-name basic-auth` on a free loopback port; yields its URL."""
    state = tmp_path_factory.mktemp("mlflow-auth")
    ini = state / "auth.ini"
    ini.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = sqlite:///{state}/auth.db\n"
        f"admin_username = {ADMIN[0]}\n"
        f"admin_password = {ADMIN[1]}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n",
        encoding="utf-8",
    )
    port = free_port()
    env = sandbox_env(
        ROOT,
        {
            "MLFLOW_AUTH_CONFIG_PATH": str(ini),
            "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-secret-key",
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        },
    )
    command = "mlflow server --app-name basic-auth --host 127.0.0.1 --workers 1".split()
    command += ["--port", str(port), "--backend-store-uri", f"sqlite:///{state}/mlflow.db"]
    command += ["--artifacts-destination", str(state / "mlartifacts")]
    server = start(command, state, state / "mlflow.log", env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(server, f"{url}/health", state / "mlflow.log", "the MLflow server")
        yield url
    finally:
        kill_group(server)


@contextmanager
def as_admin(url: str):
    """An MLflow client on `url` that sends the admin's credentials (read from the environment)."""
    from mlflow import MlflowClient

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_USERNAME", ADMIN[0])
        mp.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN[1])
        yield MlflowClient(tracking_uri=url, registry_uri=url)


@pytest.fixture(scope="module")
def registry(auth_server):
    """`warc2gpt` versions 1-3, champion 2 (it replaced 1); `reader` may READ, `editor` EDIT."""
    from mlflow.server import get_app_client

    from warc2gpt.registry.promotion import set_champion

    with as_admin(auth_server) as admin:
        run = admin.create_run(admin.create_experiment("auth-test"))
        admin.create_registered_model(MODEL)
        for _ in range(3):  # versions need no weights to carry an alias
            admin.create_model_version(MODEL, f"runs:/{run.info.run_id}/model", run.info.run_id)
        set_champion(admin, MODEL, "1", "first")
        set_champion(admin, MODEL, "2", "second")
        users = get_app_client("basic-auth", tracking_uri=auth_server)
        for (name, password), permission in ((READER, "READ"), (EDITOR, "EDIT")):
            users.create_user(name, password)
            users.grant_user_permission(name, "registered_model", MODEL, permission)
    return auth_server


def champion(url: str) -> str:
    """The `champion` alias's version, read as the admin."""
    with as_admin(url) as admin:
        return admin.get_registered_model(MODEL).aliases["champion"]


def models(url: str, user: tuple[str, str] | None, *args: str):
    """The real `warc2gpt models ...` command against `url`, as `user` (None: no credentials)."""
    extra = {"MLFLOW_TRACKING_URI": url}
    if user:
        extra |= {"MLFLOW_TRACKING_USERNAME": user[0], "MLFLOW_TRACKING_PASSWORD": user[1]}
    env = sandbox_env(ROOT, extra)
    if not user:
        env.pop("MLFLOW_TRACKING_USERNAME", None)
        env.pop("MLFLOW_TRACKING_PASSWORD", None)
    return run(["warc2gpt", "models", *args], ROOT, env, timeout=300, check=False)


def assert_denied(result, user: tuple[str, str] | None) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "permission denied" in lines[0], lines[0]
    assert "Traceback" not in result.stderr
    if user:
        assert user[1] not in result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.parametrize("user", [None, READER], ids=["no-credentials", "read-only"])
def test_promote_and_rollback_are_refused_without_edit_permission(registry, user):
    assert champion(registry) == "2"
    assert_denied(models(registry, user, "promote", "3"), user)
    assert champion(registry) == "2"
    assert_denied(models(registry, user, "rollback"), user)
    assert champion(registry) == "2"


@pytest.mark.slow
@pytest.mark.integration
def test_an_editor_promotes_and_rolls_back(registry):
    assert champion(registry) == "2"
    promoted = models(registry, EDITOR, "promote", "3")
    assert promoted.returncode == 0, promoted.stderr
    assert "champion is now version 3 (was 2)" in promoted.stdout
    assert champion(registry) == "3"
    # A read-only user can still list the versions, and cannot undo the promotion.
    listed = models(registry, READER, "list")
    assert listed.returncode == 0, listed.stderr
    assert "champion" in listed.stdout
    assert_denied(models(registry, READER, "rollback"), READER)
    assert champion(registry) == "3"
    rolled = models(registry, EDITOR, "rollback")
    assert rolled.returncode == 0, rolled.stderr
    assert "rolled back from version 3 to 2" in rolled.stdout
    assert champion(registry) == "2"


def start_services(state: Path, host: str, **credentials: str):
    """`infra/services.sh start` with only `credentials` set; stops whatever it may have started."""
    env = sandbox_env(
        ROOT,
        {
            "WARC2GPT_STATE": str(state),
            "WARC2GPT_HOST": host,
            # Should the refusal ever break, nothing lands on the usual ports or waits long.
            "PREFECT_PORT": str(free_port()),
            "MLFLOW_PORT": str(free_port()),
            "WARC2GPT_START_TIMEOUT": "1",
        },
    )
    for key in CREDENTIALS:
        env.pop(key, None)
    env.update(credentials)
    try:
        return run(["bash", str(SERVICES), "start"], ROOT, env, timeout=120, check=False)
    finally:
        run(["bash", str(SERVICES), "stop"], ROOT, env, timeout=120, check=False)


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "mlflow.internal"])
def test_services_refuse_a_non_loopback_bind_without_credentials(tmp_path, host):
    result = start_services(tmp_path, host)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"refusing to serve on {host} without authentication" in lines[0]
    assert "set MLFLOW_AUTH_ADMIN_PASSWORD and PREFECT_SERVER_API_AUTH_STRING" in lines[0]
    assert not list(tmp_path.glob("*.log"))  # nothing was started


def test_services_name_only_the_missing_credential(tmp_path):
    result = start_services(tmp_path, "0.0.0.0", MLFLOW_AUTH_ADMIN_PASSWORD="s3cret-admin")
    assert result.returncode == 1
    assert "set PREFECT_SERVER_API_AUTH_STRING (see infra/README.md)" in result.stderr
    assert "MLFLOW_AUTH_ADMIN_PASSWORD" not in result.stderr
    assert "s3cret-admin" not in result.stdout + result.stderr
    assert not list(tmp_path.glob("*.log"))
