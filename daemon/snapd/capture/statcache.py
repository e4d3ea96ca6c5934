"""The stat cache: a file is hashed again only when its ``lstat`` signature changed.

Persisted in the store; a racy-mtime guard re-hashes files modified in the same timestamp
tick as their last hash (git's "racy clean" problem). Each entry also keeps the decisions its
file was captured with and the stamp of the policy inputs they were made under (see
:mod:`snapd.capture.decisions`): a full walk reuses them only while that stamp still holds.
"""

from __future__ import annotations

import logging
from typing import Final, TypeAlias

import attrs

from snapd.capture.decision import (
    RACY_NS,
    SIGNATURE,
    Decision,
    StatLike,
    packed_signature,
    signature,
)
from snapd.capture.sealed import read_sealed, write_sealed
from snapd.enums import Outcome
from snapd.store.repo import Store

logger = logging.getLogger(__name__)

_Row: TypeAlias = tuple[bytes, bytes, bytes, int, int, int, int, int]
"""A saved entry: path, packed signature, raw blob id, hashed at, then indexes into the file's
table of shared values: decision, stamp, phase-1 decision, content key."""

_MAGIC: Final = b"snapd-statcache\n"

_DECISIONS: dict[Decision, Decision] = {}
"""Equal decisions shared by every cache entry (thousands of files share a few decisions)."""


@attrs.frozen
class CacheEntry:
    """One cached file, kept compact (a daemon may cache 100,000s of them).

    The signature is packed into 40 bytes and the blob id kept as 20 raw bytes.
    """

    packed_sig: bytes
    raw_oid: bytes
    decision: Decision
    """The final decision (both phases)."""
    hashed_at_ns: int
    stamp: bytes | None = None
    """The stamp of the policy inputs ``decision`` was made under (None: unknown)."""
    phase1: Decision | None = None
    """The metadata-phase decision the content phase started from (None: unknown)."""
    ckey: bytes | None = None
    """The content key (code and options) the content phase ran under (None: unknown)."""

    @property
    def sig(self) -> tuple[int, int, int, int, int]:
        """The stat signature."""
        a, b, c, d, e = SIGNATURE.unpack(self.packed_sig)
        return (a, b, c, d, e)

    @property
    def oid(self) -> str:
        """The blob id (hex)."""
        return self.raw_oid.hex()


def _shared(decision: Decision) -> Decision:
    """One instance per distinct decision (most cached files share plain ``captured``)."""
    if len(_DECISIONS) > 10_000:  # evidence strings can make decisions unique: stay bounded
        return decision
    return _DECISIONS.setdefault(decision, decision)


