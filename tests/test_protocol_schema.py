"""``protocol.schema.json`` is generated from the wire types; breaking changes bump the version."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.validators import validator_for

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
    assert schema["x-protocolVersion"] == PROTOCOL_VERSION
    assert set(schema["x-methods"]) == set(METHOD_TO_TYPES)
    options = schema["$defs"]["InitializationOptions"]["properties"]
    assert set(options) == set(wire_option_names())
    codes = {e["code"] for e in schema["x-errors"]}
    assert codes == {c.CODE for c in ALL_ERRORS} | set(JSONRPC_CODES)
    for name, method in schema["x-methods"].items():
        assert method["errors"], f"{name}: protocol.md has no Errors: line for it"
        assert set(method["errors"]) <= codes, name


def test_schema_is_a_valid_2020_12_schema() -> None:
    schema = load(SCHEMA)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert validator_for(schema) is Draft202012Validator
    Draft202012Validator.check_schema(schema)
    # Every $ref resolves (check_schema does not follow them).
    refs = re.findall(r'"\$ref": "#/\$defs/([^"]+)"', SCHEMA.read_text(encoding="utf-8"))
    assert refs and set(refs) <= set(schema["$defs"])


def test_descriptions_come_from_the_docstrings() -> None:
    defs = load(SCHEMA)["$defs"]
    assert defs["Hunk"]["properties"]["digest"]["description"].startswith("What this hunk says")
    assert defs["SkipInfo"]["description"] == "Why a file's content is not in the snapshot."
    assert defs["Outcome"]["x-enumDescriptions"]["skipped"].startswith("Only metadata")
    assert "``" not in SCHEMA.read_text(encoding="utf-8")


def conformance_schema() -> Any:
    from tests.conformance.schema import Schema

    return Schema.load()


HUNK = {
    "oldStart": 1,
    "oldLines": 1,
    "newStart": 1,
    "newLines": 1,
    "lines": ["-a", "+b"],
    "digest": "0123456789abcdef",
}


def test_a_valid_result_passes_the_stock_validator() -> None:
    problems = conformance_schema().check_result("snapd/hunks", {"hunks": [HUNK]})
    assert problems.errors == [] and problems.notes == []
    assert problems.types_seen == {"Hunk"}


@pytest.mark.parametrize(
    ("result", "expect"),
    [
        ({}, "'hunks' is a required property"),
        ({"hunks": [{**HUNK, "oldStart": "1"}]}, "hunks[0].oldStart: '1' is not of type 'integer'"),
        ({"hunks": [{**HUNK, "oldStart": True}]}, "True is not of type 'integer'"),
        ({"hunks": [], "truncated": None}, "truncated: None is not of type 'boolean'"),
        ({"hunks": [], "truncatedReason": 3}, "3 is not of type 'string'"),
        ({"hunks": [], "binary": False}, "binary: optional field sent with its default False"),
        ({"hunks": "x"}, "'x' is not of type 'array'"),
        ({"hunks": [], "skipped": {"reason": "r", "rule": "x", "side": "up"}}, "is not one of"),
    ],
)
def test_a_bad_result_is_rejected(result: dict[str, Any], expect: str) -> None:
    problems = conformance_schema().check_result("snapd/hunks", result)
    assert any(expect in e for e in problems.errors), problems.errors


def test_an_undocumented_field_is_a_note_not_an_error() -> None:
    problems = conformance_schema().check_result("snapd/hunks", {"hunks": [{**HUNK, "x": 1}]})
    assert problems.errors == []
    assert problems.notes == ["snapd/hunks result.hunks[0]: undocumented field 'x'"]


def test_a_bad_notification_is_rejected() -> None:
    schema = conformance_schema()
    assert schema.check_notification("snapd/didChange", {"count": 1, "paths": ["a"]}).errors == []
    problems = schema.check_notification("snapd/didChange", {"count": "1", "paths": ["a"]})
    assert problems.errors == ["snapd/didChange.count: '1' is not of type 'integer'"]


def test_no_breaking_change_without_a_version_bump(gen: Any) -> None:
    current, released = gen.model(load(SCHEMA)), gen.model(load(RELEASED))
    problems = gen.breaking_changes(released, current)
    if current["protocolVersion"] == released["protocolVersion"]:
        assert not problems, (
            f"breaking wire change(s) while the protocol version is still "
            f"{current['protocolVersion']}: bump PROTOCOL_VERSION in daemon/snapd/__init__.py and "
            f"the 'Protocol version:' line of protocol.md (then regenerate protocol.schema.json; "
            f"copy it to protocol.schema.released.json when that version is released):\n  "
            + "\n  ".join(problems)
        )


def test_released_schema_is_not_newer(gen: Any) -> None:
    def key(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in v.split("."))

    released = gen.model(load(RELEASED))["protocolVersion"]
    assert key(released) <= key(load(SCHEMA)["x-protocolVersion"])


# -- the compatibility rules themselves ------------------------------------------------------------


def props(schema: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = schema["$defs"][name]["properties"]
    return found


def rename(schema: dict[str, Any], name: str, old: str, new: str) -> None:
    entry = schema["$defs"][name]
    entry["properties"] = {(new if k == old else k): v for k, v in entry["properties"].items()}
    entry["required"] = [new if k == old else k for k in entry.get("required", [])]


def add(schema: dict[str, Any], name: str, field: str, prop: Any, *, required: bool) -> None:
    props(schema, name)[field] = prop
    if required:
        schema["$defs"][name].setdefault("required", []).append(field)


@pytest.mark.parametrize(
    ("edit", "expect"),
    [
        (lambda s: s["x-methods"].pop("snapd/explain"), "method snapd/explain was removed"),
        (
            lambda s: rename(s, "StatusResult", "root", "rootDir"),
            "'root' was removed or renamed",
        ),
        (
            lambda s: props(s, "HunksParams")["context"].update(type="string"),
            "type changed",
        ),
        (
            lambda s: add(s, "DiffParams", "mode", {"type": "string"}, required=True),
            "new required param 'mode'",
        ),
        (
            lambda s: s["$defs"]["DiffParams"]["required"].append("to"),
            "became required",
        ),
        (
            lambda s: props(s, "HunksParams")["context"].update(default=5),
            "default changed",
        ),
        (
            lambda s: props(s, "Hunk").pop("oldStart"),
            "type Hunk: field 'oldStart' was removed",
        ),
        (lambda s: props(s, "Hunk")["lines"].update(description="changed"), None),
        (
            lambda s: s["$defs"]["Outcome"]["enum"].remove("generated"),
            "enum values removed",
        ),
        (
            lambda s: props(s, "InitializationOptions").pop("contentLimit"),
            "option 'contentLimit' was removed",
        ),
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
        lambda s: add(s, "DiffParams", "mode", {"type": "string"}, required=False),
        lambda s: add(s, "StatusResult", "uptime", {"type": "number"}, required=True),
        lambda s: add(s, "Hunk", "section", {"type": "string"}, required=False),
        lambda s: s["x-methods"].__setitem__(
            "snapd/example",
            {
                "params": {"$ref": "#/$defs/StatsParams"},
                "result": {"$ref": "#/$defs/StatsParams"},
                "errors": [],
                "paged": False,
            },
        ),
        lambda s: add(
            s,
            "InitializationOptions",
            "newOption",
            {"type": "boolean", "default": False},
            required=False,
        ),
    ],
)
def test_additive_changes_are_allowed(gen: Any, edit: Any) -> None:
    old = load(SCHEMA)
    new = copy.deepcopy(old)
    edit(new)
    assert gen.breaking_changes(old, new) == []


def test_the_model_view_reads_both_formats(gen: Any) -> None:
    # protocol.schema.released.json (0.1) predates the 2020-12 format; both read alike.
    current = gen.model(load(SCHEMA))
    assert gen.model(current) is current
    released = gen.model(load(RELEASED))
    assert set(released["methods"]) <= set(current["methods"])
    hunk = {f["name"] for f in current["types"]["Hunk"]["fields"]}
    assert {"oldStart", "lines", "digest"} <= hunk
