#!/usr/bin/env bash
# Create .venv (once) and install warc2gpt with its test tools. Offline-friendly: every
# requirement is pinned or bounded so pip resolves from the local wheel caches where they exist.
# A stamp in .venv holds the hash of what the install depends on (pyproject.toml and this
# script): while it matches, there is nothing to do and pip is not called.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
STAMP=.venv/.warc2gpt-setup
wanted=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$wanted" ]; then
  exit 0
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
rm -f "$STAMP"
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
# torch first, pinned: an unpinned torch can pull a multi-GB CUDA build
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[test]"
echo "$wanted" > "$STAMP"
