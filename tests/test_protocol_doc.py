from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from cattrs import Converter

import snapd
from snapd import protocol
from snapd.config import wire_option_names
from snapd.errors import ALL_ERRORS, JSONRPC_CODES
from snapd.protocol import METHOD_TO_TYPES, NOTIFICATION_TO_TYPES, wire_name

DOC = Path(__file__).resolve().parent.parent / "protocol.md"
CELL_SPLIT = re.compile(r"(?<!\\)\|")


def doc_lines() -> list[str]:
    return DOC.read_text(encoding="utf-8").splitlines()


def sections(level: int) -> dict[str, list[str]]:
    """Heading text -> lines up to the next heading of the same or a higher level."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    in_fence = False
    for line in doc_lines():
        if line.startswith("```"):
            in_fence = not in_fence
        match = None if in_fence else re.match(r"^(#+) (.*)$", line)
        if match and len(match.group(1)) <= level:
            current = None
            if len(match.group(1)) == level:
                current = out.setdefault(match.group(2).strip(), [])
            continue
        if current is not None:
            current.append(line)
    return out


def table_after(lines: list[str], marker: str | None = None) -> list[list[str]]:
    """Rows (cells, backticks stripped) of the first table after a line containing marker."""
    start = 0
    if marker is not None:
        start = next(i for i, line in enumerate(lines) if marker in line and "|" not in line)
    rows: list[list[str]] = []
    for line in lines[start:]:
        if line.lstrip().startswith("|"):
            cells = CELL_SPLIT.split(line.strip().strip("|"))
            rows.append([c.strip().replace("`", "") for c in cells])
        elif rows:
            break
    assert rows, f"no table after {marker!r}"
    header, *body = rows
    assert header[0] in {"name", "code"}, header
    return [r for r in body if not set("".join(r)) <= set("-: ")]


def first_column(rows: list[list[str]]) -> set[str]:
    return {r[0] for r in rows}


def field_names(cls: type) -> set[str]:
    return {wire_name(f.name) for f in attrs.fields(cls)}


def json_blocks(lines: list[str]) -> list[Any]:
    text = "\n".join(lines)
    return [json.loads(b) for b in re.findall(r"^```json\n(.*?)^```", text, re.M | re.S)]


def nested_types() -> set[type]:
    skip = ("Params", "Result", "Request", "Response", "Notification")
    return {
        obj
        for name, obj in vars(protocol).items()
        if isinstance(obj, type)
        and attrs.has(obj)
        and obj.__module__.startswith("snapd.protocol.")
        and obj.__module__ != "snapd.protocol.methods"
        and not name.endswith(skip)
    }


def method_sections() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in sections(2)["Methods"]:
        if line.startswith("### "):
            current = out.setdefault(line[4:].strip(), [])
        elif current is not None:
            current.append(line)
    return out


def test_methods_match_code() -> None:
    headings = {h for h in method_sections() if h.startswith("snapd/")}
    assert headings == set(METHOD_TO_TYPES)


@pytest.mark.parametrize("method", sorted(METHOD_TO_TYPES))
def test_method_tables(method: str) -> None:
    lines = method_sections()[method]
    types = METHOD_TO_TYPES[method]
    assert any(line.startswith("Direction: client → server request.") for line in lines)
    assert first_column(table_after(lines, "Params")) == field_names(types.params)
    assert first_column(table_after(lines, "Result")) == field_names(types.result)
    assert any(line.startswith("Errors:") for line in lines)


CONVERTERS = pytest.mark.parametrize(
    "make_converter",
    [protocol.converter, protocol.wire_converter],
    ids=["with-lsprotocol", "wire-only"],
)
"""The daemon's converter (on lsprotocol's) and the clients' (snapd types only) must agree."""


