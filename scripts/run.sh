#!/usr/bin/env bash
# Run the whole pipeline (after scripts/setup.sh). Arguments go to `warc2gpt pipeline`,
# e.g. --set train.max_steps=400, --force, or stage names.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
exec warc2gpt pipeline "$@"
