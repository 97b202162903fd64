#!/usr/bin/env bash
# Start, stop or check a Prefect server and an MLflow server on 127.0.0.1.
#   infra/services.sh start|stop|status
# Defaults: Prefect's history in the checkout's .prefect/ (PREFECT_HOME, as `make run` and
# `prefect server start` see it), MLflow's SQLite database and artifacts under $WARC2GPT_STATE
# (infra/.state), ports 4200 and 5000 (PREFECT_PORT, MLFLOW_PORT), host 127.0.0.1 (WARC2GPT_HOST).
# Authentication: MLflow's basic-auth app when MLFLOW_AUTH_ADMIN_PASSWORD (or
# MLFLOW_AUTH_CONFIG_PATH) is set, Prefect's API auth string when PREFECT_SERVER_API_AUTH_STRING
# is set; a host other than loopback is refused without both.
# Production: set PREFECT_API_DATABASE_CONNECTION_URL / MLFLOW_BACKEND_STORE_URI to PostgreSQL,
# MLFLOW_ARTIFACTS_DESTINATION to an S3 bucket, MLFLOW_ALLOWED_HOSTS when serving beyond
# localhost (see infra/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] && export PATH="$PWD/.venv/bin:$PATH"

STATE=${WARC2GPT_STATE:-$PWD/infra/.state}
HOST=${WARC2GPT_HOST:-127.0.0.1}
PREFECT_PORT=${PREFECT_PORT:-4200}
MLFLOW_PORT=${MLFLOW_PORT:-5000}
mkdir -p "$STATE"

export DO_NOT_TRACK=true PREFECT_SERVER_ANALYTICS_ENABLED=false MLFLOW_DISABLE_TELEMETRY=true
export PREFECT_HOME=${PREFECT_HOME:-$PWD/.prefect}
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false

is_loopback() {  # host: reachable from this machine only
  case "$1" in 127.0.0.1 | localhost | ::1 | "[::1]") return 0 ;; *) return 1 ;; esac
}

mlflow_auth() { [ -n "${MLFLOW_AUTH_ADMIN_PASSWORD:-}${MLFLOW_AUTH_CONFIG_PATH:-}" ]; }
prefect_auth() { [ -n "${PREFECT_SERVER_API_AUTH_STRING:-}" ]; }

require_auth() {  # beyond loopback anyone on the network could move `champion`: refuse
  is_loopback "$HOST" && return 0
  local missing=()
  mlflow_auth || missing+=("MLFLOW_AUTH_ADMIN_PASSWORD")
  prefect_auth || missing+=("PREFECT_SERVER_API_AUTH_STRING")
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "$0: refusing to serve on $HOST without authentication: set ${missing[0]}${missing[1]:+ and ${missing[1]}} (see infra/README.md)" >&2
  exit 1
}

mlflow_auth_config() {  # the auth app's ini: the user's own, else one in $STATE (no secrets in it)
  if [ -n "${MLFLOW_AUTH_CONFIG_PATH:-}" ]; then
    echo "$MLFLOW_AUTH_CONFIG_PATH"
    return
  fi
  cat >"$STATE/mlflow-auth.ini" <<INI
[mlflow]
default_permission = READ
database_uri = sqlite:///$STATE/mlflow-auth.db
admin_username = ${MLFLOW_AUTH_ADMIN_USERNAME:-admin}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
INI
  echo "$STATE/mlflow-auth.ini"
}

mlflow_secret_key() {  # basic-auth's CSRF key must outlive a restart: kept in $STATE, mode 600
  if [ -z "${MLFLOW_FLASK_SERVER_SECRET_KEY:-}" ]; then
    [ -s "$STATE/mlflow-secret-key" ] ||
      (umask 077 && python -c 'import secrets; print(secrets.token_hex(32))' >"$STATE/mlflow-secret-key")
    MLFLOW_FLASK_SERVER_SECRET_KEY=$(cat "$STATE/mlflow-secret-key")
    export MLFLOW_FLASK_SERVER_SECRET_KEY
  fi
}

alive() {  # pid: running and not a zombie
  kill -0 "$1" 2>/dev/null && [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != "Z" ]
}

group_alive() {  # process group id: any member still running (zombies do not count)
  ps -eo pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}

