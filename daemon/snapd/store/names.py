"""Snapshot names people type: ids, ``latest``, ``latest~N``, labels and id prefixes.

A name resolves by the first rule that matches, in this order (protocol.md, "Naming
snapshots"):

1. a full 40-hex id of a retained snapshot (any case);
2. ``latest`` (the newest snapshot) or ``latest~N`` (the N-th retained snapshot before it;
   ``latest~`` is ``latest~1``);
3. a label, matched exactly (case and spaces count);
4. a unique prefix of at least :data:`MIN_PREFIX` hex digits (any case).

A label therefore wins over an id prefix it happens to spell (git does the same with a ref
named like a short hash: full id, then names, then abbreviations), and ``latest`` always means
the newest snapshot. A label several snapshots carry, or a prefix several ids share, is
ambiguous: the failure lists a few candidates (id, time, label) and the caller picks one by id.

Only retained snapshots resolve (a dropped one's commit may linger until gc prunes it). Ref
names carry the ids, so matching a prefix reads no commit; matching a label reads each
snapshot commit once, keeping only the few candidates it will show.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from typing import Final

from snapd.store.errors import CorruptObject, MissingObject
from snapd.store.history import SnapshotInfo, iter_history, read_snapshot
from snapd.store.objects import is_oid
from snapd.store.repo import Store

LATEST: Final = "latest"
"""The newest snapshot."""

MIN_PREFIX: Final = 4
"""Shortest id prefix accepted (git's minimum abbreviation)."""

SHOWN: Final = 5
"""Candidates an ambiguity error lists (the rest are counted)."""

ANCESTOR: Final = re.compile(r"latest~([0-9]*)")
"""``latest~N``: the N-th retained snapshot before the newest."""

HEX: Final = frozenset("0123456789abcdef")


class NoSuchSnapshot(Exception):
    """A name that names no retained snapshot, or several (the worktree layer reports it)."""

    def __init__(self, message: str, **data: object) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


LABEL_TRAILER: Final = "\nSnapd-Label: "


def resolve(store: Store, name: str, field: str) -> SnapshotInfo:
    """The retained snapshot ``name`` names (see the module docstring for the rules).

    Raises:
        NoSuchSnapshot: nothing has that name, or several snapshots do (``data.candidates``
            lists the first few ids).
    """
    refs = store.refs.snapshot_refs()
    lowered = name.lower()
    if is_oid(lowered) and any(oid == lowered for _seq, oid in refs):
        return read_snapshot(store, lowered)
    back = _ancestor(name)
    if back is not None:
        # As the history lists them: a damaged snapshot is skipped (and reported there).
        back_then = next(itertools.islice(iter_history(store), back, None), None)
        if back_then is not None:
            return back_then
        if not refs:
            raise NoSuchSnapshot(
                f"{field}: {name!r} names nothing: no snapshot has been taken yet",
                field=field,
                ref=name,
            )
        raise NoSuchSnapshot(
            f"{field}: {name!r} goes back {back} snapshots, but only {len(refs)} "
            f"{'is' if len(refs) == 1 else 'are'} retained",
            field=field,
            ref=name,
        )
    labelled = [oid for _seq, oid in reversed(refs) if _label(store, oid) == name]
    if len(labelled) == 1:
        return read_snapshot(store, labelled[0])
    if labelled:
        raise _ambiguous(store, name, field, "label", labelled)
    if len(lowered) >= MIN_PREFIX and HEX.issuperset(lowered):
        found = [oid for _seq, oid in reversed(refs) if oid.startswith(lowered)]
        if len(found) == 1:
            return read_snapshot(store, found[0])
        if found:
            raise _ambiguous(store, name, field, "id prefix", found)
    raise NoSuchSnapshot(
        f"{field}: no snapshot is named {name!r} (a name is a snapshot id, a unique id prefix "
        f"of at least {MIN_PREFIX} hex digits, 'latest', 'latest~N' or a label)",
        field=field,
        ref=name,
    )


def _ancestor(name: str) -> int | None:
    """How far back ``latest`` / ``latest~N`` goes, or None for another name."""
    if name == LATEST:
        return 0
    match = ANCESTOR.fullmatch(name)
    if match is None:
        return None
    return int(match.group(1)) if match.group(1) else 1


def _label(store: Store, oid: str) -> str | None:
    """A snapshot's label from its commit message alone (None when unreadable or unlabelled)."""
    try:
        message = store.read_commit(oid).message
    except (MissingObject, CorruptObject):
        return None  # the history listing reports damaged refs; here it just names nothing
    # The last one: a label (the subject line) may itself contain the trailer's text.
    _, sep, rest = message.rpartition(LABEL_TRAILER)
    if not sep:
        return None
    try:
        label = json.loads(rest.split("\n", 1)[0])
    except ValueError:
        return None
    return label if isinstance(label, str) else None


def _ambiguous(store: Store, name: str, field: str, what: str, oids: list[str]) -> NoSuchSnapshot:
    """The failure for a name several snapshots answer to, listing the newest few."""
    shown = [_describe(store, oid) for oid in oids[:SHOWN]]
    more = f"; and {len(oids) - SHOWN} more" if len(oids) > SHOWN else ""
    return NoSuchSnapshot(
        f"{field}: {name!r} is ambiguous: {len(oids)} snapshots have this {what}: "
        + "; ".join(shown)
        + more
        + " (name one by its id)",
        field=field,
        ref=name,
        candidates=oids[:SHOWN],
    )


def _describe(store: Store, oid: str) -> str:
    """``<12 hex> <UTC time> "<label>"`` for an ambiguity message."""
    try:
        info = read_snapshot(store, oid)
    except (MissingObject, CorruptObject):
        return f"{oid[:12]} (unreadable)"
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(info.time))
    label = f" {json.dumps(info.label, ensure_ascii=False)}" if info.label is not None else ""
    return f"{oid[:12]} {when}{label}"
