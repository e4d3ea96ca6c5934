"""Restore: plan what bringing the worktree back to a snapshot would do, then do it safely.

Store-level, like :mod:`snapd.diff` and :mod:`snapd.hunks`: paths are ``bytes``, states are
:class:`~snapd.snapshots.State`, sides are :class:`~snapd.diff.Side`. The service captures the
live worktree, takes the safety snapshot and holds the writer lock; this module only decides
and writes files.

Planning (:class:`Planner`) walks ``iter_changes(live, target)`` and turns each change into one
:class:`Action`: ``write`` (replace a file), ``create``, ``delete`` or ``keep`` (left alone, with
the reason). Content that was not captured is never overwritten or deleted: a path skipped on
the live side is kept unless the caller forces it, and a path the snapshot has no content for
(skipped there, or inside a directory it skipped) is always kept. Every plan line also records
the path's ``lstat`` signature, so the plan token (a hash of the plan) changes whenever the
worktree does.

Applying (:func:`apply`) never follows a symlink and never leaves the root: every directory is
opened from the root one component at a time with ``O_NOFOLLOW`` (a symlink or file where a
directory should be refuses the path), and files are written to a temporary file in the same
directory, fsynced and swapped with the target (:mod:`snapd.fileswap`). Just before a file is
replaced or deleted its content is checked against what the plan saw (re-hashed for captured
files, ``lstat`` for forced uncaptured ones), and what the swap (or a delete's rename aside)
took out of the path is checked again afterwards and put back if it changed, so an edit made
at any point during the restore is reported as a conflict instead of being lost. Deletes run
first (pruning directories they empty), then writes, so a file can replace a directory and
the other way round.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, TYPE_CHECKING, Final, Literal

import attrs
import pathspec

from snapd import errors, fileswap
from snapd.diff import Side, iter_changes
from snapd.enums import RestoreActionKind
from snapd.hunks import FileDiff, Hunk, apply_hunks, diff_blobs
from snapd.paths import to_wire, under
from snapd.store.history import State, iter_manifest
from snapd.store.objects import MODE_EXEC, MODE_FILE, MODE_LINK, Entry
from snapd.store.repo import Store

if TYPE_CHECKING:
    from snapd.config import Options

logger = logging.getLogger(__name__)

TMP_PREFIX: Final = b".snapd-restore-"
"""Temporary files of an interrupted restore start with this. They are captured like any
file, so restoring the safety snapshot (which does not hold them) removes them."""

MAX_CONFLICTS: Final = 100
"""Conflicts listed in a result; the rest are only counted."""

SYMLINK_MAX: Final = 64 * 1024
"""A symlink target longer than this is not a symlink snapd wrote (PATH_MAX is 4096)."""

GLOB_CHARS: Final = frozenset("*?[\\")
"""Characters that make a pattern component more than a literal name (``\\`` escapes)."""

Sig = tuple[int, int, int, int, int]
"""An ``lstat`` signature: mtime_ns, ctime_ns, size, inode, mode."""


def sig_of(st: os.stat_result) -> Sig:
    """The ``lstat`` fields that change when a path is touched."""
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino, st.st_mode)


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


_SPECS: dict[tuple[str, ...], pathspec.GitIgnoreSpec] = {}


def _spec(globs: tuple[str, ...]) -> pathspec.GitIgnoreSpec:
    spec = _SPECS.get(globs)
    if spec is None:
        if len(_SPECS) > 64:
            _SPECS.clear()
        spec = _SPECS[globs] = pathspec.GitIgnoreSpec.from_lines(list(globs))
    return spec


def blob_id(data: bytes) -> str:
    """The git blob id of in-memory content."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def safe_rel(path: bytes) -> bool:
    """True for a relative path restore may touch: no empty, ``.``, ``..`` or ``.git`` part."""
    if not path or b"\0" in path:
        return False
    return all(p not in (b"", b".", b"..", b".git") for p in path.split(b"/"))


# -- planning -------------------------------------------------------------------------------------

_KEPT_IN_SAFETY: Final = (
    "the worktree capture skipped its content ({}), but the snapshot has it: the safety "
    "snapshot keeps the content it replaces"
)


LookupFn = Callable[[State, bytes], Side | None]


