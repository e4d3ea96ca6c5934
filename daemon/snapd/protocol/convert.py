"""The one converter between wire JSON and the attrs types: camelCase names, strict scalars.

Attribute names are snake_case in Python and camelCase on the wire (``from_`` travels as
``from``). An optional field left at its default is omitted from results. cattrs would coerce
``"5"`` to 5; here a wrong JSON type is a client error naming the field.

Two builds of the same rules: :func:`wire_converter` knows snapd's own types only and does not
import lsprotocol (whose ``types`` module alone takes about 0.3 s to import: too much for a
client command that should start in well under 0.15 s); :func:`converter` adds them on top of
lsprotocol's converter, for pygls, which also (un)structures the LSP messages.
"""

from __future__ import annotations

import enum
import types
import typing
from typing import Any, Final

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

_PACKAGE: Final = "snapd.protocol."
"""Types of these modules get the wire naming and strict scalars."""

_ALWAYS_SENT: Final = frozenset({"id", "method", "jsonrpc", "result", "params"})


def wire_name(name: str) -> str:
    """snake_case attribute name -> camelCase wire name (``from_`` -> ``from``)."""
    name = name.removesuffix("_")
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


_SCALARS: Final = (int, str, bool, float)


def _accepts(value: Any, kinds: tuple[type, ...]) -> bool:
    """Strict JSON typing: a bool is not an int, an int is not a str, 1.5 is not an int."""
    for kind in kinds:
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
            return True
        if kind in (str, bool) and isinstance(value, kind):
            return True
    return False


def _field_hook(tp: Any) -> Any:
    """A strict structure hook for scalar, optional-scalar and list-of-str fields, else None.

    cattrs would coerce ``"5"`` to 5, ``true`` to 1 and ``5`` to ``"5"``; for a wire protocol a
    wrong JSON type is a client bug that deserves -32602 naming the field.
    """
    args = (
        typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else (tp,)
    )
    optional = type(None) in args
    rest = tuple(a for a in args if a is not type(None))
    if all(a in _SCALARS for a in rest):
        names = " or ".join(a.__name__ for a in rest)

        def scalar(value: Any, _t: Any) -> Any:
            if value is None and optional:
                return None
            if not _accepts(value, rest):
                raise TypeError(f"expected {names}, got {_json_type(value)}")
            return value

        return scalar
    if (
        len(rest) == 1
        and typing.get_origin(rest[0]) is list
        and typing.get_args(rest[0]) in ((str,), (int,))
    ):
        item = typing.get_args(rest[0])[0]
        what = "strings" if item is str else "integers"

        def scalar_list(value: Any, _t: Any) -> Any:
            if value is None and optional:
                return None
            if not isinstance(value, list) or not all(_accepts(v, (item,)) for v in value):
                raise TypeError(f"expected an array of {what}, got {_json_type(value)}")
            return list(value)

        return scalar_list
    return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def converter() -> cattrs.Converter:
    """A cattrs converter for LSP (lsprotocol) and snapd types, with strict scalars.

    The daemon's (pygls builds its messages with it); a client needs only
    :func:`wire_converter`.
    """
    # Imported here, not at the top: a client importing snapd.protocol must not pay for it.
    from lsprotocol import converters as lsp_converters

    return wire_converter(lsp_converters.get_converter())


def wire_converter(base: cattrs.Converter | None = None) -> cattrs.Converter:
    """A cattrs converter for snapd's wire types, with strict scalars; no lsprotocol.

    Args:
        base: The converter to add snapd's hooks to (a new ``cattrs.Converter`` if None).

    Returns:
        ``base`` (or the new converter), now (un)structuring every ``snapd.protocol`` class
        with wire names, omitted defaults and strict scalars, and enums as their values.
    """
    conv = cattrs.Converter() if base is None else base

    def is_ours(cls: type) -> bool:
        return attrs.has(cls) and cls.__module__.startswith(_PACKAGE)

    def unstructure(cls: type) -> Any:
        fields = {
            a.name: override(rename=wire_name(a.name), omit_if_default=a.name not in _ALWAYS_SENT)
            for a in attrs.fields(cls)
        }
        return make_dict_unstructure_fn(cls, conv, **fields)  # type: ignore[arg-type]

    def structure(cls: type) -> Any:
        hints = typing.get_type_hints(cls)
        fields = {
            a.name: override(rename=wire_name(a.name), struct_hook=_field_hook(hints[a.name]))
            for a in attrs.fields(cls)
        }
        return make_dict_structure_fn(cls, conv, **fields)  # type: ignore[arg-type]

    conv.register_unstructure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, enum.Enum), lambda v: v.value
    )
    conv.register_unstructure_hook_factory(is_ours, unstructure)
    conv.register_structure_hook_factory(is_ours, structure)
    return conv
