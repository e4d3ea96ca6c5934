#!/usr/bin/env bash
# Run the whole test suite (sets up ./.venv on first use): pytest, then the TypeScript client's
# tests against the real daemon (npm ci from the committed lockfile). Extra args go to pytest
# and skip the TypeScript part.
source "$(dirname "$0")/_env.sh"
cd "$ROOT"
python -m pytest "$@"
if [ $# -eq 0 ]; then
  if command -v npm >/dev/null 2>&1; then
    SNAPD_PYTHON="$VENV/bin/python" bash clients/typescript/run-tests.sh
  else
    echo "npm not found: skipping the TypeScript client tests" >&2
  fi
fi
