"""Planning a revert: take one step (snapshot ``before`` -> ``after``) out of the live worktree.

Only the paths the step changed are planned; each is a three-way decision with base = the
path as the step left it, ours = the live path and theirs = the path before the step:

* the worktree still holds what the step wrote: ``revert``, back to exactly what it was
  (written, recreated or deleted, through the restore planner's checks);
* already as before the step: ``keep``;
* a text file changed since, only where the step did not touch it: ``merge`` (the step's
  hunks come out, the later edits stay; :mod:`snapd.restore.merge`);
* anything else is a ``conflict`` and left alone: overlapping edits (with the step's hunks),
  a file the step created or deleted that changed since, a symlink or mode changed since, a
  binary file, a file over ``diffMaxBytes`` or ``diffMaxLines`` (``too-large-to-merge``: such
  a file is reverted only when its hash says it still is what the step wrote), or a symlink or
  file in the way;
* content a snapshot did not capture (the step's, or the live one) is ``keep``, as in restore.

The plan's lines are :class:`~snapd.restore.actions.Action` s with ``step`` set, so applying one
is applying a restore plan (:mod:`snapd.restore.apply`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import attrs

from snapd.diff.changes import Side, iter_changes, lookup
from snapd.diff.hunks import BINARY_SNIFF, Hunk
from snapd.enums import RestoreActionKind, RevertActionKind
from snapd.restore.actions import Action, blob_id, safe_rel, sig_of
from snapd.restore.merge import revert_step
from snapd.restore.plan import Planner, Scope
from snapd.store.history import State
from snapd.store.objects import MODE_LINK, MODE_TREE, Entry
from snapd.store.repo import Store

if TYPE_CHECKING:
    from snapd.config import Options


def _same(a: Side | None, b: Side | None) -> bool:
    """True when both sides are absent, or captured with the same content and mode."""
    if a is None or b is None:
        return a is b
    return a.oid is not None and (a.oid, a.mode) == (b.oid, b.mode)


class RevertPlanner:
    """Turns a step's changes into revert actions against the live worktree.

    Args:
        store: The store holding all three states.
        root: The worktree root.
        live: The worktree as captured just now (under the writer lock).
        before: The snapshot before the step (``from``).
        after: The snapshot the step ended with (``to``).
        scope: Which of the step's paths to revert (``paths``) and ``force``.
        options: Limits: merges read files up to ``diffMaxBytes`` and ``diffMaxLines``.
        markers: Write overlapping edits into the file between conflict markers (the path is
            still a ``conflict``) instead of leaving it alone.
    """

    def __init__(
        self,
        store: Store,
        root: bytes,
        live: State,
        before: State,
        after: State,
        scope: Scope,
        options: Options,
        *,
        markers: bool = False,
    ) -> None:
        self.markers = markers
        self.store = store
        self.root = root
        self.live = live
        self.before = before
        self.after = after
        self.scope = scope
        self.options = options
        self.planner = Planner(store, root, live, before, scope, options)
        self._trees: dict[str, dict[bytes, Entry]] = {}
        """Live trees read so far, by id: the step's paths share their directories."""

    def actions(self) -> Iterator[Action]:
        """The plan, in path order: one action per path the step changed (within ``paths``).

        Raises:
            ThroughSymlink: a named path lies under a symlink in the worktree.
        """
        for literal in self.scope.literals:
            self.planner.refuse_symlinked(literal, "paths")
        for change in iter_changes(
            self.store, self.before, self.after, prefixes=self.scope.prefixes
        ):
            if self.scope.selects(change.path):
                yield self.decide(change.path, change.old, change.new)

    def decide(self, path: bytes, before: Side | None, after: Side | None) -> Action:
        """The action for one path the step changed from ``before`` to ``after``."""
        live = self._live_side(path)
        ref = after or before
        assert ref is not None
        base = Action(
            path=path,
            action=RestoreActionKind.KEEP,
            kind=ref.kind,
            old_mode=live.mode if live else None,
            old_oid=live.oid if live else None,
            new_mode=before.mode if before else None,
        )

        def left(
            step: RevertActionKind,
            reason: str,
            *,
            conflict: str | None = None,
            rule: str | None = None,
            hunks: tuple[Hunk, ...] | None = None,
            cut: bool = False,
        ) -> Action:
            # The signature too: a path left alone that changes changes the plan's token.
            st = self._lstat(path) if safe_rel(path) else None
            return attrs.evolve(
                base,
                old_size=live.size(self.store) if live else None,
                new_size=before.size(self.store) if before is not None else None,
                step=step.value,
                reason=reason,
                conflict=conflict,
                rule=rule,
                hunks=hunks,
                hunks_cut=cut,
                sig=sig_of(st) if st is not None else None,
            )

        for side, when in ((before, "before"), (after, "after")):
            if side is not None and side.skipped is not None:
                return left(
                    RevertActionKind.KEEP,
                    f"the snapshot {when} the step has no content for it: {side.skipped.reason}",
                    rule=side.skipped.rule,
                )
        forced = path in self.scope.force
        if live is not None and live.skipped is not None:
            if not forced:
                return left(
                    RevertActionKind.KEEP,
                    f"its content in the worktree was not captured ({live.skipped.reason}), so "
                    "it cannot be compared with the step: force it to put back what it was "
                    "before the step",
                    rule=live.skipped.rule,
                )
            return self._take(path, live, before, RevertActionKind.REVERT)
        if _same(live, after):
            return self._take(path, live, before, RevertActionKind.REVERT)
        if _same(live, before):
            return left(RevertActionKind.KEEP, "already as it was before the step")

        def conflict(code: str, reason: str) -> Action:
            return left(RevertActionKind.CONFLICT, reason, conflict=code)

        if after is None:
            return conflict(
                "changed-since", "the step deleted it, and the worktree has another one there now"
            )
        if before is None:
            return conflict("changed-since", "the step created it, and it changed since")
        if live is None:
            return conflict("changed-since", "the step changed it, and it was deleted since")
        if MODE_LINK in (before.mode, after.mode, live.mode):
            return conflict(
                "changed-since",
                "a symlink (or a file that was one) changed since the step: it is reverted "
                "only while it still is as the step left it",
            )
        if live.mode == after.mode:
            mode = before.mode
        elif before.mode == after.mode or live.mode == before.mode:
            mode = live.mode
        else:
            return conflict("changed-since", "the step changed its mode, and so did a later edit")
        if live.oid == after.oid:
            new: Side = before
        elif before.oid == after.oid or live.oid == before.oid:
            new = live  # the content needs nothing: only the mode comes back
        else:
            return self._merge(path, live, before, after, mode, conflict)
        if (new.oid, mode) == (live.oid, live.mode):
            return left(RevertActionKind.KEEP, "already as it was before the step")
        return self._take(path, live, attrs.evolve(new, mode=mode), RevertActionKind.MERGE)

    def _merge(
        self,
        path: bytes,
        live: Side,
        before: Side,
        after: Side,
        mode: int,
        conflict: Callable[[str, str], Action],
    ) -> Action:
        """Merge a text file's content: the step's change out, later edits kept."""
        assert live.oid is not None and before.oid is not None and after.oid is not None
        limit = self.options.diff_max_bytes
        sizes = [side.size(self.store) for side in (before, after, live)]
        if max(sizes) > limit:
            return conflict(
                "too-large-to-merge",
                f"it changed since the step and is over diffMaxBytes ({limit} bytes): a file "
                "this big is reverted only while it still is exactly as the step left it",
            )
        texts = [
            self.store.read_blob(oid, limit) or b"" for oid in (before.oid, after.oid, live.oid)
        ]
        if any(b"\0" in text[:BINARY_SNIFF] for text in texts):
            return conflict(
                "binary",
                "a binary file that changed since the step: it is reverted only while it "
                "still is exactly as the step left it",
            )
        cap = self.options.diff_max_lines
        if any(text.count(b"\n") >= cap for text in texts):
            return conflict(
                "too-large-to-merge",
                f"it changed since the step and has more than diffMaxLines ({cap}) lines: it "
                "is reverted only while it still is exactly as the step left it",
            )
        done = revert_step(
            texts[0],
            texts[1],
            texts[2],
            timeout=self.options.diff_timeout,
            max_line_chars=self.options.max_line_chars,
        )
        if done.merged is None:
            action: Action = conflict(
                "overlapping-edits",
                "it changed since the step where the step changed it too: the file is left "
                "as it is; hunks lists the step's changes that stay",
            )
            if self.markers and done.marked is not None:
                marked = Side(mode, blob_id(done.marked))
                written = self._take(
                    path, live, marked, RevertActionKind.CONFLICT, data=done.marked
                )
                if written.action is not RestoreActionKind.KEEP:
                    action = attrs.evolve(
                        written,
                        conflict="overlapping-edits",
                        reason="it changed since the step where the step changed it too: the "
                        "rest of the step is taken out, and each overlap is written between "
                        "conflict markers",
                    )
            return attrs.evolve(action, hunks=done.conflicts, hunks_cut=done.cut)
        new = Side(mode, blob_id(done.merged))
        return self._take(path, live, new, RevertActionKind.MERGE, data=done.merged)

    def _take(
        self,
        path: bytes,
        live: Side | None,
        new: Side | None,
        step: RevertActionKind,
        *,
        data: bytes | None = None,
    ) -> Action:
        """Write (or delete) through the restore planner, which checks the way there."""
        planned = self.planner.decide(
            path, live, new, data=data, new_mode=new.mode if new is not None else None
        )
        uncaptured = live is None and self._exists(path)
        forced = path in self.scope.force
        if (planned.graft and not forced) or (
            planned.action is RestoreActionKind.KEEP and uncaptured and not forced
        ):
            st = self._lstat(path)
            return attrs.evolve(
                planned,
                action=RestoreActionKind.KEEP,
                step=RevertActionKind.KEEP.value,
                graft=False,
                new_oid=None,
                data=None,
                reason="it exists in the worktree but was not captured, so it cannot be "
                "compared with the step: force it to put back what it was before the step",
                sig=sig_of(st) if st is not None else None,
            )
        if planned.action is RestoreActionKind.KEEP:
            if planned.rule is not None or (live is not None and live.skipped is not None):
                return attrs.evolve(planned, step=RevertActionKind.KEEP.value)
            return attrs.evolve(planned, step=RevertActionKind.CONFLICT.value, conflict="blocked")
        return attrs.evolve(planned, step=step.value)

    def _live_side(self, path: bytes) -> Side | None:
        """The live worktree's side of ``path`` (its blob, its skipped record, or None).

        As :func:`~snapd.diff.changes.lookup`, with the trees on the way cached: a step's
        1,000 paths in a few hundred directories read each directory once.
        """
        parts = path.split(b"/")
        tree = self.live.tree
        for depth, name in enumerate(parts):
            entries = self._trees.get(tree)
            if entries is None:
                if len(self._trees) > 4096:
                    self._trees.clear()
                entries = {e.name: e for e in self.store.read_tree(tree)}
                self._trees[tree] = entries
            entry = entries.get(name)
            if entry is None or (entry.mode != MODE_TREE and depth < len(parts) - 1):
                break
            if depth == len(parts) - 1:
                return None if entry.mode == MODE_TREE else Side(entry.mode, entry.id)
            tree = entry.id
        return lookup(self.store, self.live, path)  # not in the tree: a skipped record, or None

    def _lstat(self, path: bytes) -> os.stat_result | None:
        try:
            return os.lstat(os.path.join(self.root, path))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def _exists(self, path: bytes) -> bool:
        st = self._lstat(path) if safe_rel(path) else None
        return st is not None and not stat.S_ISDIR(st.st_mode)
