"""Snapshot refs: one ref per retained snapshot, the pins, and ``HEAD``'s branch for git users.

A ref that does not hold an object id is skipped and named in :attr:`SnapshotRefs.damaged_refs`,
so one damaged file never hides the rest of the history.
"""

from __future__ import annotations

import contextlib
import logging

from dulwich.objects import ObjectID
from dulwich.refs import DiskRefsContainer, Ref

from snapd.store.errors import StoreError
from snapd.store.objects import PINS_PREFIX, SNAPSHOT_REF, SNAPSHOTS_PREFIX, is_oid

logger = logging.getLogger(__name__)


class SnapshotRefs:
    """The refs of a store's snapshot history (``refs/snapd/...`` and ``HEAD``'s branch)."""

    def __init__(self, path: str, refs: DiskRefsContainer) -> None:
        self.path = path
        self._refs = refs
        self._damaged: dict[str, tuple[str | None, str]] = {}
        """Damaged snapshot refs as last seen: name -> (the id it holds, if any; why)."""

    def snapshot_refs(self) -> list[tuple[int, str]]:
        """Every retained snapshot as (sequence number, commit id), oldest first.

        A ref that holds no object id (garbage, an undecodable or empty file, a symbolic ref
        to nothing) is left out and named in :attr:`damaged_refs`, so one damaged file never
        hides the rest of the history.
        """
        return self._scan_refs()[0]

    def _scan_refs(self) -> tuple[list[tuple[int, str]], int]:
        """(readable refs oldest first, highest sequence number of any ref, damaged or not)."""
        out: list[tuple[int, str]] = []
        top = 0
        base = SNAPSHOTS_PREFIX.rstrip(b"/")
        # Rebuilt on every scan: a ref repaired or deleted since is no longer reported.
        damaged: dict[str, tuple[str | None, str]] = {}
        for name in self._refs.subkeys(Ref(base)):
            if not name.isdigit():
                continue
            seq = int(name)
            top = max(top, seq)
            full = (SNAPSHOTS_PREFIX + name).decode()
            try:
                text = self._refs[Ref(SNAPSHOTS_PREFIX + name)].decode("ascii")
            except (KeyError, ValueError, OSError) as exc:
                damaged[full] = (None, f"it cannot be read ({exc})")
                continue
            if not is_oid(text):
                damaged[full] = (None, "it does not hold an object id")
                continue
            known = self._damaged.get(full)
            if known is not None and known[0] == text:
                damaged[full] = known  # its commit was found damaged: still skipped
            out.append((seq, text))
        for full, (_oid, why) in damaged.items():
            if full not in self._damaged:
                logger.warning("store %s: snapshot ref %s is skipped: %s", self.path, full, why)
        self._damaged = damaged
        out.sort()
        return out, top

    @property
    def damaged_refs(self) -> dict[str, str]:
        """Snapshot refs that hold no readable snapshot (ref name -> why), as last seen."""
        return {name: why for name, (_oid, why) in self._damaged.items()}

    def damaged_ref(self, seq: int, oid: str, why: str) -> None:
        """Record that the snapshot ref of ``seq`` names a commit ``oid`` that cannot be read."""
        full = (SNAPSHOTS_PREFIX + b"%012d" % seq).decode()
        if full not in self._damaged:
            logger.warning("store %s: snapshot ref %s is skipped: %s", self.path, full, why)
        self._damaged = {**self._damaged, full: (oid, why)}

    def head(self) -> str | None:
        """The newest snapshot commit, or None for an empty store."""
        refs = self.snapshot_refs()
        return refs[-1][1] if refs else None

    def add_snapshot(self, oid: str) -> int:
        """Give a written snapshot commit the next sequence number (the commit point).

        The ref is created with compare-and-swap (it must not exist); ``HEAD``'s branch is then
        moved for git users. Objects are always written before this call.

        Returns:
            The sequence number.
        """
        # Past every ref, damaged ones too: a damaged newest ref must not block its number.
        seq = self._scan_refs()[1] + 1
        name = Ref(SNAPSHOTS_PREFIX + b"%012d" % seq)
        if not self._refs.set_if_equals(name, None, ObjectID(oid.encode())):
            raise StoreError(f"snapshot ref {name.decode()} appeared concurrently")
        self._refs[SNAPSHOT_REF] = ObjectID(oid.encode())
        return seq

    def drop_snapshot(self, seq: int, oid: str) -> bool:
        """Delete a snapshot's ref (its objects become garbage once nothing else refers to them)."""
        name = Ref(SNAPSHOTS_PREFIX + b"%012d" % seq)
        return self._refs.remove_if_equals(name, ObjectID(oid.encode()))

    def pins(self) -> set[str]:
        """Commit ids of pinned snapshots."""
        return {oid.decode() for oid in self._refs.as_dict(Ref(PINS_PREFIX.rstrip(b"/"))).values()}

    def set_pin(self, oid: str, pinned: bool) -> None:
        """Pin (keep whatever the retention policy says) or unpin a snapshot."""
        name = Ref(PINS_PREFIX + oid.encode())
        if pinned:
            self._refs[name] = ObjectID(oid.encode())
        else:
            self._refs.remove_if_equals(name, None)

    def set_head(self, oid: str | None) -> None:
        """Point ``HEAD``'s branch at the newest snapshot (or remove it).

        Nothing is written when it already points there (so gc needs no free space for it).
        """
        if oid is None:
            self._refs.remove_if_equals(SNAPSHOT_REF, None)
            return
        with contextlib.suppress(KeyError, ValueError, OSError):
            if self._refs[SNAPSHOT_REF] == ObjectID(oid.encode()):
                return
        self._refs[SNAPSHOT_REF] = ObjectID(oid.encode())
