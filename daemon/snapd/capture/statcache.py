"""The stat cache: a file is hashed again only when its ``lstat`` signature changed.

Persisted in the store; a racy-mtime guard re-hashes files modified in the same timestamp
tick as their last hash (git's "racy clean" problem). Each entry also keeps the decisions its
file was captured with and the stamp of the policy inputs they were made under (see
:mod:`snapd.capture.decisions`): a full walk reuses them only while that stamp still holds.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Final

import attrs

from snapd.capture.decision import RACY_NS, SIGNATURE, Decision, StatLike, packed_signature
from snapd.enums import Outcome
from snapd.store.repo import Store

logger = logging.getLogger(__name__)

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

    FORMAT: Final = 2

    def __init__(self) -> None:
        self._entries: dict[bytes, CacheEntry] = {}
        self.changed = False

    @staticmethod
    def signature(st: StatLike) -> tuple[int, int, int, int, int]:
        """The stat fields that change when content may have changed."""
        return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino, st.st_mode)

    def lookup(self, rel: bytes, st: StatLike) -> CacheEntry | None:
        """The cached entry if ``st`` matches and the entry is not racily clean."""
        ent = self._entries.get(rel)
        if ent is None or ent.packed_sig != packed_signature(st):
            return None
        if st.st_mtime_ns >= ent.hashed_at_ns - RACY_NS:
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
        stale = [rel for rel, ent in self._entries.items() if ent.raw_oid in raw]
        for rel in stale:
            del self._entries[rel]
        if stale:
            self.changed = True

    def save(self, path: str) -> None:
        """Write the cache atomically (temp file + rename) as JSON lines.

        A crash mid-write leaves the previous file; a lost or stale cache only costs re-hashing,
        never a wrong snapshot (every entry is re-validated against a fresh lstat).
        """
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="ascii") as fh:
            fh.write(json.dumps({"format": self.FORMAT, "entries": len(self._entries)}) + "\n")
            for rel, ent in self._entries.items():
                d = ent.decision
                row = [
                    rel.decode("utf-8", "surrogateescape"),
                    list(ent.sig),
                    ent.oid,
                    ent.hashed_at_ns,
                    *(_decision_row(d) or ()),
                    None if ent.stamp is None else ent.stamp.hex(),
                    # Most files' two phases agree: an equal phase 1 is written as 0.
                    0 if ent.phase1 == d else _decision_row(ent.phase1),
                    None if ent.ckey is None else ent.ckey.hex(),
                ]
                fh.write(json.dumps(row, separators=(",", ":")) + "\n")
        os.replace(tmp, path)
        self.changed = False

    @classmethod
    def load(cls, path: str, store: Store) -> StatCache:
        """Read a saved cache, dropping entries whose blob is no longer in the store.

        A missing, unreadable or foreign-format file gives an empty cache.
        """
        cache = cls()
        shared: dict[str, bytes] = {}  # one bytes object per distinct stamp or key
        try:
            fh = open(path, encoding="ascii")  # closed by the with below
        except OSError:
            return cache
        with fh:
            try:
                header = json.loads(fh.readline() or "{}")
                if header.get("format") != cls.FORMAT:
                    return cache
                for line in fh:
                    row = json.loads(line)
                    rel, sig, oid, at_ns = row[:4]
                    if not store.contains(oid):
                        continue
                    decision = _shared(_decision_of(row[4:9]))
                    stamp, phase1, ckey = row[9:12]
                    cache._entries[rel.encode("utf-8", "surrogateescape")] = CacheEntry(
                        SIGNATURE.pack(*sig),
                        bytes.fromhex(oid),
                        decision,
                        at_ns,
                        None if stamp is None else shared.setdefault(stamp, bytes.fromhex(stamp)),
                        _phase1(phase1, decision),
                        None if ckey is None else shared.setdefault(ckey, bytes.fromhex(ckey)),
                    )
            except (ValueError, TypeError, UnicodeError) as exc:
                logger.warning("ignoring unreadable stat cache %s: %s", path, exc)
                return cls()
        return cache

    def __len__(self) -> int:
        return len(self._entries)


def _decision_row(d: Decision | None) -> list[object] | None:
    if d is None:
        return None
    return [d.outcome.value, d.rule, d.reason, d.evidence, d.binary]


def _phase1(field: object, decision: Decision) -> Decision | None:
    if field == 0:
        return decision
    if field is None:
        return None
    if not isinstance(field, list):
        raise TypeError("a cached decision of the wrong shape")
    return _shared(_decision_of(field))


def _decision_of(row: list[object]) -> Decision:
    outcome, rule, reason, evidence, binary = row
    if not (
        isinstance(outcome, str)
        and isinstance(rule, str)
        and isinstance(reason, str)
        and (evidence is None or isinstance(evidence, str))
        and isinstance(binary, bool)
    ):
        raise TypeError("a cached decision of the wrong shape")
    return Decision(
        outcome=Outcome(outcome), rule=rule, reason=reason, evidence=evidence, binary=binary
    )
