"""Keep what a restore displaces: live content the capture skipped, grafted into a state.

A restore brings back files the target snapshot captured even where the live capture skips
them now (a directory over ``dirNewFileBudget``, a path the live ignore rules newly match:
issue 13, items 2 and 13). The live content it replaces there is in no snapshot, so before the
first write it is read (without following symlinks, from the pinned root), stored as blobs and
grafted into the safety snapshot's tree, and the per-file skipped records of those paths leave
its manifest. Restoring the safety snapshot then brings that content back like any other.

Store-level, like :mod:`snapd.restore`: paths are ``bytes``.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable

import attrs

from snapd.capture.statcache import StatCache
from snapd.restore.actions import Action
from snapd.restore.fs import InTheWay, open_dirs
from snapd.restore.tree import TreeDirs
from snapd.store.errors import StoreError
from snapd.store.history import EMPTY_BLOB, State, iter_manifest
from snapd.store.objects import MODE_EXEC, MODE_FILE, MODE_LINK, MODE_TREE, Entry
from snapd.store.repo import Store


@attrs.frozen
class Grafted:
    """A state with live content grafted in, and the blob id of each grafted path."""

    state: State
    kept: dict[bytes, tuple[int, str]]
    """Path -> the git mode and blob id the live content was stored as (what the restore must
    still find there)."""


def graft(store: Store, root_fd: int, state: State, actions: Iterable[Action]) -> Grafted:
    """Store the live content of ``actions`` (those with ``graft``) and graft it into ``state``.

    A path whose content cannot be read, or that no longer matches the plan (``lstat`` size,
    mode and mtime), is left out: the restore then leaves it alone and reports a conflict.

    Args:
        store: The store.
        root_fd: The pinned worktree root.
        state: The captured live state (the safety snapshot's).
        actions: Plan actions; only those with ``graft`` are read.
    """
    files: dict[bytes, tuple[int, str]] = {}
    for action in actions:
        if not action.graft:
            continue
        got = _read_live(store, root_fd, action)
        if got is not None:
            files[action.path] = got
    if not files:
        return Grafted(state, {})
    tree = _graft_tree(store, state.tree, files)
    manifest = _drop_records(store, state.manifest, files.keys())
    return Grafted(attrs.evolve(state, tree=tree, manifest=manifest), files)


def _read_live(store: Store, root_fd: int, action: Action) -> tuple[int, str] | None:
    """The git mode and blob id of one live path, stored now; None if it changed or failed."""
    parts = action.path.split(b"/")
    try:
        where = open_dirs(root_fd, parts[:-1], create=False)
    except (InTheWay, OSError):
        return None
    try:
        d, name = where.fd, parts[-1]
        try:
            st = os.stat(name, dir_fd=d, follow_symlinks=False)
            if not _as_planned(st, action):
                return None
            if stat.S_ISLNK(st.st_mode):
                return MODE_LINK, store.write_blob(os.readlink(name, dir_fd=d))
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=d)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or not _as_planned(st, action):
                return None
            with os.fdopen(fd, "rb", buffering=0, closefd=False) as fh:
                oid = store.write_blob_from(fh, st.st_size)
            if StatCache.signature(os.fstat(fd)) != StatCache.signature(st):
                return None  # changed while read (the blob is unreferenced: gc drops it)
        except (OSError, StoreError):
            return None  # unreadable, or it grew or shrank while read
        finally:
            os.close(fd)
        return (MODE_EXEC if st.st_mode & 0o100 else MODE_FILE), oid
    finally:
        where.close()


def _as_planned(st: os.stat_result, action: Action) -> bool:
    return (st.st_mtime_ns, st.st_mode, st.st_size) == (
        action.old_mtime_ns,
        action.old_mode,
        action.old_size,
    )


def _graft_tree(store: Store, root: str, files: dict[bytes, tuple[int, str]]) -> str:
    """``root`` with ``files`` (path -> mode, blob id) put in, creating directories as needed.

    Iterative (no recursion on depth): the directories touched are rewritten deepest first.
    """
    changes: dict[bytes, dict[bytes, Entry]] = {b"": {}}
    for path, (mode, oid) in files.items():
        directory, _, name = path.rpartition(b"/")
        changes.setdefault(directory, {})[name] = Entry(name, mode, oid)
        while directory:
            directory = directory.rpartition(b"/")[0]
            if directory in changes:
                break
            changes[directory] = {}
    existing = TreeDirs(store, root)
    for directory in sorted(changes, key=lambda d: d.count(b"/") + bool(d), reverse=True):
        old = existing.tree_id(directory)
        entries = {e.name: e for e in store.read_tree(old)} if old is not None else {}
        entries.update(changes[directory])
        oid = store.write_tree(entries.values())
        if not directory:
            return oid
        parent, _, name = directory.rpartition(b"/")
        changes[parent][name] = Entry(name, MODE_TREE, oid)
    raise AssertionError("the root is always rewritten")  # pragma: no cover


def _drop_records(store: Store, manifest: str, paths: Iterable[bytes]) -> str:
    """The manifest without the per-file records of ``paths`` (now captured)."""
    drop = set(paths)
    if manifest == EMPTY_BLOB:
        return manifest
    with tempfile.TemporaryFile() as out:
        dropped = 0
        for record in iter_manifest(store, manifest):
            if record.kind != "dir" and record.path in drop:
                dropped += 1
                continue
            out.write(record.to_line())
        if not dropped:
            return manifest
        size = out.tell()
        out.seek(0)
        return store.write_blob_from(out, size)