class StatCache:
    """Path -> (stat signature, blob id) of the files this process hashed.

    Only the store writer (which holds the writer lock) touches it.
    """

    FORMAT: Final = 3

    def __init__(self) -> None:
        self._entries: dict[bytes, CacheEntry | _Row] = {}
        """Entries; those loaded and not looked at since are still rows of the saved file."""
        self.racy_ns = RACY_NS
        """A file modified this long before it was hashed is hashed again (see ``lookup``)."""
        self._table: list[object] = []
        """The loaded file's shared values (decisions, stamps, keys) its rows refer to."""
        self.changed = False

    def _get(self, rel: bytes) -> CacheEntry | None:
        """The entry for ``rel``, made from its loaded row on first use (loading stays cheap)."""
        ent = self._entries.get(rel)
        if ent is None or isinstance(ent, CacheEntry):
            return ent
        made = self._entry_of(ent)
        if made is None:
            del self._entries[rel]
            return None
        self._entries[rel] = made
        return made

    def _entry_of(self, row: _Row) -> CacheEntry | None:
        """A loaded row as an entry; None (and a warning) when it is malformed."""
        table = self._table
        try:
            _rel, sig, raw_oid, at_ns, d, stamp, p1, ckey = row
            decision, phase1 = table[d], table[p1]
            stamp_v, ckey_v = table[stamp], table[ckey]
        except (ValueError, TypeError, IndexError):
            decision = None
        if (
            not isinstance(decision, Decision)
            or not isinstance(phase1, Decision | None)
            or not isinstance(stamp_v, bytes | None)
            or not isinstance(ckey_v, bytes | None)
            or len(sig) != SIGNATURE.size
        ):
            logger.warning("ignoring a malformed stat cache entry")
            return None
        return CacheEntry(sig, raw_oid, decision, at_ns, stamp_v, phase1, ckey_v)

    @staticmethod
    def signature(st: StatLike) -> tuple[int, int, int, int, int]:
        """The stat fields that change when content may have changed."""
        sig: tuple[int, int, int, int, int] = signature(st)
        return sig

    def lookup(self, rel: bytes, st: StatLike) -> CacheEntry | None:
        """The cached entry if ``st`` matches and the entry is not racily clean."""
        ent = self._get(rel)
        if ent is None or ent.packed_sig != packed_signature(st):
            return None
        if st.st_mtime_ns >= ent.hashed_at_ns - self.racy_ns:
            return None
        return ent

    def decided(self, rel: bytes, st: StatLike, stamp: bytes | None) -> CacheEntry | None:
        """The cached entry if ``st`` matches (not racily) and its decision has ``stamp``."""
        if stamp is None:
            return None
        ent = self.lookup(rel, st)
        if ent is None or ent.stamp != stamp:
            return None
        return ent

    def store(
        self,
        rel: bytes,
        st: StatLike,
        oid: str,
        decision: Decision,
        at_ns: int,
        *,
        stamp: bytes | None = None,
        phase1: Decision | None = None,
        ckey: bytes | None = None,
    ) -> None:
        """Remember a hashed file, its decisions and what they were made under."""
        self._entries[rel] = CacheEntry(
            packed_signature(st),
            bytes.fromhex(oid),
            _shared(decision),
            at_ns,
            stamp,
            None if phase1 is None else _shared(phase1),
            ckey,
        )
        self.changed = True

    def restamp(self, rel: bytes, ent: CacheEntry, stamp: bytes | None) -> None:
        """Record that ``ent``'s decisions were checked again under ``stamp``."""
        if ent.stamp != stamp and self._entries.get(rel) is ent:
            self._entries[rel] = attrs.evolve(ent, stamp=stamp)
            self.changed = True

    def discard(self, rel: bytes) -> None:
        """Forget one path (its cached decision no longer holds: the policy now skips it)."""
        if self._entries.pop(rel, None) is not None:
            self.changed = True

    def forget(self, oids: set[str]) -> None:
        """Drop entries whose blob was deleted (by garbage collection)."""
        raw = {bytes.fromhex(o) for o in oids}
        stale = [
            rel
            for rel, ent in self._entries.items()
            if (ent.raw_oid if isinstance(ent, CacheEntry) else ent[2]) in raw
        ]
        for rel in stale:
            del self._entries[rel]
        if stale:
            self.changed = True

    def save(self, path: str) -> None:
        """Write the cache atomically (see :mod:`~snapd.capture.sealed`).

        Decisions, stamps and content keys are written once each and referred to by index
        (100,000 files share a handful). A crash mid-write leaves the previous file; a lost or
        stale cache only costs re-hashing, never a wrong snapshot (every entry is re-validated
        against a fresh lstat).
        """
        tables: dict[object, int] = {}
        rows = []
        for rel in list(self._entries):
            ent = self._get(rel)
            if ent is None:
                continue
            rows.append(
                (
                    rel,
                    ent.packed_sig,
                    ent.raw_oid,
                    ent.hashed_at_ns,
                    tables.setdefault(_decision_row(ent.decision), len(tables)),
                    tables.setdefault(ent.stamp, len(tables)),
                    tables.setdefault(_decision_row(ent.phase1), len(tables)),
                    tables.setdefault(ent.ckey, len(tables)),
                )
            )
        write_sealed(path, _MAGIC, (self.FORMAT, list(tables), rows))
        self.changed = False

    @classmethod
    def load(cls, path: str, store: Store) -> StatCache:
        """Read a saved cache, dropping entries whose blob is no longer in the store.

        A missing, damaged (the digest does not match) or foreign-format file gives an empty
        cache; marshal data is read only once its digest matches.
        """
        cache = cls()
        try:
            loaded = read_sealed(path, _MAGIC, "stat cache")
            if loaded is None:
                return cache
            fmt, table, rows = loaded
            if fmt != cls.FORMAT or not isinstance(table, list) or not isinstance(rows, list):
                return cache
            cache._table = [_decision_of(v) if isinstance(v, tuple) else v for v in table]
            present = store.object_ids()
            if present is not None:
                rows = [row for row in rows if row[2] in present]
            else:
                rows = [row for row in rows if store.contains(row[2].hex())]
            cache._entries = {row[0]: row for row in rows}
        except (ValueError, TypeError, EOFError, IndexError, AttributeError) as exc:
            logger.warning("ignoring unreadable stat cache %s: %s", path, exc)
            return cls()
        return cache

    def __len__(self) -> int:
        return len(self._entries)


def _decision_row(d: Decision | None) -> tuple[object, ...] | None:
    if d is None:
        return None
    return (d.outcome.value, d.rule, d.reason, d.evidence, d.binary)


def _decision_of(row: tuple[object, ...]) -> Decision:
    outcome, rule, reason, evidence, binary = row
    if not (
        isinstance(outcome, str)
        and isinstance(rule, str)
        and isinstance(reason, str)
        and (evidence is None or isinstance(evidence, str))
        and isinstance(binary, bool)
    ):
        raise TypeError("a cached decision of the wrong shape")
    return _shared(
        Decision(
            outcome=Outcome(outcome), rule=rule, reason=reason, evidence=evidence, binary=binary
        )
    )