wait_http() {  # name, url, seconds: the server answers, or its process died
  for _ in $(seq 1 "$3"); do
    if ! alive "$(cat "$STATE/$1.pid")"; then
      echo "$1 exited while starting; the end of $STATE/$1.log:" >&2
      tail -n 20 "$STATE/$1.log" >&2
      return 1
    fi
    python - "$2" <<'PY' && return 0
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=2)
except Exception:
    sys.exit(1)
PY
    sleep 1
  done
  echo "no answer from $2 after $3 s; see $STATE/$1.log" >&2
  return 1
}

start() {
  require_auth
  if [ ! -f "$STATE/prefect.pid" ] || ! alive "$(cat "$STATE/prefect.pid")"; then
    # Prefect reads PREFECT_SERVER_API_AUTH_STRING itself; the server's own client needs it too.
    prefect_auth && export PREFECT_API_AUTH_STRING=${PREFECT_API_AUTH_STRING:-$PREFECT_SERVER_API_AUTH_STRING}
    # Each server gets only its own secret.
    setsid env -u MLFLOW_AUTH_ADMIN_PASSWORD prefect server start --host "$HOST" --port "$PREFECT_PORT" \
      >"$STATE/prefect.log" 2>&1 < /dev/null &
    echo $! >"$STATE/prefect.pid"
  fi
  if [ ! -f "$STATE/mlflow.pid" ] || ! alive "$(cat "$STATE/mlflow.pid")"; then
    extra=()
    [ -n "${MLFLOW_ALLOWED_HOSTS:-}" ] && extra+=(--allowed-hosts "$MLFLOW_ALLOWED_HOSTS")
    if mlflow_auth; then
      mlflow_secret_key
      MLFLOW_AUTH_CONFIG_PATH=$(mlflow_auth_config)
      export MLFLOW_AUTH_CONFIG_PATH
      extra+=(--app-name basic-auth)
    fi
    setsid env -u PREFECT_SERVER_API_AUTH_STRING -u PREFECT_API_AUTH_STRING \
      mlflow server --host "$HOST" --port "$MLFLOW_PORT" --workers "${MLFLOW_WORKERS:-1}" \
      --backend-store-uri "${MLFLOW_BACKEND_STORE_URI:-sqlite:///$STATE/mlflow.db}" \
      --artifacts-destination "${MLFLOW_ARTIFACTS_DESTINATION:-$STATE/mlartifacts}" \
      ${extra[@]+"${extra[@]}"} >"$STATE/mlflow.log" 2>&1 < /dev/null &
    echo $! >"$STATE/mlflow.pid"
  fi
  # 0.0.0.0 binds every interface; the health checks and printed URLs go to this machine.
  local client=$HOST
  [ "$HOST" = "0.0.0.0" ] && client=127.0.0.1
  wait_http prefect "http://$client:$PREFECT_PORT/api/health" "${WARC2GPT_START_TIMEOUT:-180}"
  wait_http mlflow "http://$client:$MLFLOW_PORT/health" "${WARC2GPT_START_TIMEOUT:-180}"
  echo "export PREFECT_API_URL=http://$client:$PREFECT_PORT/api"
  echo "export MLFLOW_TRACKING_URI=http://$client:$MLFLOW_PORT"
  # Secrets are never printed: each user sets their own.
  prefect_auth && echo "# Prefect asks for the auth string: set PREFECT_API_AUTH_STRING"
  mlflow_auth && echo "# MLflow asks for a user: set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
  return 0
}

stop() {  # SIGTERM to each server's process group, SIGKILL after 20 s; returns when gone
  for name in prefect mlflow; do
    [ -f "$STATE/$name.pid" ] || continue
    pid=$(cat "$STATE/$name.pid")
    kill -TERM -- -"$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      group_alive "$pid" || break
      sleep 0.2
    done
    if group_alive "$pid"; then
      kill -KILL -- -"$pid" 2>/dev/null || true
    fi
    rm -f "$STATE/$name.pid"
    echo "stopped $name"
  done
}

status() {
  for name in prefect mlflow; do
    if [ -f "$STATE/$name.pid" ] && alive "$(cat "$STATE/$name.pid")"; then
      echo "$name: running (pid $(cat "$STATE/$name.pid"))"
    else
      echo "$name: stopped"
    fi
  done
  echo "prefect history: $PREFECT_HOME"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
