# Sourced by the scripts (or by hand from the checkout): the project's venv, its Prefect home
# (.prefect/: `make run`, infra/services.sh and `prefect server start` share one history) and
# offline, telemetry-free defaults.
_warc2gpt_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PREFECT_HOME=${PREFECT_HOME:-$_warc2gpt_root/.prefect}
export DO_NOT_TRACK=${DO_NOT_TRACK:-true}
export PREFECT_SERVER_ANALYTICS_ENABLED=${PREFECT_SERVER_ANALYTICS_ENABLED:-false}
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=${PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS:-90}
export MLFLOW_DISABLE_TELEMETRY=${MLFLOW_DISABLE_TELEMETRY:-true}
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1}
export PATH="$_warc2gpt_root/.venv/bin:$PATH"
unset _warc2gpt_root
