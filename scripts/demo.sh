#!/usr/bin/env bash
# snapd's main job on an embedded default: build the seed workload in a temp worktree, run turns
# against a real `snapd --stdio`, and print what changed, what was skipped and why, and memory.
source "$(dirname "$0")/_env.sh"
cd "$ROOT"
exec python -m snapd_client.demo "$@"