class Planner:
    """Turns the changes from the live state to the target state into actions.

    Args:
        store: The store holding both states.
        root: The worktree root.
        live: The worktree as captured just now (under the writer lock).
        target: The snapshot to restore.
        scope: What to restore.
        options: Limits (hunk restores diff within the configured budgets).
        lookup: One path's side in a state (the service's lookup, which knows manifests).
    """

    def __init__(
        self,
        store: Store,
        root: bytes,
        live: State,
        target: State,
        scope: Scope,
        options: Options,
        lookup: LookupFn,
    ) -> None:
        self.store = store
        self.root = root
        self.live = live
        self.target = target
        self.scope = scope
        self.options = options
        self.lookup = lookup
        self._dirs: dict[bytes, str | None] = {}
        self._live_skipped_dirs = _skipped_dirs(store, live.manifest)
        self._target_skipped_dirs = _skipped_dirs(store, target.manifest)

    def actions(self) -> Iterator[Action]:
        """The plan, in path order (directories sort as ``name/``).

        Raises:
            errors.PathOutsideRoot: a named path lies under a symlink in the worktree.
            errors.InvalidParams: a hunk selection does not fit the file's hunks.
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
                yield self._decide(change.path, change.old, change.new)

    # -- one path ------------------------------------------------------------------------------

    def _decide(
        self,
        path: bytes,
        old: Side | None,
        new: Side | None,
        *,
        data: bytes | None = None,
        new_mode: int | None = None,
    ) -> Action:
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
        side = self.lookup(self.live, ancestor)
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
            errors.PathOutsideRoot: an ancestor of ``path`` is a symlink.
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
                raise errors.PathOutsideRoot(
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
            errors.InvalidParams: the file has no hunks that can be applied (not captured, a
                symlink, binary, over ``diffMaxBytes`` or ``diffMaxLines``), or a selected
                hunk has lines cut at ``maxLineChars``.
            errors.PlanStale: a selected digest is not among the file's hunks now.
        """
        path = scope.path
        target = self.lookup(self.target, path)
        live = self.lookup(self.live, path)
        for side, where in ((target, "the snapshot"), (live, "the worktree")):
            if side is not None and side.skipped is not None:
                raise errors.InvalidParams(
                    f"hunks.path: not captured in {where} ({side.skipped.reason}), so it has no "
                    "hunks: restore it by path instead",
                    field="hunks.path",
                )
            if side is not None and side.mode == MODE_LINK:
                raise errors.InvalidParams(
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
                raise errors.PlanStale(
                    f"hunks.digests: {to_wire(path)} has no hunk {digest} now: the file or the "
                    "snapshot changed since its hunks were listed; list them again",
                    field="hunks.digests",
                    digest=digest,
                )
        wanted = set(scope.digests)
        selected = [h for h in fd.hunks if h.digest in wanted]  # in file order
        for h in selected:
            if h.cut_lines:
                raise errors.InvalidParams(
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
        return self._decide(path, live, new, data=data, new_mode=mode)


def _refuse_incomplete(path: bytes, fd: FileDiff, options: Options) -> None:
    """Refuse a hunk restore from a diff that does not cover the whole file.

    Hunks are applied only from a complete edit script: a ``line-cap`` diff stops before the
    cut, so restoring "every hunk" would not give the snapshot's content. ``time-budget``
    hunks are complete (only coarser than minimal) and are applied.

    Raises:
        errors.InvalidParams: binary content, or a diff cut by a size or line limit.
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
    raise errors.InvalidParams(
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


# -- applying -------------------------------------------------------------------------------------


@attrs.frozen
class RestoreEvent:
    """What a restore tells the service's ``on_restore`` hooks (e.g. a watcher).

    ``begin`` comes before the first write (with the safety snapshot). Each path then gets
    ``pending`` right before the restore touches it, and ``write`` or ``delete`` with its
    ``lstat`` after (None when deleted), or ``failed`` if it was left as it was; then
    ``end``. A watcher can drop events of a pending path (the write is under way: its event
    may come before ``write``) and events whose path still has the recorded signature: they
    are the restore's own writes, already reflected by the next snapshot.
    """

    phase: Literal["begin", "pending", "write", "delete", "failed", "end"]
    path: bytes | None = None
    st: os.stat_result | None = None
    safety_snapshot: str | None = None


EventFn = Callable[[RestoreEvent], None]


@attrs.define
class Applied:
    """What :func:`apply` did."""

    written: int = 0
    deleted: int = 0
    conflicted: int = 0
    conflicts: list[Action] = attrs.Factory(list)
    """Up to :data:`MAX_CONFLICTS` actions left undone, as ``keep`` with the reason."""
    cancelled: bool = False
    """The caller cancelled: the restore stopped before the next file."""
    remaining: int = 0
    """Planned writes and deletes not attempted because the restore was cancelled."""

    @property
    def touched(self) -> bool:
        """True once a file was written or deleted."""
        return bool(self.written or self.deleted)

    def conflict(self, action: Action, reason: str) -> None:
        """Record an action that was not done."""
        self.conflicted += 1
        logger.warning("restore: %s left alone: %s", to_wire(action.path), reason)
        if len(self.conflicts) < MAX_CONFLICTS:
            self.conflicts.append(
                attrs.evolve(action, action=RestoreActionKind.KEEP, reason=reason, data=None)
            )


class InTheWay(Exception):
    """A path component is a symlink or not a directory."""

    def __init__(self, prefix: bytes) -> None:
        super().__init__(prefix)
        self.prefix = prefix


_DIR_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@attrs.define
class _Dir:
    """An open directory reached from the root, and the identity of each level on the way.

    Only the last level's descriptor is held (a 1,500-deep path must not take 1,500
    descriptors): going back up (pruning emptied directories) opens ``..`` and checks its
    device and inode against ``ids``, so a directory moved meanwhile stops the climb.
    """

    fd: int
    ids: list[tuple[int, int]]
    """(st_dev, st_ino) of the root and of each directory down to ``fd``'s."""

    def close(self) -> None:
        """Close the held descriptor."""
        if self.fd != -1:
            os.close(self.fd)
            self.fd = -1

    def up(self) -> bool:
        """Move to the parent level (False, staying put, if it is not the one walked down)."""
        if len(self.ids) < 2:
            return False
        try:
            parent = os.open(b"..", _DIR_FLAGS, dir_fd=self.fd)
        except OSError:
            return False
        st = os.fstat(parent)
        if (st.st_dev, st.st_ino) != self.ids[-2]:
            os.close(parent)
            return False
        os.close(self.fd)
        self.fd = parent
        self.ids.pop()
        return True


def open_dirs(root_fd: int, parts: list[bytes], *, create: bool) -> _Dir:
    """Open the directory ``parts`` names from the root, never following a symlink.

    Each level is opened from the one above and the one above is closed at once: one
    descriptor at a time, whatever the depth.

    Returns:
        The open directory (the caller closes it).

    Raises:
        InTheWay: a component is a symlink, a file, or not a plain name.
        FileNotFoundError: a component is missing and ``create`` is false.
    """
    here = _Dir(os.open(b".", _DIR_FLAGS, dir_fd=root_fd), [])
    try:
        st = os.fstat(here.fd)
        here.ids.append((st.st_dev, st.st_ino))
        for i, name in enumerate(parts):
            if name in (b"", b".", b"..", b".git"):
                raise InTheWay(b"/".join(parts[: i + 1]))
            try:
                fd = os.open(name, _DIR_FLAGS, dir_fd=here.fd)
            except FileNotFoundError:
                if not create:
                    raise
                try:
                    os.mkdir(name, 0o777, dir_fd=here.fd)
                except FileExistsError:
                    pass  # created meanwhile: the open below checks what it is
                try:
                    fd = os.open(name, _DIR_FLAGS, dir_fd=here.fd)
                except OSError as exc:
                    raise InTheWay(b"/".join(parts[: i + 1])) from exc
            except OSError as exc:
                # ELOOP: a symlink (O_NOFOLLOW); ENOTDIR: a file or a symlink (O_DIRECTORY).
                if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                    raise InTheWay(b"/".join(parts[: i + 1])) from exc
                raise
            os.close(here.fd)
            here.fd = fd
            st = os.fstat(fd)
            here.ids.append((st.st_dev, st.st_ino))
    except BaseException:
        here.close()
        raise
    return here


def _lstat_at(dir_fd: int, name: bytes) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _unchanged(
    store: Store, dir_fd: int, name: bytes, action: Action
) -> tuple[str | None, os.stat_result | None]:
    """Why the path no longer holds what the plan saw (None if it does), and the ``lstat``.

    A captured file whose ``lstat`` still matches the plan's is not hashed here: the check
    right before it is replaced or deleted hashes it (once per file). The ``lstat`` returned
    is the one validated (taken before any content hash), so the caller checks against it
    later: an edit after this check is never taken as the checked state (for files without a
    captured blob only ``lstat`` data guards them).
    """
    st = _lstat_at(dir_fd, name)
    return _why_changed(dir_fd, name, action, st), st


def _why_changed(dir_fd: int, name: bytes, action: Action, st: os.stat_result | None) -> str | None:
    if action.old_oid is not None:
        if st is None:
            return "it was deleted since the plan"
        if action.old_mode == MODE_LINK:
            if not stat.S_ISLNK(st.st_mode):
                return "it is no longer a symlink"
            target = os.readlink(name, dir_fd=dir_fd)
            return None if blob_id(target) == action.old_oid else "it changed since the plan"
        if not stat.S_ISREG(st.st_mode):
            return "it is no longer a regular file"
        # Untouched since the plan: the hash right before it is replaced or deleted
        # (_still_checked, on every path) decides; hashing here too would read it twice.
        if action.sig is not None and sig_of(st) == action.sig:
            return None
        if _hash_file(dir_fd, name) != action.old_oid:
            return "it changed since the plan"
        return None
    if action.old_mtime_ns is not None:
        if st is None:
            return "it was deleted since the plan"
        if (st.st_mtime_ns, st.st_mode, st.st_size) != (
            action.old_mtime_ns,
            action.old_mode,
            action.old_size,
        ):
            return "it changed since the plan"
        return None
    if st is not None and not stat.S_ISDIR(st.st_mode):
        return "it appeared since the plan"
    return None


def _hash_file(dir_fd: int, name: bytes) -> str | None:
    """The git blob id of a regular file, streamed (None if it is not one or is unreadable)."""
    try:
        fd = os.open(
            name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd
        )
    except OSError:
        return None
    with os.fdopen(fd, "rb", buffering=0) as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        h = hashlib.sha1(b"blob %d\0" % st.st_size)
        n = 0
        while chunk := fh.read(256 * 1024):
            h.update(chunk)
            n += len(chunk)
        return h.hexdigest() if n == st.st_size else None


def _tmp_name() -> bytes:
    return TMP_PREFIX + b"%d-%s.tmp" % (os.getpid(), os.urandom(6).hex().encode())


def _perm(new_mode: int | None, existing: os.stat_result | None) -> int:
    """Permission bits for a restored file: git's exec bit on the file's own other bits."""
    exec_ = new_mode == MODE_EXEC
    if existing is None or not stat.S_ISREG(existing.st_mode):
        return 0o755 if exec_ else 0o644
    perm = existing.st_mode & 0o666
    return perm | ((perm & 0o444) >> 2) if exec_ else perm


def _write_tmp(dir_fd: int, chunks: Iterable[bytes], size: int, perm: int) -> bytes:
    """Write new content to a fresh temporary file in the directory, fsynced; its name."""
    tmp = _tmp_name()
    fd = os.open(
        tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
        dir_fd=dir_fd,
    )  # fmt: skip
    try:
        written = 0
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                n = os.write(fd, view)
                view = view[n:]
                written += n
        if written != size:
            raise OSError(errno.EIO, f"wrote {written} bytes, expected {size}")
        os.fchmod(fd, perm)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink_quietly(dir_fd, tmp)
        raise
    os.close(fd)
    return tmp


def _unlink_quietly(dir_fd: int, name: bytes) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass


def _same_file(a: os.stat_result | None, b: os.stat_result | None) -> bool:
    """True if two ``lstat`` results are the same inode with the same data.

    Not ``st_ctime``: renaming a file changes it. A write that restores the mtime is caught
    by the content hash (captured files).
    """
    if a is None or b is None:
        return a is b
    return (a.st_dev, a.st_ino, a.st_mode, a.st_size, a.st_mtime_ns) == (
        b.st_dev,
        b.st_ino,
        b.st_mode,
        b.st_size,
        b.st_mtime_ns,
    )


def _still_checked(
    store: Store, dir_fd: int, name: bytes, action: Action, checked: os.stat_result | None
) -> str | None:
    """None if ``name`` is exactly what the restore checked, else why not.

    The same inode and ``lstat`` data, and for captured files the planned content.
    """
    st = _lstat_at(dir_fd, name)
    if not _same_file(st, checked):
        return "it changed while the restore ran"
    if action.old_oid is not None and st is not None:
        if stat.S_ISLNK(st.st_mode):
            if blob_id(os.readlink(name, dir_fd=dir_fd)) != action.old_oid:
                return "it changed while the restore ran"
        elif _hash_file(dir_fd, name) != action.old_oid:
            return "it changed while the restore ran"
    return None


def _install(
    store: Store,
    dir_fd: int,
    tmp: bytes,
    name: bytes,
    action: Action,
    checked: os.stat_result | None,
) -> str | None:
    """Put ``tmp`` in place of ``name`` if ``name`` is still what was checked.

    With ``renameat2``: an absent path is created with ``RENAME_NOREPLACE``; an existing one is
    swapped with ``RENAME_EXCHANGE``, and what was swapped out is checked (``lstat`` data and
    content hash) after the swap, when no write by path can reach it any more. If it is not
    what the restore checked it is swapped back and the path reported as a conflict. Without
    ``renameat2``: the same check right before a plain rename.

    ``tmp`` is this function's from the call on: it removes it on every path, except after
    the swap, where ``tmp`` names the user's file: that is never unlinked unless it checked out
    as what the restore checked (an error while checking it swaps it back; if the swap back
    fails, the reason names where it is kept).

    Returns:
        None when installed (``tmp`` is gone), else why not (``tmp`` is removed, or kept and
        named in the reason if someone wrote to it meanwhile or it could not be swapped back).

    Raises:
        OSError: before anything was swapped (``tmp`` is removed).
    """
    if checked is None:
        try:
            if fileswap.rename2(dir_fd, tmp, name, fileswap.RENAME_NOREPLACE):
                return None
            if _lstat_at(dir_fd, name) is not None:
                _unlink_quietly(dir_fd, tmp)
                return "it appeared while the restore ran"
            os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            return None
        except FileExistsError:
            _unlink_quietly(dir_fd, tmp)
            return "it appeared while the restore ran"
        except BaseException:
            _unlink_quietly(dir_fd, tmp)
            raise
    try:
        ours = _lstat_at(dir_fd, tmp)
        try:
            swapped = fileswap.rename2(dir_fd, tmp, name, fileswap.RENAME_EXCHANGE)
        except FileNotFoundError:
            _unlink_quietly(dir_fd, tmp)
            return "it was deleted while the restore ran"
        if not swapped:
            if (why := _still_checked(store, dir_fd, name, action, checked)) is not None:
                _unlink_quietly(dir_fd, tmp)
                return why
            os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            return None
    except BaseException:
        _unlink_quietly(dir_fd, tmp)  # still ours: nothing was swapped
        raise
    # ``tmp`` now names what was at the path. Its content is in the safety snapshot when it is
    # what the restore checked (captured: same hash; forced: same lstat, documented as lost).
    try:
        why = _still_checked(store, dir_fd, tmp, action, checked)
    except OSError as exc:
        why = f"cannot read what it would replace: {exc.strerror or exc}"
    if why is None:
        _unlink_quietly(dir_fd, tmp)
        return None
    try:  # swap back: theirs at the path again
        back = fileswap.rename2(dir_fd, tmp, name, fileswap.RENAME_EXCHANGE)
    except OSError:
        back = False
    if not back:
        return (
            f"{why}; it could not be put back, so the restored file is at the path and what "
            f"was there is kept in {to_wire(tmp)}"
        )
    if _same_file(_lstat_at(dir_fd, tmp), ours):
        _unlink_quietly(dir_fd, tmp)
    else:  # written to in the instant it was at the path: keep that too
        why += f"; what was written meanwhile is kept in {to_wire(tmp)}"
    return why


def _write_link(dir_fd: int, target: bytes) -> bytes:
    """Create a symlink under a fresh temporary name; its name."""
    tmp = _tmp_name()
    os.symlink(target, tmp, dir_fd=dir_fd)
    return tmp


def apply(
    store: Store,
    root: int,
    plan: Callable[[], Iterator[Action]],
    *,
    target_tree: str,
    on_event: EventFn | None = None,
    cancel: threading.Event | None = None,
    grafted: dict[bytes, tuple[int, str]] | None = None,
    delay: float = 0.0,
) -> Applied:
    """Carry out a plan: deletes first, then writes and creates, one file at a time.

    A cancel stops the restore before its next file: the result says ``cancelled`` and how
    many planned writes and deletes remain (issue 13, item 14: never report "cancelled" while
    still writing, nor lose what was done).

    Args:
        store: The store holding the new content.
        root: A descriptor of the worktree root (pinned at start: never reopened by path, so a
            root swapped for a symlink cannot redirect the writes); it stays open.
        plan: Returns a fresh iterator over the plan's actions (it is walked twice).
        target_tree: The snapshot's tree: directories in it are not pruned when they empty.
        on_event: Called after each file is written or deleted.
        cancel: Set to stop before the next file.
        grafted: For actions with ``graft``: path -> the git mode and blob id its live content
            was kept as in the safety snapshot (what the path must still hold). A graft action
            missing here is left alone: its content is in no snapshot.
        delay: Test only: seconds to sleep after each file (so a test can kill mid-restore).

    Returns:
        Counts, and the actions left undone because the worktree no longer matched the plan
        or a path could not be written.
    """
    done = Applied()
    root_fd = os.dup(root)
    keep_dirs = TreeDirs(store, target_tree)
    try:
        for action in plan():
            if action.action is RestoreActionKind.DELETE:
                if _stopped(done, cancel):
                    continue
                _delete(store, root_fd, action, done, keep_dirs, on_event)
                if delay:
                    time.sleep(delay)
        for action in plan():
            if action.action in (RestoreActionKind.WRITE, RestoreActionKind.CREATE):
                if _stopped(done, cancel):
                    continue
                if action.graft:
                    kept = (grafted or {}).get(action.path)
                    if kept is None:
                        done.conflict(
                            action,
                            "its live content (not captured) changed or could not be read, so "
                            "the safety snapshot does not hold it",
                        )
                        continue
                    action = attrs.evolve(action, old_mode=kept[0], old_oid=kept[1])
                _write(store, root_fd, action, done, on_event)
                if delay:
                    time.sleep(delay)
    finally:
        os.close(root_fd)
    return done


def _stopped(done: Applied, cancel: threading.Event | None) -> bool:
    """True (counting the action as remaining) once the restore is cancelled."""
    if not done.cancelled and cancel is not None and cancel.is_set():
        done.cancelled = True
    if done.cancelled:
        done.remaining += 1
    return done.cancelled


def _delete(
    store: Store,
    root_fd: int,
    action: Action,
    done: Applied,
    keep_dirs: TreeDirs,
    on_event: EventFn | None,
) -> None:
    parts = action.path.split(b"/")
    try:
        where = open_dirs(root_fd, parts[:-1], create=False)
    except FileNotFoundError:
        return  # already gone with its directory
    except InTheWay as way:
        done.conflict(action, f"{to_wire(way.prefix)} is no longer a directory")
        return
    except OSError as exc:
        done.conflict(action, f"cannot open its directory: {exc.strerror}")
        return
    try:
        d, name = where.fd, parts[-1]
        why, checked = _unchanged(store, d, name, action)
        if why is not None:
            if _lstat_at(d, name) is not None:
                done.conflict(action, why)
            return
        if on_event is not None:
            on_event(RestoreEvent("pending", action.path))
        try:
            why = _delete_checked(store, d, name, action, checked)
        except OSError as exc:
            if on_event is not None:
                on_event(RestoreEvent("failed", action.path))
            done.conflict(action, f"cannot delete it: {exc.strerror}")
            return
        if why is not None:
            if on_event is not None:
                on_event(RestoreEvent("failed", action.path))
            done.conflict(action, why)
            return
        done.deleted += 1
        if on_event is not None:
            on_event(RestoreEvent("delete", action.path))
        # Prune directories this delete emptied, unless the snapshot has them.
        for i in range(len(parts) - 2, -1, -1):
            if keep_dirs.has(b"/".join(parts[: i + 1])) or not where.up():
                break
            try:
                os.rmdir(parts[i], dir_fd=where.fd)
            except OSError:
                break
    finally:
        where.close()


def _delete_checked(
    store: Store, dir_fd: int, name: bytes, action: Action, checked: os.stat_result | None
) -> str | None:
    """Delete ``name`` if it is still what was checked: renamed aside first, checked, unlinked.

    Returns:
        None when deleted (or already gone), else why it was left (renamed back; an error
        while checking or unlinking it also renames it back, never leaving it under the
        temporary name unless the path was taken meanwhile: then the reason names it).

    Raises:
        OSError: renaming it aside failed (nothing was changed).
    """
    if checked is None:
        return None
    aside = _tmp_name()
    try:
        os.rename(name, aside, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)  # atomic; aside is new
    except FileNotFoundError:
        return None
    try:
        why = _still_checked(store, dir_fd, aside, action, checked)
        if why is None:
            os.unlink(aside, dir_fd=dir_fd)
            return None
    except OSError as exc:
        why = f"cannot delete it: {exc.strerror or exc}"
    try:
        if not fileswap.rename2(dir_fd, aside, name, fileswap.RENAME_NOREPLACE):
            if _lstat_at(dir_fd, name) is not None:
                raise FileExistsError(errno.EEXIST, "exists")
            os.rename(aside, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except FileExistsError:
        why += f"; the path was created again meanwhile, its old content is in {to_wire(aside)}"
    except OSError as exc:
        why += f"; it could not be put back ({exc.strerror or exc}), it is in {to_wire(aside)}"
    return why


def _write(
    store: Store, root_fd: int, action: Action, done: Applied, on_event: EventFn | None
) -> None:
    parts = action.path.split(b"/")
    try:
        where = open_dirs(root_fd, parts[:-1], create=True)
    except InTheWay as way:
        done.conflict(
            action,
            f"{to_wire(way.prefix)} is a symlink or file: restore never writes through one",
        )
        return
    except OSError as exc:
        done.conflict(action, f"cannot create its directory: {exc.strerror}")
        return
    try:
        d, name = where.fd, parts[-1]
        why, existing = _unchanged(store, d, name, action)
        if why is not None:
            done.conflict(action, why)
            return
        if on_event is not None:
            on_event(RestoreEvent("pending", action.path))
        tmp: bytes | None = None
        try:
            if existing is not None and stat.S_ISDIR(existing.st_mode):
                os.rmdir(name, dir_fd=d)  # an empty directory in the way (never a full one)
                existing = None
            if action.new_mode == MODE_LINK:
                assert action.new_oid is not None
                target = store.read_blob(action.new_oid, SYMLINK_MAX)
                if target is None:
                    if on_event is not None:
                        on_event(RestoreEvent("failed", action.path))
                    done.conflict(action, "the snapshot's symlink target is too long")
                    return
                tmp = _write_link(d, target)
            else:
                if action.data is not None:
                    chunks: Iterable[bytes] = (action.data,)
                    size = len(action.data)
                else:
                    assert action.new_oid is not None and action.new_size is not None
                    chunks, size = store.iter_blob(action.new_oid), action.new_size
                tmp = _write_tmp(d, chunks, size, _perm(action.new_mode, existing))
            staged, tmp = tmp, None  # _install owns it now: after a swap it is theirs
            why = _install(store, d, staged, name, action, existing)
            if why is None:
                st = os.stat(name, dir_fd=d, follow_symlinks=False)
                os.fsync(d)
        except OSError as exc:
            if tmp is not None:
                _unlink_quietly(d, tmp)
            if on_event is not None:
                on_event(RestoreEvent("failed", action.path))
            reason = "a directory that is not empty is in the way"
            if exc.errno != errno.ENOTEMPTY:
                reason = f"cannot write it: {exc.strerror or exc}"
            done.conflict(action, reason)
            return
        if why is not None:
            if on_event is not None:
                on_event(RestoreEvent("failed", action.path))
            done.conflict(action, why)
            return
        done.written += 1
        if on_event is not None:
            on_event(RestoreEvent("write", action.path, st))
    finally:
        where.close()


class TreeDirs:
    """Which directories a snapshot's tree has (memoised; iterative, so any depth works)."""

    def __init__(self, store: Store, tree: str) -> None:
        self.store = store
        self.tree = tree
        self._cache: dict[bytes, str | None] = {b"": tree}

    def tree_id(self, path: bytes) -> str | None:
        """The tree id of directory ``path`` in the snapshot (None if it has no such one)."""
        # Climb to the nearest known ancestor, then read trees back down (no recursion).
        todo: list[bytes] = []
        known = path
        while known not in self._cache:
            todo.append(known)
            known = known.rpartition(b"/")[0]
        oid = self._cache[known]
        if len(self._cache) + len(todo) > 4096:
            self._cache = {b"": self.tree, known: oid}
        for sub in reversed(todo):
            if oid is not None:
                name = sub.rpartition(b"/")[2]
                entry: Entry | None = next(
                    (e for e in self.store.read_tree(oid) if e.name == name), None
                )
                oid = entry.id if entry is not None and entry.is_tree else None
            self._cache[sub] = oid
        return oid

    def has(self, path: bytes) -> bool:
        """True if the snapshot has ``path`` as a directory."""
        return self.tree_id(path) is not None
