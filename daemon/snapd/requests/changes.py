"""``snapd/diff``, ``snapd/hunks`` and ``snapd/explain``."""

from __future__ import annotations

import attrs

from snapd import errors, protocol
from snapd.capture.budget import explain_budget
from snapd.capture.decision import Kind
from snapd.capture.policy import Policy
from snapd.config import Options
from snapd.diff.changes import Change, Side, iter_changes, lookup
from snapd.diff.files import PastTheEnd, Piece
from snapd.diff.streamed import COARSE, LONG_LINE, BadPosition, Position
from snapd.paging import query_hash
from snapd.paths import from_wire, to_wire
from snapd.protocol.cursors import DiffPosition, GeneratedMark, HunksPosition, StateIds
from snapd.requests import wire
from snapd.requests.common import Pager, json_size, make_cursor, map_errors, open_cursor
from snapd.requests.restore import check_pattern
from snapd.restore.plan import Scope
from snapd.store.history import State
from snapd.worktree import Worktree

REASONS_BY_WEIGHT = (LONG_LINE, COARSE, "time-budget")
"""A streamed page's truncation reasons, most telling first: a stop, a blind split, time."""


# -- snapd/diff -----------------------------------------------------------------------------------


def diff(
    wt: Worktree,
    params: protocol.DiffParams,
    *,
    options: Options | None = None,
    live: tuple[State, protocol.Consistency] | None = None,
) -> protocol.DiffResult:
    """One page of changed files (``options``: the connection's, for page sizes).

    ``live`` is the live worktree when the caller captured it already (the session does, with
    its watcher's dirty set); else a diff with no ``to`` walks the worktree.
    """
    pager = Pager(options or wt.options, params.limit, params.max_bytes)
    if params.patterns is not None and not params.patterns:
        raise errors.InvalidParams("patterns: must not be empty (omit it)", field="patterns")
    scope = Scope(
        literals=tuple(from_wire(p, field="paths") for p in params.paths or []),
        globs=tuple(check_pattern(p) for p in params.patterns or []),
    )
    globbed = [params.patterns] if params.patterns else []
    query = query_hash("diff", params.from_, params.to, sorted(params.paths or []), *globbed)
    consistency: protocol.Consistency | None = None
    with map_errors():
        if params.cursor is None:
            old = wt.resolve(params.from_, "from").state
            if params.to is not None:
                new = wt.resolve(params.to, "to").state
            else:
                new, consistency = live if live is not None else wt.live_state()
            after = None
        else:
            pos = open_cursor(params.cursor, protocol.SNAPD_DIFF, query, DiffPosition)
            old, new = _pinned_state(wt, pos.old), _pinned_state(wt, pos.new)
            after = _hex(pos.after)
        changes = iter_changes(wt.store, old, new, prefixes=scope.prefixes, after=after)
        if scope.globs:
            changes = (c for c in changes if scope.selects(c.path))
        pairs = ((c, _file_change(wt, c)) for c in changes)
        page, rest = pager.take(pairs, size=lambda p: json_size(p[1]))
    cursor = None
    if rest is not None:
        position = DiffPosition(
            old=StateIds(**attrs.asdict(old)),
            new=StateIds(**attrs.asdict(new)),
            after=page[-1][0].key.hex(),
        )
        cursor = make_cursor(protocol.SNAPD_DIFF, query, position)
    return protocol.DiffResult(
        files=[fc for _c, fc in page], next_cursor=cursor, consistency=consistency
    )


