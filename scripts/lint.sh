#!/usr/bin/env bash
# ruff (lint + format check) and strict mypy, as CI runs them.
source "$(dirname "$0")/_env.sh"
cd "$ROOT"
ruff check .
ruff format --check .
mypy
