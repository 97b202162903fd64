#!/usr/bin/env bash
# Create .venv (once) and install warc2gpt with its test tools. Offline-friendly: every
# requirement is pinned or bounded so pip resolves from the local wheel caches where they exist.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
# torch first, pinned: an unpinned torch can pull a multi-GB CUDA build
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[test]"
