"""Applying a restore plan safely: never through a symlink, never outside the root.

Files are written to a temporary file in the same directory, fsynced and swapped with the
target (:mod:`snapd.fileswap`). Just before a file is replaced or deleted its content is
checked against what the plan saw (re-hashed for captured files, ``lstat`` for forced
uncaptured ones), and what the swap (or a delete's rename aside) took out of the path is
checked again afterwards and put back if it changed, so an edit made at any point during the
restore is reported as a conflict instead of being lost. Deletes run first (pruning directories
they empty), then writes, so a file can replace a directory and the other way round. The
request layer captures the live worktree, takes the safety snapshot and holds the writer lock;
this module only writes files.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Final, Literal

import attrs

from snapd import fileswap
from snapd.enums import RestoreActionKind
from snapd.paths import to_wire
from snapd.restore.actions import Action, blob_id, sig_of
from snapd.restore.fs import (
    SYMLINK_MAX,
    InTheWay,
    hash_file,
    lstat_at,
    open_dirs,
    perm_for,
    same_file,
    tmp_name,
    unlink_quietly,
    write_link,
    write_tmp,
)
from snapd.restore.tree import TreeDirs
from snapd.store.objects import MODE_LINK
from snapd.store.repo import Store

if TYPE_CHECKING:
    pass


logger = logging.getLogger(__name__)


MAX_CONFLICTS: Final = 100
"""Conflicts listed in a result; the rest are only counted."""


@attrs.frozen
class RestoreEvent:
    """What a restore tells the worktree's ``on_restore`` hooks (e.g. a watcher).

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
    st = lstat_at(dir_fd, name)
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
        if hash_file(dir_fd, name) != action.old_oid:
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


def _still_checked(
    store: Store, dir_fd: int, name: bytes, action: Action, checked: os.stat_result | None
) -> str | None:
    """None if ``name`` is exactly what the restore checked, else why not.

    The same inode and ``lstat`` data, and for captured files the planned content.
    """
    st = lstat_at(dir_fd, name)
    if not same_file(st, checked):
        return "it changed while the restore ran"
    if action.old_oid is not None and st is not None:
        if stat.S_ISLNK(st.st_mode):
            if blob_id(os.readlink(name, dir_fd=dir_fd)) != action.old_oid:
                return "it changed while the restore ran"
        elif hash_file(dir_fd, name) != action.old_oid:
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
            if lstat_at(dir_fd, name) is not None:
                unlink_quietly(dir_fd, tmp)
                return "it appeared while the restore ran"
            os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            return None
        except FileExistsError:
            unlink_quietly(dir_fd, tmp)
            return "it appeared while the restore ran"
        except BaseException:
            unlink_quietly(dir_fd, tmp)
            raise
    try:
        ours = lstat_at(dir_fd, tmp)
        try:
            swapped = fileswap.rename2(dir_fd, tmp, name, fileswap.RENAME_EXCHANGE)
        except FileNotFoundError:
            unlink_quietly(dir_fd, tmp)
            return "it was deleted while the restore ran"
        if not swapped:
            if (why := _still_checked(store, dir_fd, name, action, checked)) is not None:
                unlink_quietly(dir_fd, tmp)
                return why
            os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            return None
    except BaseException:
        unlink_quietly(dir_fd, tmp)  # still ours: nothing was swapped
        raise
    # ``tmp`` now names what was at the path. Its content is in the safety snapshot when it is
    # what the restore checked (captured: same hash; forced: same lstat, documented as lost).
    try:
        why = _still_checked(store, dir_fd, tmp, action, checked)
    except OSError as exc:
        why = f"cannot read what it would replace: {exc.strerror or exc}"
    if why is None:
        unlink_quietly(dir_fd, tmp)
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
    if same_file(lstat_at(dir_fd, tmp), ours):
        unlink_quietly(dir_fd, tmp)
    else:  # written to in the instant it was at the path: keep that too
        why += f"; what was written meanwhile is kept in {to_wire(tmp)}"
    return why


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
            if lstat_at(d, name) is not None:
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
    aside = tmp_name()
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
            if lstat_at(dir_fd, name) is not None:
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
                tmp = write_link(d, target)
            else:
                if action.data is not None:
                    chunks: Iterable[bytes] = (action.data,)
                    size = len(action.data)
                else:
                    assert action.new_oid is not None and action.new_size is not None
                    chunks, size = store.iter_blob(action.new_oid), action.new_size
                tmp = write_tmp(d, chunks, size, perm_for(action.new_mode, existing))
            staged, tmp = tmp, None  # _install owns it now: after a swap it is theirs
            why = _install(store, d, staged, name, action, existing)
            if why is None:
                st = os.stat(name, dir_fd=d, follow_symlinks=False)
                os.fsync(d)
        except OSError as exc:
            if tmp is not None:
                unlink_quietly(d, tmp)
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
