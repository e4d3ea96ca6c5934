"""A restore plan's actions and their serialised form (one JSON line per action)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from typing import IO

import attrs

from snapd.diff.hunks import Hunk
from snapd.enums import RestoreActionKind

Sig = tuple[int, int, int, int, int]
"""An ``lstat`` signature: mtime_ns, ctime_ns, size, inode, mode."""


def sig_of(st: os.stat_result) -> Sig:
    """The ``lstat`` fields that change when a path is touched."""
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino, st.st_mode)


def _hunks(value: object) -> tuple[Hunk, ...] | None:
    """Hunks as given, or as a plan line holds them (lists of field dicts)."""
    if value is None:
        return None
    assert isinstance(value, (list, tuple))
    return tuple(
        h
        if isinstance(h, Hunk)
        else Hunk(**{**h, "lines": tuple(h["lines"]), "cut_lines": tuple(h["cut_lines"])})
        for h in value
    )


@attrs.frozen(kw_only=True)
class Action:
    """One planned step: the path, what to do, and what the worktree must still hold to do it."""

    path: bytes
    action: RestoreActionKind
    kind: str
    """``file``, ``symlink``, ``dir`` or ``special`` (the snapshot's kind, else the live one)."""
    old_mode: int | None = None
    old_oid: str | None = None
    """The live content the plan saw (captured files): re-hashed before it is replaced."""
    old_size: int | None = None
    old_mtime_ns: int | None = None
    """For a forced uncaptured live path: with size and mode, what ``lstat`` must still say."""
    new_mode: int | None = None
    new_oid: str | None = None
    new_size: int | None = None
    data: bytes | None = None
    """New content held in memory (hunk-level restores, bounded by ``diffMaxBytes``)."""
    reason: str | None = None
    rule: str | None = None
    forced: bool = False
    graft: bool = False
    """Live content the capture skipped that the snapshot has: the restore replaces it, and
    keeps it in the safety snapshot first (grafted into its tree)."""
    sig: Sig | None = None
    """``lstat`` of the path when planned (None: absent, or not reachable without a symlink)."""
    step: str | None = None
    """In a revert plan: ``revert``, ``merge``, ``conflict`` or ``keep`` (what it does with
    the step's change; ``action`` says what it writes)."""
    conflict: str | None = None
    """In a revert plan, for a ``conflict``: why, as a code (e.g. ``overlapping-edits``)."""
    hunks: tuple[Hunk, ...] | None = attrs.field(default=None, converter=_hunks)
    """In a revert plan, for a ``conflict``: the step's hunks that could not be taken out."""
    hunks_cut: bool = False
    """``hunks`` lists only the first of them (the rest did not fit the item's budget)."""

    @property
    def changes(self) -> bool:
        """True for an action that writes or deletes."""
        return self.action is not RestoreActionKind.KEEP

    def to_line(self) -> bytes:
        """Serialise as one plan line (JSON; bytes as hex)."""
        obj = attrs.asdict(self, recurse=False)
        obj["path"] = self.path.hex()
        obj["action"] = self.action.value
        obj["data"] = self.data.hex() if self.data is not None else None
        if self.hunks is not None:
            obj["hunks"] = [attrs.asdict(h) for h in self.hunks]
        obj = {k: v for k, v in obj.items() if v is not None and v is not False}
        return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode("ascii") + b"\n"

    @classmethod
    def from_line(cls, line: bytes) -> Action:
        """Parse a line written by :meth:`to_line`."""
        obj = json.loads(line)
        obj["path"] = bytes.fromhex(obj["path"])
        obj["action"] = RestoreActionKind(obj["action"])
        if "data" in obj:
            obj["data"] = bytes.fromhex(obj["data"])
        if "sig" in obj:
            obj["sig"] = tuple(obj["sig"])
        return cls(**obj)


def blob_id(data: bytes) -> str:
    """The git blob id of in-memory content."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def safe_rel(path: bytes) -> bool:
    """True for a relative path restore may touch: no empty, ``.``, ``..`` or ``.git`` part."""
    if not path or b"\0" in path:
        return False
    return all(p not in (b"", b".", b"..", b".git") for p in path.split(b"/"))


@attrs.define
class PlanSummary:
    """Totals of a plan and its token."""

    token: str = ""
    written: int = 0
    deleted: int = 0
    kept: int = 0
    lines: int = 0


def write_plan(header: object, actions: Iterable[Action], out: IO[bytes]) -> PlanSummary:
    """Stream a plan into ``out`` (one line per action) and compute its token.

    The token hashes ``header`` (the target and the scope) and every line; a line holds the
    action, the content ids on both sides and the path's ``lstat`` signature, so any change to
    a planned path, or a path that newly differs, changes the token.
    """
    h = hashlib.sha256(b"snapd-restore-plan-v1\n")
    h.update(json.dumps(header, sort_keys=True, separators=(",", ":")).encode() + b"\n")
    summary = PlanSummary()
    for action in actions:
        line = action.to_line()
        h.update(line)
        out.write(line)
        summary.lines += 1
        if action.action is RestoreActionKind.DELETE:
            summary.deleted += 1
        elif action.action is RestoreActionKind.KEEP:
            summary.kept += 1
        else:
            summary.written += 1
    summary.token = h.hexdigest()[:32]
    return summary


def read_plan(lines: Iterable[bytes]) -> Iterator[Action]:
    """Parse plan lines (as :func:`write_plan` wrote them)."""
    for line in lines:
        if line.strip():
            yield Action.from_line(line)
