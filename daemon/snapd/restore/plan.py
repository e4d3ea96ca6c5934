"""Planning a restore: what bringing the worktree back to a snapshot would do, path by path.

:class:`Planner` walks ``iter_changes(live, target)`` and turns each change into one
:class:`~snapd.restore.actions.Action`: ``write`` (replace a file), ``create``, ``delete`` or
``keep`` (left alone, with the reason). Content that was not captured is never overwritten or
deleted: a path skipped on the live side is kept unless the caller forces it, and a path the
snapshot has no content for (skipped there, or inside a directory it skipped) is always kept.
Every plan line also records the path's ``lstat`` signature, so the plan token (a hash of the
plan) changes whenever the worktree does.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

import attrs
import pathspec

from snapd.diff.changes import Side, iter_changes, lookup
from snapd.diff.hunks import FileDiff, Hunk, apply_hunks, diff_blobs
from snapd.enums import RestoreActionKind
from snapd.failures import Changed, Refused, ThroughSymlink
from snapd.paths import to_wire, under
from snapd.restore.actions import Action, blob_id, safe_rel, sig_of
from snapd.store.history import State, iter_manifest
from snapd.store.objects import MODE_FILE, MODE_LINK
from snapd.store.repo import Store

_SPECS: dict[tuple[str, ...], pathspec.GitIgnoreSpec] = {}

if TYPE_CHECKING:
    from snapd.config import Options


GLOB_CHARS: Final = frozenset("*?[\\")
"""Characters that make a pattern component more than a literal name (``\\`` escapes)."""


@attrs.frozen
class HunkScope:
    """Restore selected hunks of one file, named by their digests (:attr:`Hunk.digest`)."""

    path: bytes
    digests: tuple[str, ...]
    context: int = 3


@attrs.frozen
class Scope:
    """What a restore covers: everything, some paths and globs, or some hunks of one file."""

    literals: tuple[bytes, ...] = ()
    """Paths or directories (whole-component prefix match; never patterns)."""
    globs: tuple[str, ...] = ()
    """gitignore-syntax patterns (the ``patterns`` param)."""
    force: frozenset[bytes] = frozenset()
    """Uncaptured live paths the caller allows to be overwritten or deleted."""
    hunk: HunkScope | None = None

    @property
    def prefixes(self) -> tuple[bytes, ...]:
        """The directories a change walk must visit."""
        if self.hunk is not None:
            return (self.hunk.path,)
        if not self.literals and not self.globs:
            return (b"",)
        # A negation only takes paths out: it adds no directory to visit.
        return self.literals + tuple(_glob_prefix(g) for g in self.globs if g[:1] != "!")

    def selects(self, path: bytes) -> bool:
        """True if ``path`` is in the scope."""
        if self.hunk is not None:
            return path == self.hunk.path
        if not self.literals and not self.globs:
            return True
        if under(path, self.literals):
            return True
        return bool(self.globs) and _spec(self.globs).match_file(to_wire(path))


def _glob_prefix(pattern: str) -> bytes:
    """The literal directory a gitignore pattern is anchored to (``b""``: anywhere)."""
    if pattern.startswith("/"):
        pattern = pattern[1:]  # anchored at the root, as in a top-level .gitignore
    parts = pattern.split("/")
    if len(parts) == 1:
        return b""  # no slash: matches at any depth
    literal: list[str] = []
    for part in parts[:-1]:
        if GLOB_CHARS & set(part):
            break
        literal.append(part)
    return os.fsencode("/".join(literal))


def _spec(globs: tuple[str, ...]) -> pathspec.GitIgnoreSpec:
    spec = _SPECS.get(globs)
    if spec is None:
        if len(_SPECS) > 64:
            _SPECS.clear()
        spec = _SPECS[globs] = pathspec.GitIgnoreSpec.from_lines(list(globs))
    return spec


_KEPT_IN_SAFETY: Final = (
    "the worktree capture skipped its content ({}), but the snapshot has it: the safety "
    "snapshot keeps the content it replaces"
)


class Planner:
    """Turns the changes from the live state to the target state into actions.

    Args:
        store: The store holding both states.
        root: The worktree root.
        live: The worktree as captured just now (under the writer lock).
        target: The snapshot to restore.
        scope: What to restore.
        options: Limits (hunk restores diff within the configured budgets).
    """

    def __init__(
        self,
        store: Store,
        root: bytes,
        live: State,
        target: State,
        scope: Scope,
        options: Options,
    ) -> None:
        self.store = store
        self.root = root
        self.live = live
        self.target = target
        self.scope = scope
        self.options = options
        self._dirs: dict[bytes, str | None] = {}
        self._live_skipped_dirs = _skipped_dirs(store, live.manifest)
        self._target_skipped_dirs = _skipped_dirs(store, target.manifest)

    def actions(self) -> Iterator[Action]:
        """The plan, in path order (directories sort as ``name/``).

        Raises:
            ThroughSymlink: a named path lies under a symlink in the worktree.
            Refused: a hunk selection does not fit the file's hunks.
        """
        for literal in self.scope.literals:
            self.refuse_symlinked(literal, "paths")
        if self.scope.hunk is not None:
            self.refuse_symlinked(self.scope.hunk.path, "hunks.path")
            action = self._hunk_action(self.scope.hunk)
            if action is not None:
                yield action
            return
        for change in iter_changes(
            self.store, self.live, self.target, prefixes=self.scope.prefixes
        ):
            if self.scope.selects(change.path):
                yield self.decide(change.path, change.old, change.new)

    # -- one path ------------------------------------------------------------------------------

    def decide(
        self,
        path: bytes,
        old: Side | None,
        new: Side | None,
        *,
        data: bytes | None = None,
        new_mode: int | None = None,
    ) -> Action:
        """The action that puts ``new`` (or ``data``) where the worktree has ``old``.

        ``keep`` (with the reason) when that cannot be done safely: content a capture did not
        take, a symlink or file on the way, a path restore may not write.
        """
        ref = new or old
        assert ref is not None
        base = Action(
            path=path,
            action=RestoreActionKind.KEEP,
            kind=ref.kind,
            old_mode=old.mode if old else None,
            old_size=old.size(self.store) if old else None,
            new_mode=new_mode if new_mode is not None else (new.mode if new else None),
            new_size=len(data) if data is not None else (new.size(self.store) if new else None),
        )

        def keep(reason: str, rule: str | None = None) -> Action:
            # The signature too: a kept path that changes changes the plan's token.
            st = self._lstat(path) if safe_rel(path) else None
            sig = sig_of(st) if st is not None else None
            return attrs.evolve(base, reason=reason, rule=rule, sig=sig)

        if not safe_rel(path):
            return keep("not a path restore may write (empty, '..' or '.git' component)")
        if new is not None and new.skipped is not None:
            return keep(
                f"the snapshot has no content for it: {new.skipped.reason}", new.skipped.rule
            )
        if new is None and (above := _inside(path, self._target_skipped_dirs)) is not None:
            return keep(
                f"the snapshot did not capture {to_wire(above)}/, so it has no content here"
            )
        forced = path in self.scope.force
        # Content the snapshot captured comes back even where the live capture skips it now
        # (a directory over dirNewFileBudget, a path the live rules newly ignore): the live
        # content is grafted into the safety snapshot first (issue 13, items 2 and 13).
        graft = new is not None and new.oid is not None
        if old is not None and old.skipped is not None:
            if old.kind == "dir":
                return keep(
                    f"a directory the worktree capture skipped ({old.skipped.reason}): restore "
                    "never replaces or deletes one",
                    old.skipped.rule,
                )
            graft = graft and self._graftable(old.skipped.kind, old.skipped.size)
            if not forced and not graft:
                return keep(
                    f"its content in the worktree was not captured ({old.skipped.reason}): "
                    "force it to overwrite or delete it",
                    old.skipped.rule,
                )
        blocker, reachable = self._ancestors(path)
        if blocker is not None:
            return keep(
                f"{to_wire(blocker)} is a symlink or file in the worktree, and restore never "
                "writes through one: restore it too"
            )
        st = self._lstat(path) if reachable else None
        planned = attrs.evolve(
            base,
            new_oid=(blob_id(data) if data is not None else new.oid) if new else None,
            data=data,
            sig=sig_of(st) if st is not None else None,
        )
        if old is not None and old.oid is not None:
            planned = attrs.evolve(planned, old_oid=old.oid)
        elif old is not None and old.skipped is not None:
            # Forced or grafted: what the capture recorded is what must still be there.
            planned = attrs.evolve(
                planned,
                old_mtime_ns=old.skipped.mtime_ns,
                old_mode=old.skipped.mode,
                forced=not graft,
                graft=graft,
                reason=_KEPT_IN_SAFETY.format(old.skipped.reason) if graft else None,
                rule=old.skipped.rule if graft else None,
            )
        elif st is not None and not stat.S_ISDIR(st.st_mode):
            # On disk but in no capture: inside a directory the capture skipped, or new since.
            kind = "symlink" if stat.S_ISLNK(st.st_mode) else "special"
            kind = "file" if stat.S_ISREG(st.st_mode) else kind
            graft = graft and self._graftable(kind, st.st_size)
            if not forced and not graft:
                above = _inside(path, self._live_skipped_dirs)
                where = f"is inside {to_wire(above)}/, which " if above is not None else ""
                return keep(
                    f"it exists in the worktree but {where}was not captured: force it to "
                    "overwrite it"
                )
            above = _inside(path, self._live_skipped_dirs)
            why = f"inside {to_wire(above)}/" if above is not None else "new since"
            planned = attrs.evolve(
                planned,
                old_mtime_ns=st.st_mtime_ns,
                old_mode=st.st_mode,
                old_size=st.st_size,
                forced=not graft,
                graft=graft,
                reason=_KEPT_IN_SAFETY.format(why) if graft else None,
            )
        if new is None:
            action = RestoreActionKind.DELETE
        elif old is None and (st is None or stat.S_ISDIR(st.st_mode)):
            action = RestoreActionKind.CREATE
        else:
            action = RestoreActionKind.WRITE
        return attrs.evolve(planned, action=action)

    def _graftable(self, kind: str, size: int) -> bool:
        """True for uncaptured live content the safety snapshot can hold.

        A file or symlink within ``contentLimit``; bigger ones, special files and directories
        need ``force``.
        """
        return kind in ("file", "symlink") and size <= self.options.content_limit

    def _lstat(self, path: bytes) -> os.stat_result | None:
        try:
            return os.lstat(os.path.join(self.root, path))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def _ancestors(self, path: bytes) -> tuple[bytes | None, bool]:
        """Check the directories above ``path`` on disk, from the root down.

        Returns:
            The first ancestor that is a symlink or file and stays in the way (None if none),
            and whether ``path`` itself is reachable now through real directories only (False
            when an ancestor is missing, or is a captured file or symlink this plan deletes
            first: deletes run before writes).
        """
        parts = path.split(b"/")
        for i in range(1, len(parts)):
            ancestor = b"/".join(parts[:i])
            state = self._dirs.get(ancestor)
            if state is None:
                if len(self._dirs) > 4096:
                    self._dirs.clear()
                state = self._dirs[ancestor] = self._dir_state(ancestor)
            if state == "missing":
                return None, False
            if state == "blocked":
                return ancestor, False
        return None, True

    def _dir_state(self, ancestor: bytes) -> str:
        """``dir``, ``missing`` (absent, or a file or symlink this plan deletes) or ``blocked``."""
        st = self._lstat(ancestor)
        if st is None:
            return "missing"
        if stat.S_ISDIR(st.st_mode):
            return "dir"
        side = lookup(self.store, self.live, ancestor)
        if (
            side is not None
            and side.oid is not None
            and self.scope.selects(ancestor)
            and under(ancestor, self.scope.prefixes)
        ):
            return "missing"
        return "blocked"

    def refuse_symlinked(self, path: bytes, field: str) -> None:
        """Refuse a path the caller named whose parent directory is a symlink on disk.

        Raises:
            ThroughSymlink: an ancestor of ``path`` is a symlink.
        """
        parts = path.split(b"/")
        for i in range(1, len(parts)):
            ancestor = b"/".join(parts[:i])
            st = self._lstat(ancestor)
            if st is None or stat.S_ISDIR(st.st_mode):
                if st is None:
                    return
                continue
            if stat.S_ISLNK(st.st_mode):
                raise ThroughSymlink(
                    f"{field}: {to_wire(ancestor)} is a symlink, and restore never writes "
                    f"through one: restore {to_wire(ancestor)} itself",
                    field=field,
                    path=to_wire(path),
                )
            return

    # -- hunks ---------------------------------------------------------------------------------

    def _hunk_action(self, scope: HunkScope) -> Action | None:
        """The write that undoes the selected hunks of the snapshot-to-worktree diff.

        Raises:
            Refused: the file has no hunks that can be applied (not captured, a
                symlink, binary, over ``diffMaxBytes`` or ``diffMaxLines``), or a selected
                hunk has lines cut at ``maxLineChars``.
            Changed: a selected digest is not among the file's hunks now.
        """
        path = scope.path
        target = lookup(self.store, self.target, path)
        live = lookup(self.store, self.live, path)
        for side, where in ((target, "the snapshot"), (live, "the worktree")):
            if side is not None and side.skipped is not None:
                raise Refused(
                    f"hunks.path: not captured in {where} ({side.skipped.reason}), so it has no "
                    "hunks: restore it by path instead",
                    field="hunks.path",
                )
            if side is not None and side.mode == MODE_LINK:
                raise Refused(
                    "hunks.path: a symlink has no hunks: restore it by path instead",
                    field="hunks.path",
                )
        fd = diff_blobs(
            self.store,
            target.oid if target else None,
            live.oid if live else None,
            context=scope.context,
            options=self.options,
        )
        _refuse_incomplete(path, fd, self.options)
        by_digest = {h.digest: h for h in fd.hunks}
        for digest in scope.digests:
            if digest not in by_digest:
                raise Changed(
                    f"hunks.digests: {to_wire(path)} has no hunk {digest} now: the file or the "
                    "snapshot changed since its hunks were listed; list them again",
                    field="hunks.digests",
                    digest=digest,
                )
        wanted = set(scope.digests)
        selected = [h for h in fd.hunks if h.digest in wanted]  # in file order
        for h in selected:
            if h.cut_lines:
                raise Refused(
                    f"hunks.digests: hunk {h.digest} has lines cut at maxLineChars, so it cannot "
                    "be applied: restore the file by path instead",
                    field="hunks.digests",
                )
        if not selected:
            return None
        current = b""
        if live is not None and live.oid is not None:
            current = self.store.read_blob(live.oid, self.options.diff_max_bytes) or b""
        data = apply_hunks(current, [reverse_hunk(h) for h in selected])
        if live is not None and data == current:
            return None
        mode = live.mode if live is not None else (target.mode if target else MODE_FILE)
        new = target or Side(mode, blob_id(data))
        return self.decide(path, live, new, data=data, new_mode=mode)


def _refuse_incomplete(path: bytes, fd: FileDiff, options: Options) -> None:
    """Refuse a hunk restore from a diff that does not cover the whole file.

    Hunks are applied only from a complete edit script: a ``line-cap`` diff stops before the
    cut, so restoring "every hunk" would not give the snapshot's content. ``time-budget``
    hunks are complete (only coarser than minimal) and are applied.

    Raises:
        Refused: binary content, or a diff cut by a size or line limit.
    """
    name = to_wire(path)
    if fd.binary:
        reason = "is binary, so it has no hunks"
    elif fd.truncated == "file-too-large":
        reason = (
            f"is over diffMaxBytes ({options.diff_max_bytes} bytes), so its hunks are streamed "
            "and cannot be restored one by one"
        )
    elif fd.truncated == "line-cap":
        reason = (
            f"has more than diffMaxLines ({options.diff_max_lines}) lines, so its diff stops "
            "there and its hunks do not cover the whole file"
        )
    else:
        return
    raise Refused(
        f"hunks.path: {name} {reason}: restore the file by path instead", field="hunks.path"
    )


def reverse_hunk(h: Hunk) -> Hunk:
    """The hunk that undoes ``h`` (old and new swapped)."""
    flip = {"+": "-", "-": "+"}
    return Hunk(
        old_start=h.new_start,
        old_lines=h.new_lines,
        new_start=h.old_start,
        new_lines=h.old_lines,
        lines=tuple(flip.get(line[:1], line[:1]) + line[1:] for line in h.lines),
        no_newline_old=h.no_newline_new,
        no_newline_new=h.no_newline_old,
    )


def _skipped_dirs(store: Store, manifest: str) -> frozenset[bytes]:
    """Directories a capture skipped as a whole (few: one record each)."""
    return frozenset(m.path for m in iter_manifest(store, manifest) if m.kind == "dir")


def _inside(path: bytes, dirs: frozenset[bytes]) -> bytes | None:
    """The first ancestor of ``path`` in ``dirs``."""
    if not dirs:
        return None
    pos = path.find(b"/")
    while pos != -1:
        if path[:pos] in dirs:
            return path[:pos]
        pos = path.find(b"/", pos + 1)
    return None
