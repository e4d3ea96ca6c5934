"""``protocol.schema.json`` is generated from the wire types; breaking changes bump the version."""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = ROOT / "scripts" / "gen_protocol_schema.py"
SCHEMA = ROOT / "protocol.schema.json"
RELEASED = ROOT / "protocol.schema.released.json"


def load_generator() -> Any:
    spec = importlib.util.spec_from_file_location("gen_protocol_schema", GENERATOR)
    assert spec is not None and spec.loader is not None
    gen: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    return gen


@pytest.fixture(scope="module")
def gen() -> Any:
    return load_generator()


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_schema_is_up_to_date() -> None:
    proc = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr


def test_check_mode_fails_on_a_stale_file(gen: Any, tmp_path: Path) -> None:
    stale = tmp_path / "protocol.schema.json"
    stale.write_text(SCHEMA.read_text(encoding="utf-8").replace('"0.', '"9.', 1))
    assert gen.main(["--check", "--output", str(stale)]) == 1
    assert gen.main(["--output", str(stale)]) == 0
    assert gen.main(["--check", "--output", str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == SCHEMA.read_text(encoding="utf-8")


def test_schema_covers_the_code(gen: Any) -> None:
    from snapd import PROTOCOL_VERSION
    from snapd.config import wire_option_names
    from snapd.errors import ALL_ERRORS, JSONRPC_CODES
    from snapd.protocol import METHOD_TO_TYPES

    schema = load(SCHEMA)
    assert schema["protocolVersion"] == PROTOCOL_VERSION
    assert set(schema["methods"]) == set(METHOD_TO_TYPES)
    assert set(schema["options"]) == set(wire_option_names())
    codes = {e["code"] for e in schema["errors"]}
    assert codes == {c.CODE for c in ALL_ERRORS} | set(JSONRPC_CODES)
    for name, method in schema["methods"].items():
        assert method["errors"], f"{name}: protocol.md has no Errors: line for it"
        assert set(method["errors"]) <= codes, name


def test_no_breaking_change_without_a_version_bump(gen: Any) -> None:
    current, released = load(SCHEMA), load(RELEASED)
    problems = gen.breaking_changes(released, current)
    if current["protocolVersion"] == released["protocolVersion"]:
        assert not problems, (
            f"breaking wire change(s) while the protocol version is still "
            f"{current['protocolVersion']}: bump PROTOCOL_VERSION in daemon/snapd/__init__.py and "
            f"the 'Protocol version:' line of protocol.md (then regenerate protocol.schema.json; "
            f"copy it to protocol.schema.released.json when that version is released):\n  "
            + "\n  ".join(problems)
        )


def test_released_schema_is_not_newer() -> None:
    def key(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in v.split("."))

    assert key(load(RELEASED)["protocolVersion"]) <= key(load(SCHEMA)["protocolVersion"])


# -- the compatibility rules themselves ------------------------------------------------------------


def field(schema: dict[str, Any], method: str, side: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(f for f in schema["methods"][method][side] if f["name"] == name)
    return found


@pytest.mark.parametrize(
    ("edit", "expect"),
    [
        (lambda s: s["methods"].pop("snapd/explain"), "method snapd/explain was removed"),
        (
            lambda s: field(s, "snapd/status", "result", "root").update(name="rootDir"),
            "'root' was removed or renamed",
        ),
        (
            lambda s: field(s, "snapd/hunks", "params", "context").update(type={"type": "string"}),
            "type changed",
        ),
        (
            lambda s: s["methods"]["snapd/diff"]["params"].append(
                {"name": "mode", "type": {"type": "string"}, "required": True}
            ),
            "new required param 'mode'",
        ),
        (
            lambda s: field(s, "snapd/diff", "params", "to").update(required=True),
            "became required",
        ),
        (
            lambda s: field(s, "snapd/hunks", "params", "context").update(default=5),
            "default changed",
        ),
        (
            lambda s: s["types"]["Hunk"]["fields"].pop(0),
            "type Hunk: field 'oldStart' was removed",
        ),
        (lambda s: s["enums"].pop("Outcome") and None, None),
        (
            lambda s: field(s, "snapd/explain", "result", "outcome")["type"]["enum"].remove(
                "generated"
            ),
            "enum values removed",
        ),
        (lambda s: s["options"].pop("contentLimit"), "option 'contentLimit' was removed"),
    ],
)
def test_breaking_changes_are_detected(gen: Any, edit: Any, expect: str | None) -> None:
    old = load(SCHEMA)
    new = copy.deepcopy(old)
    edit(new)
    problems = gen.breaking_changes(old, new)
    if expect is None:
        assert problems == []
    else:
        assert any(expect in p for p in problems), problems


@pytest.mark.parametrize(
    "edit",
    [
        lambda s: s["methods"]["snapd/diff"]["params"].append(
            {"name": "mode", "type": {"type": "string"}, "required": False}
        ),
        lambda s: s["methods"]["snapd/status"]["result"].append(
            {"name": "uptime", "type": {"type": "number"}, "required": True}
        ),
        lambda s: s["types"]["Hunk"]["fields"].append(
            {"name": "section", "type": {"type": "string"}, "required": False}
        ),
        lambda s: s["methods"].__setitem__(
            "snapd/example", {"params": [], "result": [], "errors": [], "paged": False}
        ),
        lambda s: s["options"].__setitem__(
            "watch", {"type": {"type": "boolean"}, "default": False}
        ),
    ],
)
def test_additive_changes_are_allowed(gen: Any, edit: Any) -> None:
    old = load(SCHEMA)
    new = copy.deepcopy(old)
    edit(new)
    assert gen.breaking_changes(old, new) == []
