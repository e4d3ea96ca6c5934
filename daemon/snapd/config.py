"""Limits and options: one frozen object from defaults, the CLI and ``initializationOptions``.

Every budget that bounds memory or response size lives here, so "bounded by configuration" has
one place to look.
"""

from __future__ import annotations

from typing import Any

import attrs

KIB = 1024
MIB = 1024 * KIB


def _positive(_inst: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{attribute.name} must be a positive integer, got {value!r}")


def _positive_float(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"{attribute.name} must be a positive number, got {value!r}")


@attrs.frozen(kw_only=True)
class Options:
    """Daemon options. Wire names (``initializationOptions``) are the camelCase forms."""

    content_limit: int = attrs.field(default=2 * MIB, validator=_positive)
    """Files larger than this many bytes are recorded as metadata only, tracked or not."""

    sniff_bytes: int = attrs.field(default=8000, validator=_positive)
    """Bytes read from the start of a file to detect binary content (git uses 8000 too)."""

    page_bytes: int = attrs.field(default=256 * KIB, validator=_positive)
    """Default byte budget of one paged response's items (JSON-encoded)."""

    max_page_bytes: int = attrs.field(default=4 * MIB, validator=_positive)
    """Upper bound a client may ask for with ``maxBytes``."""

    page_limit: int = attrs.field(default=200, validator=_positive)
    """Default number of items per page when the client sends no ``limit``."""

    max_page_limit: int = attrs.field(default=10_000, validator=_positive)
    """Largest ``limit`` a client may ask for."""

    diff_max_bytes: int = attrs.field(default=8 * MIB, validator=_positive)
    """A side larger than this is never line-diffed: hunks say ``truncated: file-too-large``."""

    diff_max_lines: int = attrs.field(default=200_000, validator=_positive)
    """Only this many lines of each side are diffed; hunks beyond say ``truncated: line-cap``."""

    diff_timeout: float = attrs.field(default=2.0, validator=_positive_float)
    """Seconds the line diff may take before it settles for a coarser (still exact) edit script."""

    max_line_chars: int = attrs.field(default=16 * KIB, validator=_positive)
    """A hunk line longer than this is cut and its index listed in ``cutLines``."""

    max_frame_bytes: int = attrs.field(default=16 * MIB, validator=_positive)
    """Largest accepted request body; a bigger ``Content-Length`` is refused without reading it."""

    def with_wire(self, raw: Any) -> Options:
        """Return a copy updated from an ``initializationOptions`` object.

        Raises:
            ValueError: ``raw`` is not an object, has an unknown key, or a bad value. The message
                names the key.
        """
        if raw is None:
            return self
        if not isinstance(raw, dict):
            raise ValueError("initializationOptions must be an object")
        by_wire = {_camel(f.name): f.name for f in attrs.fields(Options)}
        changes: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in by_wire:
                raise ValueError(f"initializationOptions.{key}: unknown option")
            changes[by_wire[key]] = value
        try:
            return attrs.evolve(self, **changes)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"initializationOptions: {exc}") from exc


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def wire_option_names() -> dict[str, Any]:
    """Map each option's wire name to its default (used by protocol.md's check)."""
    return {_camel(f.name): f.default for f in attrs.fields(Options)}


def default_store_path(data_home: str, root: str) -> str:
    """Where a worktree's store lives by default: under the XDG data dir, keyed by real path.

    ``data_home`` is ``$XDG_DATA_HOME`` (or ``~/.local/share``), resolved by the CLI.
    """
    import hashlib
    import os

    real = os.path.realpath(root)
    key = hashlib.sha256(os.fsencode(real)).hexdigest()[:16]
    name = os.path.basename(real.rstrip(os.sep)) or "root"
    return os.path.join(data_home, "snapd", "stores", f"{name}-{key}")
