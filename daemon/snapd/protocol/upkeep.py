"""Wire types of ``snapd/pin``, ``snapd/gc`` and ``snapd/stats``."""

from __future__ import annotations

import attrs

# -- snapd/pin, snapd/gc, snapd/stats ------------------------------------------------------------


@attrs.define(kw_only=True)
class PinParams:
    """Pin a snapshot (retention never drops it) or unpin it."""

    id: str
    """The snapshot, by any snapshot name (see "Naming snapshots")."""

    pinned: bool = True
    """``true`` to pin, ``false`` to unpin."""


@attrs.define(kw_only=True)
class PinResult:
    """The snapshot's pin state."""

    id: str
    """The snapshot's full id."""

    pinned: bool
    """Whether it is pinned now."""


@attrs.define(kw_only=True)
class GcParams:
    """Apply the retention policy and collect garbage now."""

    dry_run: bool = False
    """Only report which snapshots the count and age limits would drop (the byte budget is
    applied by a real run, which measures as it goes)."""


@attrs.define(kw_only=True)
class GcResult:
    """What the collection did (or would do)."""

    dropped: list[str]
    """Ids of the snapshots dropped (or that would be)."""

    kept: int
    """Snapshots retained."""

    loose_removed: int = 0
    """Unreachable loose objects deleted."""

    packed: int = 0
    """Loose objects moved into packs."""

    packs_rewritten: int = 0
    """Packs rewritten without their unreachable objects."""

    bytes_before: int = 0
    """Store bytes before."""

    bytes_after: int = 0
    """Store bytes after."""

    seconds: float = 0.0
    """Time the collection took."""

    over_budget: bool = False
    """Still over ``storeBudgetBytes`` after dropping all it may (pins and the newest stay)."""

    disk_full: bool = False
    """The disk was full: unreachable objects were deleted but nothing was packed."""


@attrs.define(kw_only=True)
class StatsParams:
    """No parameters."""


@attrs.define(kw_only=True)
class PathBytes:
    """Stored bytes of one path across the retained snapshots."""

    path: str
    """The path."""

    bytes: int
    """Bytes of its distinct stored versions."""

    versions: int
    """Distinct stored versions."""


@attrs.define(kw_only=True)
class StatsResult:
    """Where the store's disk goes."""

    store_bytes: int
    """Disk bytes used by the store."""

    loose_objects: int
    """Objects stored loose."""

    packed_objects: int
    """Objects stored in packs."""

    packs: int
    """Pack files."""

    snapshots: int
    """Snapshots retained."""

    pinned: int
    """Snapshots pinned."""

    captured_bytes: int
    """Sum over the retained snapshots of the bytes they captured."""

    unique_bytes: int
    """Bytes of the distinct blobs those snapshots refer to."""

    dedup_ratio: float
    """``capturedBytes / uniqueBytes``: how much sharing between snapshots saves."""

    largest_paths: list[PathBytes]
    """The 20 paths with the most stored bytes."""

    skipped_bytes_by_rule: dict[str, int]
    """In the newest snapshot: bytes not captured, by the rule that skipped them."""