@CONVERTERS
@pytest.mark.parametrize("method", sorted(METHOD_TO_TYPES))
def test_method_examples(method: str, make_converter: Callable[[], Converter]) -> None:
    types = METHOD_TO_TYPES[method]
    conv = make_converter()
    known_codes = {cls.CODE for cls in ALL_ERRORS} | set(JSONRPC_CODES)
    blocks = json_blocks(method_sections()[method])
    assert blocks, f"{method}: no ```json example"
    for block in blocks:
        assert isinstance(block, dict) and set(block) == {"request", "response"}
        req, resp = block["request"], block["response"]
        assert req["jsonrpc"] == "2.0" and resp["jsonrpc"] == "2.0"
        assert req["method"] == method
        assert resp["id"] == req["id"]
        conv.structure(req["params"], types.params)
        if "error" in resp:
            assert resp["error"]["code"] in known_codes
        else:
            result: Any = conv.structure(resp["result"], types.result)
            # Absent optional fields are omitted, so a result round-trips exactly.
            assert conv.unstructure(result) == resp["result"]


def test_types_match_code() -> None:
    type_sections = sections(3)
    types_section = sections(2)["Types"]
    headings = {line[4:].strip() for line in types_section if line.startswith("### ")}
    by_name = {cls.__name__: cls for cls in nested_types()}
    assert headings == set(by_name)
    for name, cls in by_name.items():
        assert first_column(table_after(type_sections[name])) == field_names(cls), name


def test_errors_match_code() -> None:
    rows = table_after(sections(2)["Errors"])
    codes = [int(r[0]) for r in rows]
    assert len(codes) == len(set(codes)), "a code is listed twice"
    assert set(codes) == {cls.CODE for cls in ALL_ERRORS} | set(JSONRPC_CODES)
    names = {int(r[0]): r[1] for r in rows}
    for cls in ALL_ERRORS:
        assert names[cls.CODE] == cls.__name__


def documented_errors() -> dict[int, str]:
    return {int(r[0]): r[1] for r in table_after(sections(2)["Errors"])}


def test_python_client_has_a_class_per_error_code() -> None:
    from snapd_client._errors import CODE_TO_ERROR

    assert {code: cls.__name__ for code, cls in CODE_TO_ERROR.items()} == documented_errors()


def test_typescript_error_codes_match_the_doc() -> None:
    types_ts = DOC.parent / "clients" / "typescript" / "src" / "types.ts"
    text = types_ts.read_text(encoding="utf-8")
    block = text[
        text.index("export const ErrorCodes = {") : text.index(
            "} as const;", text.index("export const ErrorCodes = {")
        )
    ]
    found = {int(code): name for name, code in re.findall(r"^  (\w+): (-\d+),$", block, re.M)}
    assert found == documented_errors()


def test_options_match_code() -> None:
    rows = table_after(sections(2)["Options"])
    expected = wire_option_names()
    assert first_column(rows) == set(expected)
    for row in rows:
        default = expected[row[0]]
        if isinstance(default, tuple | bool):
            expect = list(default) if isinstance(default, tuple) else default
            assert json.loads(row[2]) == expect, row[0]
        else:
            assert float(row[2]) == pytest.approx(float(default)), row[0]


def test_protocol_version() -> None:
    version_lines = [line for line in doc_lines() if line.startswith("Protocol version:")]
    assert version_lines == [f"Protocol version: `{snapd.PROTOCOL_VERSION}`"]


def notification_sections() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in sections(2)["Notifications"]:
        if line.startswith("### "):
            current = out.setdefault(line[4:].strip(), [])
        elif current is not None:
            current.append(line)
    return out


@CONVERTERS
def test_notifications_match_code(make_converter: Callable[[], Converter]) -> None:
    found = notification_sections()
    assert set(found) == set(NOTIFICATION_TO_TYPES)
    conv = make_converter()
    for method, (_message, params_cls) in NOTIFICATION_TO_TYPES.items():
        lines = found[method]
        assert any(line.startswith("Direction: server → client notification.") for line in lines)
        assert first_column(table_after(lines, "Params")) == field_names(params_cls)
        blocks = json_blocks(lines)
        assert blocks, f"{method}: no ```json example"
        for block in blocks:
            assert block["method"] == method and block["jsonrpc"] == "2.0"
            params: Any = conv.structure(block["params"], params_cls)
            assert conv.unstructure(params) == block["params"]
