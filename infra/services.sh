#!/usr/bin/env bash
# Start, stop or check a Prefect server and an MLflow server on 127.0.0.1.
#   infra/services.sh start|stop|status
# Defaults: SQLite databases and local artifacts under $WARC2GPT_STATE (infra/.state).
# Production: set PREFECT_API_DATABASE_CONNECTION_URL / MLFLOW_BACKEND_STORE_URI to PostgreSQL
# and MLFLOW_ARTIFACTS_DESTINATION to an S3 bucket (see infra/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] && export PATH="$PWD/.venv/bin:$PATH"

STATE=${WARC2GPT_STATE:-$PWD/infra/.state}
HOST=${WARC2GPT_HOST:-127.0.0.1}
PREFECT_PORT=${PREFECT_PORT:-4200}
MLFLOW_PORT=${MLFLOW_PORT:-5000}
mkdir -p "$STATE"

export DO_NOT_TRACK=true PREFECT_SERVER_ANALYTICS_ENABLED=false MLFLOW_DISABLE_TELEMETRY=true
export PREFECT_HOME=${PREFECT_HOME:-$STATE/prefect}
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false

wait_http() {  # url, seconds
  for _ in $(seq 1 "$2"); do
    python - "$1" <<'PY' && return 0
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=2)
except Exception:
    sys.exit(1)
PY
    sleep 1
  done
  echo "no answer from $1 after $2 s; see the logs in $STATE" >&2
  return 1
}

start() {
  if [ ! -f "$STATE/prefect.pid" ] || ! kill -0 "$(cat "$STATE/prefect.pid")" 2>/dev/null; then
    setsid prefect server start --host "$HOST" --port "$PREFECT_PORT" \
      >"$STATE/prefect.log" 2>&1 < /dev/null &
    echo $! >"$STATE/prefect.pid"
  fi
  if [ ! -f "$STATE/mlflow.pid" ] || ! kill -0 "$(cat "$STATE/mlflow.pid")" 2>/dev/null; then
    setsid mlflow server --host "$HOST" --port "$MLFLOW_PORT" --workers 1 \
      --backend-store-uri "${MLFLOW_BACKEND_STORE_URI:-sqlite:///$STATE/mlflow.db}" \
      --artifacts-destination "${MLFLOW_ARTIFACTS_DESTINATION:-$STATE/mlartifacts}" \
      >"$STATE/mlflow.log" 2>&1 < /dev/null &
    echo $! >"$STATE/mlflow.pid"
  fi
  wait_http "http://$HOST:$PREFECT_PORT/api/health" 120
  wait_http "http://$HOST:$MLFLOW_PORT/health" 120
  echo "export PREFECT_API_URL=http://$HOST:$PREFECT_PORT/api"
  echo "export MLFLOW_TRACKING_URI=http://$HOST:$MLFLOW_PORT"
}

stop() {
  for name in prefect mlflow; do
    if [ -f "$STATE/$name.pid" ]; then
      pid=$(cat "$STATE/$name.pid")
      kill -- -"$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
      rm -f "$STATE/$name.pid"
      echo "stopped $name"
    fi
  done
}

status() {
  for name in prefect mlflow; do
    if [ -f "$STATE/$name.pid" ] && kill -0 "$(cat "$STATE/$name.pid")" 2>/dev/null; then
      echo "$name: running (pid $(cat "$STATE/$name.pid"))"
    else
      echo "$name: stopped"
    fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
