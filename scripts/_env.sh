# Sourced by the other scripts: make sure ./.venv exists and matches pyproject.toml.
# Idempotent: a stamp holding pyproject.toml's hash skips the install when nothing changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"
stamp="$VENV/.snapd-stamp"
want="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setting up $VENV ..." >&2
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -U "pip>=25.1" >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT" --group "$ROOT/pyproject.toml:dev" >&2
  echo "$want" > "$stamp"
fi
export PATH="$VENV/bin:$PATH"
