#!/usr/bin/env bash
# Install the pinned dependencies (package-lock.json) and run the TypeScript client's tests
# against the real daemon. Expects the project's Python venv at ../../.venv (created by
# scripts/test.sh) unless SNAPD_PYTHON names another interpreter with snapd installed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
npm ci --no-audit --no-fund
npm test