def _hex(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise errors.BadCursor("cursor is malformed", field="cursor") from exc


def _pinned_state(wt: Worktree, ids: StateIds) -> State:
    state = State(ids.tree, ids.manifest, ids.generated)
    if not all(wt.store.contains(oid) for oid in attrs.astuple(state)):
        raise errors.BadCursor("cursor is stale: its capture is gone", field="cursor")
    return state


def _file_change(wt: Worktree, change: Change) -> protocol.FileChange:
    old, new = change.old, change.new
    fc = wire.file_change(
        change,
        old.size(wt.store) if old else None,
        new.size(wt.store) if new else None,
    )
    if fc.skipped is None and fc.kind == "file":
        fc.binary = any(wt.differ.is_binary(s) for s in (old, new))
    return fc


# -- snapd/hunks ----------------------------------------------------------------------------------


def hunks(
    wt: Worktree, params: protocol.HunksParams, *, options: Options | None = None
) -> protocol.HunksResult:
    """One page of one file's hunks (``options``: the connection's, for page sizes)."""
    pager = Pager(options or wt.options, params.limit, params.max_bytes)
    if not 0 <= params.context <= 1000:
        raise errors.InvalidParams("context: must be between 0 and 1000", field="context")
    rel = from_wire(params.path)
    if not rel:
        raise errors.InvalidParams("path: must name a file, not the root", field="path")
    query = query_hash("hunks", params.from_, params.to, params.path, params.context)
    start: int | Position | None = None
    with map_errors():
        if params.cursor is None:
            old = lookup(wt.store, wt.resolve(params.from_, "from").state, rel)
            new = (
                wt.live_side(rel)
                if params.to is None
                else lookup(wt.store, wt.resolve(params.to, "to").state, rel)
            )
            mark = wire.generated_mark(old, new)
        else:
            pos = open_cursor(params.cursor, protocol.SNAPD_HUNKS, query, HunksPosition)
            old, new = _pinned_blob(wt, pos.old), _pinned_blob(wt, pos.new)
            start = pos.index
            if pos.stream is not None:
                try:
                    start = Position.from_list(pos.stream)
                except BadPosition as exc:
                    raise _stale(exc) from exc
            mark = pos.generated
        gen = wire.generated_info(mark)
        skip = wire.skip_info(old, new)
        if skip is not None:
            return protocol.HunksResult(hunks=[], skipped=skip)
        old_oid = old.oid if old else None
        new_oid = new.oid if new else None
        if old_oid == new_oid:
            return protocol.HunksResult(hunks=[], generated=gen)
        try:
            found = wt.differ.hunks(old, new, context=params.context, start=start)
            if found.binary:
                return protocol.HunksResult(hunks=[], binary=True, generated=gen)
            # Streamed hunks are measured as they come (they can be many and big); in-memory
            # ones exactly, as they travel.
            pairs = ((p, wire.hunk(p.hunk) if p.hunk is not None else None) for p in found.pieces)
            if found.streamed:
                page, rest = pager.take(pairs, size=_estimate)
            else:
                page, rest = pager.take(pairs, size=lambda pw: json_size(pw[1]))
        except PastTheEnd as exc:
            raise errors.BadCursor("cursor is past the end of this diff", field="cursor") from exc
        except BadPosition as exc:
            raise _stale(exc) from exc
    if rest is not None and rest[1] is None:
        page.append(rest)  # the walk stopped right after this page: say so here
        rest = None
    reasons = {p.truncated for p, _h in page}
    reason = found.truncated or next((r for r in REASONS_BY_WEIGHT if r in reasons), None)
    cursor = None
    if rest is not None:
        cursor = make_cursor(protocol.SNAPD_HUNKS, query, _resume(old_oid, new_oid, rest[0], mark))
    return protocol.HunksResult(
        hunks=[h for _p, h in page if h is not None],
        next_cursor=cursor,
        truncated=reason is not None,
        truncated_reason=reason,
        generated=gen,
    )


def _estimate(pair: tuple[Piece, protocol.Hunk | None]) -> int:
    """A streamed hunk's size on the wire, estimated from its lines."""
    hunk = pair[0].hunk
    return hunk.json_size() if hunk is not None else 0


def _stale(exc: BadPosition) -> errors.BadCursor:
    return errors.BadCursor(f"cursor is stale or malformed: {exc}", field="cursor")


def _resume(
    old: str | None, new: str | None, piece: Piece, mark: GeneratedMark | None
) -> HunksPosition:
    if isinstance(piece.resume, Position):
        return HunksPosition(old=old, new=new, stream=piece.resume.to_list(), generated=mark)
    return HunksPosition(old=old, new=new, index=piece.resume, generated=mark)


def _pinned_blob(wt: Worktree, oid: str | None) -> Side | None:
    if oid is None:
        return None
    if not wt.store.contains(oid):
        raise errors.BadCursor("cursor is stale or malformed", field="cursor")
    return Side(0, oid)


# -- snapd/explain --------------------------------------------------------------------------------


def explain(wt: Worktree, params: protocol.ExplainParams) -> protocol.ExplainResult:
    """The capture policy's decision for one path."""
    rel = from_wire(params.path)
    with map_errors():
        wt.check_root()
        policy = Policy(wt.root_b, wt.options)
        # The budget count reads the newest snapshot's trees and manifest: damage there is a
        # store failure (-31007 naming the object), not an internal error.
        try:
            decision, st = policy.explain(rel)
            head = wt.head() if decision.captured else None
            if head is not None:
                # The directory budget is the next snapshot's decision too: say it.
                is_dir = st is not None and Kind.of(st) is Kind.DIR
                over = explain_budget(wt.store, policy, head.state, rel, is_dir=is_dir)
                decision = over or decision
        except OSError as exc:
            raise errors.WorktreeFailure(f"cannot inspect {params.path}: {exc.strerror}") from exc
    return protocol.ExplainResult(
        path=to_wire(rel),
        outcome=decision.outcome,
        rule=decision.rule,
        reason=decision.reason,
        exists=st is not None,
        evidence=decision.evidence,
        kind=Kind.of(st).value if st is not None else None,
        size=st.st_size if st is not None else None,
        binary=decision.binary,
        skipped_ancestor=to_wire(decision.within) if decision.within is not None else None,
    )
