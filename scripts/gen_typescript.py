#!/usr/bin/env python3
"""Generate the TypeScript client's wire types (``clients/typescript/src/types.ts``).

The one input is ``protocol.schema.json`` (JSON Schema 2020-12, itself generated from the
daemon's wire types by ``scripts/gen_protocol_schema.py``), so the TypeScript types cannot drift
from the Python ones. The output has:

* ``PROTOCOL_VERSION``, the method and notification names (``Methods``, ``SNAPD_DIFF``, ...);
* ``ErrorCodes``: every error code of the schema's ``x-errors``, with its meaning;
* one string union per enum and one interface per ``$defs`` object, with the schema's
  descriptions (the daemon's docstrings) and defaults as doc comments;
* ``MethodTypes`` / ``NotificationTypes`` maps, and per method a vscode-jsonrpc
  ``RequestType<P, R, ErrorData>`` (``DiffRequest.type``) and per notification a
  ``NotificationType<P>`` (``DidSnapshotNotification.type``), LSP-style.

The LSP lifecycle types that are not snapd's own contract (``InitializeParams``,
``WorkDoneProgress``, ``ErrorData``, ...) are hand-written in ``src/lsp.ts``.

Usage::

    python scripts/gen_typescript.py          # (re)write clients/typescript/src/types.ts
    python scripts/gen_typescript.py --check  # exit 1 if types.ts is stale
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "protocol.schema.json"
TARGET = ROOT / "clients" / "typescript" / "src" / "types.ts"

RULE = "// -- {} "
"""Section comments, padded with dashes to 100 columns like the hand-written sources."""


def section(title: str) -> str:
    """A ``// -- title ----`` line."""
    head = RULE.format(title)
    return head + "-" * (100 - len(head))


def doc(text: str | None, indent: str = "") -> list[str]:
    """A JSDoc comment (no lines when there is no text)."""
    if not text:
        return []
    lines = text.replace("*/", "*\\/").splitlines()
    if len(lines) == 1 and len(indent) + len(lines[0]) + 7 <= 100:
        return [f"{indent}/** {lines[0]} */"]
    body = [f"{indent} * {ln}".rstrip() for ln in lines]
    return [f"{indent}/**", *body, f"{indent} */"]


def pascal(method: str) -> str:
    """``snapd/didSnapshot`` -> ``DidSnapshot``."""
    tail = method.split("/", 1)[-1]
    return tail[:1].upper() + tail[1:]


def upper_snake(method: str) -> str:
    """``snapd/didSnapshot`` -> ``SNAPD_DID_SNAPSHOT``."""
    head, _, tail = method.partition("/")
    words = re.sub(r"(?<!^)([A-Z])", r"_\1", tail)
    return f"{head}_{words}".upper()


def key(method: str) -> str:
    """``snapd/didSnapshot`` -> ``didSnapshot`` (the key in ``Methods``/``Notifications``)."""
    return method.split("/", 1)[-1]


def ref_name(schema: dict[str, Any]) -> str:
    """The ``$defs`` name of a ``$ref``."""
    target: str = schema["$ref"]
    return target.rsplit("/", 1)[-1]


def ts_type(schema: dict[str, Any]) -> str:
    """The TypeScript type of a property schema."""
    if "$ref" in schema:
        return ref_name(schema)
    kind = schema["type"]
    if isinstance(kind, list):
        return " | ".join(ts_type({"type": k}) for k in kind)
    if kind == "array":
        item = ts_type(schema["items"])
        return f"({item})[]" if " " in item else f"{item}[]"
    if kind == "object":
        return f"Record<string, {ts_type(schema['additionalProperties'])}>"
    return {"string": "string", "integer": "number", "number": "number", "boolean": "boolean"}[kind]


def enum_type(name: str, entry: dict[str, Any]) -> list[str]:
    """A string union with the enum's and its values' descriptions."""
    text = entry.get("description", "")
    described = entry.get("x-enumDescriptions", {})
    if described:
        items = "\n".join(f"- `{v}`: {d}".replace("\n", "\n  ") for v, d in described.items())
        text = f"{text}\n\n{items}" if text else items
    values = " | ".join(json.dumps(v) for v in entry["enum"])
    return [*doc(text), f"export type {name} = {values};"]


def interface(name: str, entry: dict[str, Any]) -> list[str]:
    """An interface with one documented member per property."""
    required = set(entry.get("required", []))
    out = doc(entry.get("description"))
    props: dict[str, Any] = entry["properties"]
    if not props:
        return [*out, f"export interface {name} {{}}"]
    out.append(f"export interface {name} {{")
    for prop, schema in props.items():
        text = schema.get("description", "")
        if "default" in schema:
            default = f"Default: `{json.dumps(schema['default'])}`."
            text = f"{text}\n\n{default}" if text else default
        out += doc(text, "  ")
        optional = "" if prop in required else "?"
        out.append(f"  {prop}{optional}: {ts_type(schema)};")
    out.append("}")
    return out


