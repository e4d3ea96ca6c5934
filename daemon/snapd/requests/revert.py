"""``snapd/revert``: take one step out of the worktree, keeping every later edit.

The plan comes from :class:`~snapd.restore.revert.RevertPlanner`; everything after it is the
restore's: the plan is spooled (never held in memory) and hashed into ``planToken``, a safety
snapshot is taken before the first write, and :func:`~snapd.requests.restore.apply_plan`
writes each file atomically, checking it still holds what the plan saw, never through a
symlink or outside the root. All of it runs under the writer lock.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Final

import attrs

from snapd import errors, protocol
from snapd.config import Options
from snapd.paging import query_hash
from snapd.paths import from_wire
from snapd.protocol.cursors import RevertPosition
from snapd.requests import wire
from snapd.requests.common import Pager, make_cursor, map_errors, open_cursor
from snapd.requests.restore import capture_live, run_plan
from snapd.restore.actions import Action, read_plan, write_plan
from snapd.restore.plan import Scope
from snapd.restore.revert import RevertPlanner
from snapd.store.history import manifest_lines
from snapd.worktree import Worktree

KINDS: Final = ("revert", "merge", "conflict", "keep")
"""The ``step`` values of a revert plan's actions, in the order of the result's totals."""

_NOT_STORED: Final = "0" * 40
"""The plan blob of a first page, until a cursor needs the plan stored."""


def revert(
    wt: Worktree,
    params: protocol.RevertParams,
    *,
    cancel: threading.Event | None = None,
    client: str | None = None,
    options: Options | None = None,
) -> protocol.RevertResult:
    """Plan taking the step ``from`` -> ``to`` out of the worktree and, unless ``dryRun``, do it.

    Raises:
        errors.PlanStale: ``planToken`` differs from the plan computed now.
        errors.InvalidParams: a bad ``paths``, ``force`` or page param.
        errors.PathOutsideRoot: a path is absolute, has ``..``, or lies under a symlink.
        errors.UnknownSnapshot: ``from`` or ``to`` names no snapshot.
        snapshots.Cancelled: ``cancel`` was set before anything was written.
    """
    pager = Pager(options or wt.options, params.limit, params.max_bytes)
    scope = _scope(params)
    query = query_hash(
        "revert",
        params.from_,
        params.to,
        sorted(params.paths or []),
        sorted(params.force or []),
        params.conflict_markers,
    )
    if params.cursor is not None:
        if not params.dry_run:
            raise errors.InvalidParams(
                "dryRun: a cursor pages a plan already made; it never applies one",
                field="dryRun",
            )
        with map_errors():
            pos = open_cursor(params.cursor, protocol.SNAPD_REVERT, query, RevertPosition)
            if not wt.store.contains(pos.plan):
                raise errors.BadCursor("cursor is stale: its plan is gone", field="cursor")
            lines = itertools.islice(manifest_lines(wt.store, pos.plan), pos.index, None)
            return _result(pos, query, pager, read_plan(lines), lambda: pos.plan)
    spool = tempfile.SpooledTemporaryFile(max_size=1 << 20)
    with spool, wt.changing(), map_errors():
        before = wt.resolve(params.from_, "from")
        after = wt.resolve(params.to, "to")
        live = capture_live(wt, cancel)
        planner = RevertPlanner(
            wt.store,
            wt.root_b,
            live,
            before.state,
            after.state,
            scope,
            wt.options,
            markers=params.conflict_markers,
        )
        counts: Counter[str] = Counter()
        header = {"from": before.id, "to": after.id, "query": query, "method": "revert"}
        summary = write_plan(header, _counted(planner.actions(), counts), spool)
        done, safety = run_plan(
            wt,
            spool,
            summary,
            params,
            live=live,
            label=f"before revert of {before.id[:12]}..{after.id[:12]}",
            tree=before.state.tree,
            cancel=cancel,
            client=client,
        )

        def stored() -> str:
            """The plan as a blob, for the cursor of its next page."""
            size = spool.seek(0, os.SEEK_END)
            spool.seek(0)
            return wt.store.write_blob_from(spool, size)

        pos = RevertPosition(
            plan=_NOT_STORED,
            index=0,
            token=summary.token,
            totals=[counts[kind] for kind in KINDS],
            applied=done is not None,
            safety=safety,
            failed=done.conflicted if done is not None else 0,
            remaining=done.remaining if done is not None and done.cancelled else None,
        )
        spool.seek(0)
        result = _result(pos, query, pager, read_plan(spool), stored)
    if done is not None and done.conflicts:
        result.failures = [wire.revert_failure(a) for a in done.conflicts]
    return result


def _counted(actions: Iterable[Action], counts: Counter[str]) -> Iterator[Action]:
    for action in actions:
        counts[action.step or "keep"] += 1
        yield action


def _result(
    pos: RevertPosition,
    query: str,
    pager: Pager,
    actions: Iterator[Action],
    stored: Callable[[], str],
) -> protocol.RevertResult:
    """The page of the plan at ``pos`` (``actions`` start there) and the plan's outcome.

    ``stored`` gives the plan's blob id, for a cursor (the first page stores it only then).
    """
    page, rest = pager.take(wire.revert_action(a) for a in actions)
    cursor = None
    if rest is not None:
        following = attrs.evolve(pos, plan=stored(), index=pos.index + len(page))
        cursor = make_cursor(protocol.SNAPD_REVERT, query, following)
    reverted, merged, conflicted, kept = pos.totals
    return protocol.RevertResult(
        plan=page,
        plan_token=pos.token,
        applied=pos.applied,
        reverted=reverted,
        merged=merged,
        conflicted=conflicted,
        kept=kept,
        safety_snapshot=pos.safety,
        failed=pos.failed,
        cancelled=pos.remaining is not None,
        remaining=pos.remaining or 0,
        next_cursor=cursor,
    )


def _scope(params: protocol.RevertParams) -> Scope:
    if params.paths is not None and not params.paths:
        raise errors.InvalidParams(
            "paths: must not be empty (omit it to revert the whole step)", field="paths"
        )
    literals = tuple(from_wire(entry, field="paths") for entry in params.paths or [])
    force = frozenset(from_wire(p, field="force") for p in params.force or [])
    return Scope(literals, (), force)
