#!/usr/bin/env bash
# Run the whole test suite (sets up ./.venv on first use). Extra args go to pytest.
source "$(dirname "$0")/_env.sh"
cd "$ROOT"
exec python -m pytest "$@"
