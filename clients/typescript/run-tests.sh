#!/usr/bin/env bash
# Install the pinned dependencies (package-lock.json) and run the TypeScript client's tests
# against the real daemon. Expects the project's Python venv at ../../.venv (created by
# scripts/test.sh) unless SNAPD_PYTHON names another interpreter with snapd installed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# The tests that use the worktree's shared daemon meet it in a private runtime directory, with
# a short idle timeout; whatever still runs there at the end is stopped.
runtime="$(mktemp -d "${TMPDIR:-/tmp}/snapd-rt-XXXXXX")"
export XDG_RUNTIME_DIR="$runtime" SNAPD_IDLE_TIMEOUT="${SNAPD_IDLE_TIMEOUT:-10}"
python="${SNAPD_PYTHON:-$(cd ../.. && pwd)/.venv/bin/python}"  # absolute: used after a cd
stop_daemons() {
  (cd ../.. && "$python" -c 'import sys; from pathlib import Path; from tests.helpers import stop_daemons; stop_daemons(Path(sys.argv[1]))' "$runtime/snapd") || true
  rm -rf "$runtime" /tmp/snapd-ts-shared-* 2>/dev/null || true
}
trap stop_daemons EXIT
npm ci --no-audit --no-fund
npm test
