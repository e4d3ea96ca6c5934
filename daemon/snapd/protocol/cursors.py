"""What a cursor pins: the position of each paged method, typed.

A cursor is opaque to clients (base64url JSON made by :mod:`snapd.paging`); inside it is one of
these positions, structured by the same strict converter as params, so a forged or damaged
cursor is refused (-31002) instead of reaching the code as a half-checked dict. Positions pin
resolved object ids, so later pages stay consistent while new snapshots are taken.
"""

from __future__ import annotations

from typing import Any

import attrs


def _oid(_inst: Any, attr: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and (len(value) != 40 or value.strip("0123456789abcdef")):
        raise ValueError(f"{attr.name}: not an object id")


def _positive(_inst: Any, attr: attrs.Attribute[Any], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attr.name}: not positive")


def _natural(_inst: Any, attr: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{attr.name}: negative")


@attrs.define(kw_only=True)
class SnapshotsPosition:
    """``snapd/snapshots``: list snapshots older than this sequence number."""

    before: int = attrs.field(validator=_positive)


@attrs.define(kw_only=True)
class StateIds:
    """A captured state by its three object ids (tree, skipped and generated manifests)."""

    tree: str = attrs.field(validator=_oid)
    manifest: str = attrs.field(validator=_oid)
    generated: str = attrs.field(validator=_oid)


@attrs.define(kw_only=True)
class DiffPosition:
    """``snapd/diff``: both states, and the sort key of the last path sent."""

    old: StateIds
    new: StateIds
    after: str
    """Hex of the last change's sort key."""


@attrs.define(kw_only=True)
class GeneratedMark:
    """Why the file is generated (kept so later pages say it without a manifest read)."""

    rule: str
    reason: str
    evidence: str | None = None


@attrs.define(kw_only=True)
class HunksPosition:
    """``snapd/hunks``: both blobs, and the next hunk (an index, or a streamed position)."""

    old: str | None = attrs.field(default=None, validator=_oid)
    new: str | None = attrs.field(default=None, validator=_oid)
    index: int = attrs.field(default=0, validator=_natural)
    stream: list[int] | None = None
    """A streamed diff's resume position (five non-negative integers)."""
    generated: GeneratedMark | None = None


@attrs.define(kw_only=True)
class RestorePosition:
    """``snapd/restore``: the stored plan blob, the next action, and the plan's outcome."""

    plan: str = attrs.field(validator=_oid)
    index: int = attrs.field(validator=_natural)
    token: str
    totals: list[int] = attrs.field(validator=attrs.validators.max_len(3))
    """Written, deleted and kept paths."""
    applied: bool = False
    safety: str | None = None
    conflicted: int = 0
    remaining: int | None = None
    """Writes and deletes left undone by a cancelled apply (None: not cancelled)."""

    def __attrs_post_init__(self) -> None:
        if len(self.totals) != 3:
            raise ValueError("totals: three counts")


@attrs.define(kw_only=True)
class RevertPosition:
    """``snapd/revert``: the stored plan blob, the next action, and the plan's outcome."""

    plan: str = attrs.field(validator=_oid)
    index: int = attrs.field(validator=_natural)
    token: str
    totals: list[int] = attrs.field(validator=attrs.validators.max_len(4))
    """Reverted, merged, conflicted and kept paths."""
    applied: bool = False
    safety: str | None = None
    failed: int = 0
    remaining: int | None = None
    """Reverts and merges left undone by a cancelled apply (None: not cancelled)."""

    def __attrs_post_init__(self) -> None:
        if len(self.totals) != 4:
            raise ValueError("totals: four counts")