def render(schema: dict[str, Any]) -> str:
    """The whole of ``types.ts``."""
    methods: dict[str, Any] = schema["x-methods"]
    notifications: dict[str, Any] = schema["x-notifications"]
    defs: dict[str, Any] = schema["$defs"]
    out = [
        "/**",
        " * Wire types of snapd's protocol, generated by scripts/gen_typescript.py from",
        " * protocol.schema.json: do not edit (`python scripts/gen_typescript.py` regenerates it).",
        " *",
        " * Field names are the camelCase wire names; optional fields are marked `?`. An optional",
        " * field that holds its default is omitted from results. The LSP lifecycle types are in",
        " * `lsp.ts`.",
        " */",
        "",
        'import { NotificationType, RequestType } from "vscode-jsonrpc/node";',
        "",
        'import type { ErrorData } from "./lsp";',
        "",
        "/** The wire protocol version this client was written against. */",
        f"export const PROTOCOL_VERSION = {json.dumps(schema['x-protocolVersion'])};",
        "",
        section("method names"),
        "",
        "export const Methods = {",
        *(f"  {key(m)}: {json.dumps(m)}," for m in methods),
        "} as const;",
        "export type SnapdMethod = (typeof Methods)[keyof typeof Methods];",
        "",
        *(f"export const {upper_snake(m)} = Methods.{key(m)};" for m in methods),
        "",
        "/** Server -> client notification names. */",
        "export const Notifications = {",
        *(f"  {key(n)}: {json.dumps(n)}," for n in notifications),
        "} as const;",
        "export type SnapdNotification = (typeof Notifications)[keyof typeof Notifications];",
        "",
        *(f"export const {upper_snake(n)} = Notifications.{key(n)};" for n in notifications),
        "",
        section("error codes"),
        "",
        "/** Every error code of protocol.md's Errors table. */",
        "export const ErrorCodes = {",
    ]
    for e in schema["x-errors"]:
        out += doc(e["meaning"], "  ")
        out.append(f"  {e['name']}: {e['code']},")
    out += [
        "} as const;",
        "export type ErrorCodeName = keyof typeof ErrorCodes;",
        "export type ErrorCode = (typeof ErrorCodes)[ErrorCodeName];",
        "",
        section("enums"),
    ]
    for name, entry in defs.items():
        if "enum" in entry:
            out += ["", *enum_type(name, entry)]
    out += ["", section("objects")]
    for name, entry in defs.items():
        if "properties" in entry:
            out += ["", *interface(name, entry)]
    out += [
        "",
        section("messages"),
        "",
        "/** Map from method name to its params and result types. */",
        "export interface MethodTypes {",
        *(
            f"  {json.dumps(m)}: {{ params: {ref_name(t['params'])}; "
            f"result: {ref_name(t['result'])} }};"
            for m, t in methods.items()
        ),
        "}",
        "",
        "/** Map from notification name to its params type. */",
        "export interface NotificationTypes {",
        *(f"  {json.dumps(n)}: {ref_name(t['params'])};" for n, t in notifications.items()),
        "}",
    ]
    for m, t in methods.items():
        p, r = ref_name(t["params"]), ref_name(t["result"])
        out += [
            "",
            f"/** `{m}` as a vscode-jsonrpc request type. */",
            f"export namespace {pascal(m)}Request {{",
            f"  export const method = Methods.{key(m)};",
            f"  export const type = new RequestType<{p}, {r}, ErrorData>(method);",
            "}",
        ]
    for n, t in notifications.items():
        out += [
            "",
            f"/** `{n}` as a vscode-jsonrpc notification type. */",
            f"export namespace {pascal(n)}Notification {{",
            f"  export const method = Notifications.{key(n)};",
            f"  export const type = new NotificationType<{ref_name(t['params'])}>(method);",
            "}",
        ]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write ``types.ts``, or with ``--check`` report whether the committed file is stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    parser.add_argument("--schema", type=Path, default=SCHEMA, help="default: %(default)s")
    parser.add_argument("--output", type=Path, default=TARGET, help="default: %(default)s")
    args = parser.parse_args(argv)
    target: Path = args.output
    text = render(json.loads(args.schema.read_text(encoding="utf-8")))
    current = target.read_text(encoding="utf-8") if target.exists() else None
    if args.check:
        if current != text:
            print(
                f"{target.name} is stale: run `python scripts/gen_typescript.py`",
                file=sys.stderr,
            )
            return 1
        return 0
    if current != text:
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
