"""Load ``protocol.schema.json`` and validate JSON values against it (no daemon code)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_SCHEMA = Path(__file__).resolve().parents[2] / "protocol.schema.json"

Field = dict[str, Any]


@dataclass
class Problems:
    """What validation found: ``errors`` break the contract, ``notes`` are informational."""

    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    types_seen: set[str] = field(default_factory=set)


class Schema:
    """The protocol as data: methods, types, enums, errors and options."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.version: str = data["protocolVersion"]
        self.methods: dict[str, Any] = data["methods"]
        self.notifications: dict[str, Any] = data.get("notifications", {})
        self.types: dict[str, Any] = data["types"]
        self.options: dict[str, Any] = data["options"]
        self.error_codes: dict[int, str] = {e["code"]: e["name"] for e in data["errors"]}

    @classmethod
    def load(cls, path: Path | None = None) -> Schema:
        """Read the schema file (default: the repository's ``protocol.schema.json``)."""
        return cls(json.loads((path or DEFAULT_SCHEMA).read_text(encoding="utf-8")))

    def params(self, method: str) -> list[Field]:
        """The params fields of a method."""
        fields: list[Field] = self.methods[method]["params"]
        return fields

    def result(self, method: str) -> list[Field]:
        """The result fields of a method."""
        fields: list[Field] = self.methods[method]["result"]
        return fields

    def paged(self) -> list[str]:
        """Methods with ``cursor``/``nextCursor`` paging."""
        return sorted(m for m, d in self.methods.items() if d.get("paged"))

    def result_types(self) -> set[str]:
        """Nested types that can appear in some method's result."""
        seen: set[str] = set()
        stack = [f["type"] for m in self.methods.values() for f in m["result"]]
        stack += [f["type"] for n in self.notifications.values() for f in n["params"]]
        while stack:
            t = stack.pop()
            ref = t.get("$ref")
            if ref and ref.rsplit("/", 1)[-1] not in seen:
                name = ref.rsplit("/", 1)[-1]
                seen.add(name)
                stack += [f["type"] for f in self.types[name]["fields"]]
            stack += [t[k] for k in ("items", "additionalProperties") if k in t]
        return seen

    def method_errors(self, method: str) -> set[int]:
        """The codes protocol.md lists for a method."""
        return set(self.methods[method].get("errors", []))

    def code(self, name: str) -> int:
        """An error code by name (e.g. ``BadCursor``)."""
        return next(c for c, n in self.error_codes.items() if n == name)

    # -- validation ----------------------------------------------------------------------------

    def check_result(self, method: str, value: Any) -> Problems:
        """Validate a method's result."""
        problems = Problems()
        self._object(value, self.result(method), f"{method} result", problems)
        return problems

    def check_notification(self, method: str, params: Any) -> Problems:
        """Validate a server -> client notification's params."""
        problems = Problems()
        self._object(params, self.notifications[method]["params"], method, problems)
        return problems

    def check_type(self, name: str, value: Any, where: str) -> Problems:
        """Validate a value of a nested type."""
        problems = Problems()
        self._object(value, self.types[name]["fields"], where, problems)
        return problems

    def _object(self, value: Any, fields: list[Field], where: str, out: Problems) -> None:
        if not isinstance(value, dict):
            out.errors.append(f"{where}: expected an object, got {json_type(value)}")
            return
        known = {f["name"] for f in fields}
        for f in fields:
            name = f["name"]
            if name not in value:
                if f["required"]:
                    out.errors.append(f"{where}: required field {name!r} is missing")
                continue
            v = value[name]
            if v is None:
                out.errors.append(f"{where}.{name}: null (an absent value is omitted)")
                continue
            self._value(v, f["type"], f"{where}.{name}", out)
            if not f["required"] and "default" in f and v == f["default"]:
                out.errors.append(
                    f"{where}.{name}: optional field sent with its default {v!r} "
                    "(Conventions: optional result fields that hold their default are omitted)"
                )
        for name in sorted(set(value) - known):
            out.notes.append(f"{where}: undocumented field {name!r}")

    def _value(self, value: Any, tp: dict[str, Any], where: str, out: Problems) -> None:
        ref = tp.get("$ref")
        if ref is not None:
            name = ref.rsplit("/", 1)[-1]
            out.types_seen.add(name)
            self._object(value, self.types[name]["fields"], where, out)
            return
        kinds = tp["type"] if isinstance(tp["type"], list) else [tp["type"]]
        if not any(matches(value, k) for k in kinds):
            out.errors.append(f"{where}: expected {' or '.join(kinds)}, got {json_type(value)}")
            return
        if "enum" in tp and value not in tp["enum"]:
            out.errors.append(f"{where}: {value!r} is not one of {tp['enum']}")
        if "items" in tp and isinstance(value, list):
            for i, item in enumerate(value):
                self._value(item, tp["items"], f"{where}[{i}]", out)
        if "additionalProperties" in tp and isinstance(value, dict):
            for k, item in value.items():
                self._value(item, tp["additionalProperties"], f"{where}[{k!r}]", out)


def matches(value: Any, kind: str) -> bool:
    """Strict JSON typing: a boolean is not an integer, 1.5 is not an integer."""
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    raise ValueError(f"unknown schema type {kind!r}")


def json_type(value: Any) -> str:
    """The JSON type name of a value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def wrong_value(tp: dict[str, Any]) -> Any:
    """A JSON value of the wrong type for ``tp`` (no coercion may accept it)."""
    if "$ref" in tp:
        return "not an object"
    kinds = tp["type"] if isinstance(tp["type"], list) else [tp["type"]]
    if "string" in kinds and "integer" in kinds:
        return [1]
    kind = kinds[0]
    return {
        "integer": "5",
        "number": "2.5",
        "string": 5,
        "boolean": 1,
        "array": "x",
        "object": ["x"],
    }[kind]
