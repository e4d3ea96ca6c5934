"""Load ``protocol.schema.json`` (JSON Schema 2020-12) and validate JSON values against it.

Validation is ``jsonschema``'s stock :class:`~jsonschema.Draft202012Validator`; this module
only finds the schema of a method's result or a notification's params in the document (its
``x-methods``/``x-notifications`` keywords), turns the validator's errors into sentences, and
keeps two things the validator has no output for:

* which ``$defs`` entries a value was validated against (``types_seen``: the ``types`` case
  checks that every nested result type really appears), recorded by wrapping the ``$ref``
  keyword; and
* undocumented fields, which protocol.md allows and the suite lists as notes: values are
  validated against a copy of the document whose objects also say
  ``"additionalProperties": false``, and the errors of that keyword become notes.

No daemon code is imported: the suite can test other implementations.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

DEFAULT_SCHEMA = Path(__file__).resolve().parents[2] / "protocol.schema.json"

Field = dict[str, Any]

_ANNOTATIONS = frozenset({"description", "default", "not", "$comment"})
"""Property keywords that say nothing about the type of a param or option."""

_SEEN: ContextVar[set[str] | None] = ContextVar("snapd_schema_seen", default=None)
"""The ``$defs`` names the running validation has referred to (None: not recording)."""

_STOCK_REF = Draft202012Validator.VALIDATORS["$ref"]


def _recording_ref(
    validator: Any, ref: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    seen = _SEEN.get()
    if seen is not None and ref.startswith("#/$defs/"):
        seen.add(ref.rsplit("/", 1)[-1])
    yield from _STOCK_REF(validator, ref, instance, schema)


RecordingValidator = validators.extend(Draft202012Validator, {"$ref": _recording_ref})
"""Draft 2020-12 whose ``$ref`` also records the ``$defs`` entry it follows."""


@dataclass
class Problems:
    """What validation found: ``errors`` break the contract, ``notes`` are informational."""

    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    types_seen: set[str] = field(default_factory=set)


class Schema:
    """The protocol as data: methods, types, enums, errors and options."""

    def __init__(self, data: dict[str, Any]) -> None:
        Draft202012Validator.check_schema(data)
        self.data = data
        self.defs: dict[str, Any] = data["$defs"]
        self.version: str = data["x-protocolVersion"]
        self.methods: dict[str, Any] = data["x-methods"]
        self.notifications: dict[str, Any] = data.get("x-notifications", {})
        self.options: dict[str, Any] = {
            f["name"]: {"type": f["type"], "default": f["default"]}
            for f in self.fields(data["x-initializationOptions"])
        }
        self.error_codes: dict[int, str] = {e["code"]: e["name"] for e in data["x-errors"]}
        strict = copy.deepcopy(data)
        for entry in strict["$defs"].values():
            if "properties" in entry:
                entry["additionalProperties"] = False
        self._strict = strict
        self._validators: dict[str, Any] = {}

    @classmethod
    def load(cls, path: Path | None = None) -> Schema:
        """Read the schema file (default: the repository's ``protocol.schema.json``)."""
        return cls(json.loads((path or DEFAULT_SCHEMA).read_text(encoding="utf-8")))

    def fields(self, ref: dict[str, Any]) -> list[Field]:
        """The fields of an object ``$defs`` entry: ``{"name", "type", "required", "default"?}``.

        ``type`` is the property's schema without its annotations (description, default), with
        a ``$ref`` to an enum replaced by the enum: ``{"type": "string", "enum": [...]}``.
        """
        entry = self.defs[_name(ref)]
        required = set(entry.get("required", []))
        out: list[Field] = []
        for name, prop in entry["properties"].items():
            tp = {k: v for k, v in prop.items() if k not in _ANNOTATIONS}
            target = self.defs.get(_name(prop)) if "$ref" in prop else None
            if target is not None and "enum" in target:
                tp = {"type": target["type"], "enum": target["enum"]}
            f: Field = {"name": name, "type": tp, "required": name in required}
            if "default" in prop:
                f["default"] = prop["default"]
            out.append(f)
        return out

    def params(self, method: str) -> list[Field]:
        """The params fields of a method."""
        return self.fields(self.methods[method]["params"])

    def result(self, method: str) -> list[Field]:
        """The result fields of a method."""
        return self.fields(self.methods[method]["result"])

    def paged(self) -> list[str]:
        """Methods with ``cursor``/``nextCursor`` paging."""
        return sorted(m for m, d in self.methods.items() if d.get("paged"))

    def result_types(self) -> set[str]:
        """Nested object types that can appear in some method's result or notification."""
        tops = [m["result"] for m in self.methods.values()]
        tops += [n["params"] for n in self.notifications.values()]
        top_names = {_name(t) for t in tops}
        seen: set[str] = set()
        stack: list[dict[str, Any]] = [self.defs[n] for n in top_names]
        while stack:
            s = stack.pop()
            if "$ref" in s:
                name = _name(s)
                if name not in seen:
                    seen.add(name)
                    stack.append(self.defs[name])
            stack += list(s.get("properties", {}).values())
            stack += [s[k] for k in ("items", "additionalProperties") if isinstance(s.get(k), dict)]
        return {n for n in seen - top_names if "properties" in self.defs[n]}

    def method_errors(self, method: str) -> set[int]:
        """The codes protocol.md lists for a method."""
        return set(self.methods[method].get("errors", []))

    def code(self, name: str) -> int:
        """An error code by name (e.g. ``BadCursor``)."""
        return next(c for c, n in self.error_codes.items() if n == name)

    # -- validation ----------------------------------------------------------------------------

    def check_result(self, method: str, value: Any) -> Problems:
        """Validate a method's result."""
        return self.check(self.methods[method]["result"], value, f"{method} result")

    def check_notification(self, method: str, params: Any) -> Problems:
        """Validate a server -> client notification's params."""
        return self.check(self.notifications[method]["params"], params, method)

    def check(self, ref: dict[str, Any], value: Any, where: str) -> Problems:
        """Validate a value against a ``$defs`` entry (``{"$ref": "#/$defs/Name"}``)."""
        name = _name(ref)
        validator = self._validators.get(name)
        if validator is None:
            validator = RecordingValidator({**self._strict, "$ref": ref["$ref"]})
            self._validators[name] = validator
        problems = Problems()
        token = _SEEN.set(problems.types_seen)
        try:
            found = list(validator.iter_errors(value))
        finally:
            _SEEN.reset(token)
        for error in found:
            at = where + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.path)
            if error.validator == "additionalProperties" and "properties" in error.schema:
                for extra in sorted(set(error.instance) - set(error.schema["properties"])):
                    problems.notes.append(f"{at}: undocumented field {extra!r}")
            elif error.validator == "not" and "const" in error.validator_value:
                problems.errors.append(
                    f"{at}: optional field sent with its default {error.instance!r} "
                    "(Conventions: optional result fields that hold their default are omitted)"
                )
            else:
                problems.errors.append(f"{at}: {error.message}")
        problems.types_seen.discard(name)
        return problems


def _name(ref: dict[str, Any]) -> str:
    """The ``$defs`` name of a ``{"$ref": "#/$defs/Name"}``."""
    target: str = ref["$ref"]
    return target.rsplit("/", 1)[-1]


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
