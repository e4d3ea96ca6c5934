"""The sidecar store: a bare git repository written with dulwich, and nothing else.

This module is plumbing only. It knows git objects, refs and the store lock; it knows nothing of
JSON-RPC, worktrees or policies. Paths are ``bytes``; object ids are hex ``str``.

Why not dulwich's repository class: ``Repo`` reads the user's global git config. The store is
laid out by hand (it is a plain bare repository that ``git`` accepts) and opened through
``DiskObjectStore`` and ``DiskRefsContainer`` directly, so no user config, hook or filter runs.

Crash safety: every object is written to a temporary file and renamed into place; the snapshot
ref is moved last, with compare-and-swap, through dulwich's lock-file-and-rename. A kill at any
moment leaves at worst unreferenced objects and temporary files, which :meth:`Store.open` removes.
Large blobs are hashed and compressed in chunks: no blob is ever held whole in memory here.

Damage: every object read is checked against its id (blobs are hashed while they stream, so
the check lands after the last chunk and before a consumer commits what it read, e.g. a
restore's rename); an object that does not inflate, parse or hash to its id raises
:class:`CorruptObject`. A snapshot ref that does not hold an object id is skipped and named in
:attr:`SnapshotRefs.damaged_refs`. A store whose directory was deleted or replaced while it was open
is reported by :meth:`Store.problem` and never re-created behind the user's back.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
import zlib
from collections.abc import Iterable, Iterator
from typing import IO, Any

from dulwich.errors import NotTreeError
from dulwich.object_store import DiskObjectStore
from dulwich.objects import Blob, Commit, ObjectID, Tree
from dulwich.refs import DiskRefsContainer

from snapd.store.errors import CorruptObject, MissingObject, StoreError
from snapd.store.layout import LOCK_NAME, acquire_lock, create_layout, object_ids
from snapd.store.objects import (
    BLOB_TYPE,
    CHUNK,
    READ_ERRORS,
    TMP_PREFIX,
    TREE_TYPE,
    CommitInfo,
    Entry,
    Journal,
    is_oid,
)
from snapd.store.refs import SnapshotRefs
from snapd.store.treecache import TreeCache
from snapd.store.writers import BlobWriter, PackWriter, mkstemp

logger = logging.getLogger(__name__)


class Store:
    """A bare git repository used as snapd's object store and snapshot history."""

    def __init__(self, path: str, objects: DiskObjectStore, refs: DiskRefsContainer) -> None:
        self.path = path
        self.objects_dir = os.path.join(path, "objects")
        self._objects = objects
        self._refs = refs
        self._lock_fd: int | None = None
        self._lock_id: tuple[int, int] | None = None
        self._pack: PackWriter | None = None
        self._journal: Journal | None = None
        self.trees = TreeCache()
        """Big trees already parsed (see :mod:`~snapd.store.treecache`)."""
        self.refs = SnapshotRefs(path, refs)
        """The snapshot history's refs."""

    # -- lifecycle -----------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str, *, lock: bool = True) -> Store:
        """Open (creating if needed) the store at ``path``.

        Args:
            path: Directory of the bare repository.
            lock: Take the exclusive store lock (a second daemon then fails fast).

        Raises:
            LockedError: another live process holds the lock.
            StoreError: the directory cannot be created or is not a store.
        """
        try:
            create_layout(path)
        except OSError as exc:
            raise StoreError(f"cannot create store at {path}: {exc.strerror or exc}") from exc
        lock_fd = acquire_lock(path) if lock else None
        try:
            objects = DiskObjectStore(os.path.join(path, "objects"), loose_compression_level=1)
            refs = DiskRefsContainer(path)
            store = cls(path, objects, refs)
            store._lock_fd = lock_fd
            if lock_fd is not None:
                st = os.fstat(lock_fd)
                store._lock_id = (st.st_dev, st.st_ino)
            if lock:
                store._cleanup()
        except BaseException:
            if lock_fd is not None:
                os.close(lock_fd)
            raise
        return store

    def problem(self) -> str | None:
        """Why this store can no longer be written, or None while it is where it was opened.

        The lock file is the store's identity: when the directory was deleted (or replaced),
        the lock this process holds guards nothing, and another snapd could open a new store
        at the same path. Re-creating it here would make two writers; the user restarts.
        """
        if self._lock_id is None:
            return None
        try:
            st = os.stat(os.path.join(self.path, LOCK_NAME))
            if (st.st_dev, st.st_ino) == self._lock_id and os.path.isdir(self.objects_dir):
                return None
            now = "was replaced (its lock file or objects directory is not the one snapd opened)"
        except OSError as exc:
            now = f"is no longer there ({exc.strerror})"
        return (
            f"the store {self.path} {now}: snapd cannot record snapshots; its history is gone "
            "with it. Restart snapd to start a new store"
        )

    @contextlib.contextmanager
    def journal(self) -> Iterator[Journal]:
        """Within this block, record every object (and pack) this process newly writes.

        A snapshot that fails hands its journal to :meth:`reclaim`: its objects are garbage
        at once, with no grace period (nothing else has seen them: all writers hold the
        worktree's writer lock).
        """
        outer, self._journal = self._journal, Journal()
        try:
            yield self._journal
        finally:
            self._journal = outer

    def _new(self, oid: str) -> None:
        if self._journal is not None:
            self._journal.objects.add(oid)

    def reclaim(self, journal: Journal) -> int:
        """Delete what a failed writer wrote (deleting needs no free space).

        Returns:
            How many objects were deleted.
        """
        removed = 0
        self.trees.clear()
        for oid in journal.objects:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._loose_path(oid))
                removed += 1
        for name in journal.packs:
            for ext in (".idx", ".pack"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.objects_dir, "pack", name + ext))
            removed += 1
        if journal.packs:
            self.refresh_packs()
        return removed

    def close(self) -> None:
        """Release the lock and file handles."""
        self._objects.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _cleanup(self) -> None:
        """Remove what a killed writer may have left: temp objects and stale ref locks.

        Safe only under the store lock: no other snapd can be writing.
        """
        removed = 0
        with os.scandir(self.objects_dir) as it:
            for ent in it:
                if ent.name.startswith(TMP_PREFIX):
                    os.unlink(ent.path)
                    removed += 1
                elif len(ent.name) == 2 and ent.is_dir(follow_symlinks=False):
                    with os.scandir(ent.path) as sub:
                        for obj in sub:
                            # dulwich writes trees and commits through "<sha>.lock" + rename:
                            # a kill leaves the lock, and writing that object again would
                            # fail with FileLocked on every later snapshot.
                            if obj.name.startswith(TMP_PREFIX) or obj.name.endswith(".lock"):
                                os.unlink(obj.path)
                                removed += 1
        for dirpath, _dirs, files in os.walk(os.path.join(self.path, "refs")):
            for name in files:
                if name.endswith(".lock"):
                    os.unlink(os.path.join(dirpath, name))
                    removed += 1
        pack_dir = os.path.join(self.objects_dir, "pack")
        names = set(os.listdir(pack_dir)) if os.path.isdir(pack_dir) else set()
        for name in names:
            orphan = name.endswith(".pack") and name[: -len(".pack")] + ".idx" not in names
            if name.startswith(("tmp_pack_", "tmp_idx_")) or orphan:
                # A pack renamed into place without its index (killed between the two renames)
                # is invisible to git and dulwich, and its objects are rewritten on demand.
                os.unlink(os.path.join(pack_dir, name))
                removed += 1
        for name in ("HEAD.lock", "packed-refs.lock"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.path, name))
                removed += 1
        if removed:
            logger.info(
                "store %s: removed %d leftovers of an interrupted writer", self.path, removed
            )

    # -- blobs ---------------------------------------------------------------------------------

    def blob_writer(self, size: int) -> BlobWriter:
        """Start streaming a blob of exactly ``size`` bytes."""
        return BlobWriter(self, size)

    def write_blob(self, data: bytes) -> str:
        """Write a small in-memory blob (symlink targets, manifests built in memory)."""
        return self.write_small_blob(data)

    @contextlib.contextmanager
    def bulk(self) -> Iterator[None]:
        """Within this block new small blobs and trees go into one pack, visible at the end.

        Objects written inside the block must not be read before it ends.
        """
        if self._pack is not None:
            yield
            return
        self._pack = PackWriter(self)
        try:
            yield
        except BaseException:
            self._pack.abort()
            raise
        else:
            self._pack.finish()
        finally:
            self._pack = None

    def write_small_blob(self, data: bytes) -> str:
        """Write a blob already in memory (callers bound ``data`` to :data:`CHUNK`).

        The id is computed first and an existing object is never rewritten, so re-hashing an
        unchanged file (a touched mtime) costs no write at all. A new object is compressed in
        memory and written beside its final name (``objects/xx/tmp_obj_*``), then renamed.
        """
        header = b"blob %d\0" % len(data)
        oid = hashlib.sha1(header + data).hexdigest()
        if self.contains(oid):
            return oid
        if self._pack is not None:
            self._pack.add(BLOB_TYPE, oid, data)
            return oid
        target = self._loose_path(oid)
        directory = os.path.dirname(target)
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory)
        fd, tmp = mkstemp(directory)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(zlib.compress(header + data, 1))
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        self._new(oid)
        return oid

    def write_blob_from(self, fh: IO[bytes], size: int) -> str:
        """Stream ``size`` bytes from an open file into a blob."""
        writer = self.blob_writer(size)
        try:
            while chunk := fh.read(CHUNK):
                writer.write(chunk)
        except BaseException:
            writer.abort()
            raise
        return writer.finish()

    def _install(self, tmp: str, oid: str) -> None:
        target = self._loose_path(oid)
        if os.path.exists(target):
            os.unlink(tmp)
            with contextlib.suppress(OSError):
                os.utime(target)
            return
        with contextlib.suppress(FileExistsError):
            os.mkdir(os.path.dirname(target))
        os.replace(tmp, target)
        self._new(oid)

    def _loose_path(self, oid: str) -> str:
        return os.path.join(self.objects_dir, oid[:2], oid[2:])

    def iter_blob(self, oid: str) -> Iterator[bytes]:
        """Yield a blob's content in chunks of at most :data:`CHUNK` bytes.

        Loose objects are inflated incrementally; a packed object is read through dulwich
        (packs are written by gc, which only packs blobs under the content limit).

        Raises:
            MissingObject: no such blob.
        """
        path = self._loose_path(oid)
        try:
            fh = open(path, "rb")
        except FileNotFoundError:
            yield from self._iter_packed(oid)
            return
        with fh:
            try:
                yield from self._inflate(oid, fh)
            except zlib.error as exc:
                raise CorruptObject(oid, f"it is not zlib data ({exc})") from exc

    def _inflate(self, oid: str, fh: IO[bytes]) -> Iterator[bytes]:
        """A loose blob's content, checked against its id and size once the last chunk is out."""
        sha = hashlib.sha1()
        inflater = zlib.decompressobj()
        head = b""
        in_body = False
        declared = body = 0
        while data := inflater.unconsumed_tail or fh.read(CHUNK):
            out = inflater.decompress(data, CHUNK)
            if not in_body:
                head += out
                if b"\0" not in head:
                    if len(head) > 64:
                        raise CorruptObject(oid, "its header is malformed")
                    continue
                kind, _, out = head.partition(b"\0")
                if not kind.startswith(b"blob "):
                    raise MissingObject(f"{oid} is not a blob")
                if not kind[5:].isdigit():
                    raise CorruptObject(oid, "its header is malformed")
                declared = int(kind[5:])
                sha.update(kind + b"\0")
                in_body = True
            if out:
                body += len(out)
                sha.update(out)
                yield out
            if inflater.eof:
                break
        if tail := inflater.flush():
            body += len(tail)
            sha.update(tail)
            yield tail
        if not in_body or not inflater.eof:
            raise CorruptObject(oid, "it is truncated")
        if body != declared or sha.hexdigest() != oid:
            raise CorruptObject(oid, "its content does not match its id")

    def _iter_packed(self, oid: str) -> Iterator[bytes]:
        obj = self._read(oid, "object")
        if not isinstance(obj, Blob):
            raise MissingObject(f"{oid} is not a blob")
        data = obj.as_raw_string()
        for i in range(0, len(data), CHUNK):
            yield data[i : i + CHUNK]

    def blob_size(self, oid: str) -> int:
        """A blob's size, read from its header without inflating the body."""
        path = self._loose_path(oid)
        try:
            with open(path, "rb") as fh:
                inflater = zlib.decompressobj()
                head = inflater.decompress(fh.read(512), 64)
        except FileNotFoundError:
            return sum(len(c) for c in self._iter_packed(oid))
        except zlib.error as exc:
            raise CorruptObject(oid, f"it is not zlib data ({exc})") from exc
        kind, _, rest = head.partition(b" ")
        if kind != b"blob" or b"\0" not in rest:
            if kind in (b"tree", b"commit", b"tag"):
                raise MissingObject(f"{oid} is not a blob")
            raise CorruptObject(oid, "its header is malformed")
        size = rest.split(b"\0", 1)[0]
        if not size.isdigit():
            raise CorruptObject(oid, "its header is malformed")
        return int(size)

    def _read(self, oid: str, what: str) -> Any:
        """Any object through dulwich, checked against its id.

        Raises:
            MissingObject: no such object.
            CorruptObject: it is there but damaged.
        """
        if not is_oid(oid):
            raise MissingObject(f"no {what} {oid}")
        try:
            obj = self._objects[ObjectID(oid.encode())]
        except KeyError as exc:
            raise MissingObject(f"no {what} {oid}") from exc
        except (ValueError, *READ_ERRORS) as exc:
            raise CorruptObject(oid, f"it cannot be read ({exc or type(exc).__name__})") from exc
        if obj.id.decode() != oid:
            raise CorruptObject(oid, "its content does not match its id")
        return obj

    def read_blob(self, oid: str, max_bytes: int) -> bytes | None:
        """Return a whole blob if it is at most ``max_bytes`` long, else None (never reads more)."""
        if self.blob_size(oid) > max_bytes:
            return None
        return b"".join(self.iter_blob(oid))

    # -- trees and commits -----------------------------------------------------------------------

    def write_tree(self, entries: Iterable[Entry]) -> str:
        """Write a tree object from its entries (any order; git order is applied)."""
        entries = tuple(entries)
        tree = Tree()
        for ent in entries:
            tree.add(ent.name, ent.mode, ObjectID(ent.id.encode()))
        oid = tree.id.decode()
        self.trees.put(oid, entries, ordered=False)
        if self.contains(oid):  # unchanged directories are the common case
            return oid
        if self._pack is not None:
            self._pack.add(TREE_TYPE, oid, tree.as_raw_string())
        else:
            self._objects.add_object(tree)
            self._new(oid)
        return oid

    def read_tree(self, oid: str) -> tuple[Entry, ...]:
        """A tree's entries in git order.

        Raises:
            MissingObject: no such tree.
        """
        if (kept := self.trees.get(oid)) is not None:
            return kept
        try:
            obj = self._read(oid, "tree")
        except NotTreeError as exc:
            raise MissingObject(f"no tree {oid}") from exc
        if not isinstance(obj, Tree):
            raise MissingObject(f"{oid} is not a tree")
        entries = tuple(Entry(e.path, e.mode, e.sha.decode()) for e in obj.iteritems())
        self.trees.put(oid, entries, ordered=True)
        return entries

    def write_commit(self, tree: str, parents: Iterable[str], message: str) -> str:
        """Write a commit by snapd (the store is not the user's repository)."""
        commit = Commit()
        commit.tree = ObjectID(tree.encode())
        commit.parents = [ObjectID(p.encode()) for p in parents]
        commit.author = commit.committer = b"snapd <snapd@localhost>"
        commit.author_time = commit.commit_time = int(time.time())
        commit.author_timezone = commit.commit_timezone = 0
        commit.encoding = b"UTF-8"
        commit.message = message.encode("utf-8", "surrogateescape")
        oid = commit.id.decode()
        new = not self.contains(oid)
        self._objects.add_object(commit)
        if new:
            self._new(oid)
        return oid

    def read_commit(self, oid: str) -> CommitInfo:
        """Read a commit.

        Raises:
            MissingObject: no such commit.
        """
        obj = self._read(oid, "commit")
        if not isinstance(obj, Commit):
            raise MissingObject(f"{oid} is not a commit")
        return CommitInfo(
            id=oid,
            tree=obj.tree.decode(),
            parents=tuple(p.decode() for p in obj.parents),
            time=obj.commit_time,
            message=obj.message.decode("utf-8", "surrogateescape"),
        )

    def contains(self, oid: str) -> bool:
        """True if the object exists (a stat for a loose object; packs only if there are any).

        dulwich's ``in`` reads and parses a loose object just to answer; this is on the hot
        path of every hashed file.
        """
        if len(oid) != 40 or os.path.exists(self._loose_path(oid)):
            return len(oid) == 40
        if self._pack is not None and oid in self._pack:
            return True
        return self._objects.contains_packed(ObjectID(oid.encode()))

    def object_ids(self) -> set[bytes] | None:
        """Every object id in the store (raw), or None; see :func:`layout.object_ids`."""
        return object_ids(self.objects_dir)

    # -- packing (used by retention) -------------------------------------------------------------

    def raw_object(self, oid: str) -> tuple[int, bytes]:
        """(type number, content) of any object; objects are bounded by the content limit."""
        try:
            type_num, data = self._objects.get_raw(ObjectID(oid.encode()))
        except KeyError as exc:
            raise MissingObject(f"no object {oid}") from exc
        except READ_ERRORS as exc:
            raise CorruptObject(oid, f"it cannot be read ({exc or type(exc).__name__})") from exc
        return type_num, data

    def object_size(self, oid: str) -> int:
        """An object's compressed size on disk if loose, else 0 (a batching estimate)."""
        try:
            return os.lstat(self._loose_path(oid)).st_size * 4
        except FileNotFoundError:
            return 0

    def write_pack(self, objects: Iterator[Any], count: int) -> str:
        """Stream ``count`` unpacked objects into a new pack (data and index renamed in place).

        Returns:
            The pack's name (a pack of the same objects always gets the same name).
        """
        pack_dir = os.path.join(self.objects_dir, "pack")
        before = set(os.listdir(pack_dir))
        try:
            pack = self._objects.add_pack_data(count, objects)
        except OSError:
            # dulwich removes its temporary pack when writing it fails, not when indexing it
            # does (a full disk): remove what it left, or it holds the space until restart.
            now = set(os.listdir(pack_dir))
            for left in now - before:
                indexed = left.endswith(".pack") and left[: -len(".pack")] + ".idx" in now
                if not indexed and not left.endswith(".idx"):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(os.path.join(pack_dir, left))
            raise
        if pack is None:
            return ""
        name = pack.name()
        return name.decode() if isinstance(name, bytes) else str(name)

    def delete_loose(self, oid: str) -> None:
        """Delete a loose object (only after a pack holds it, or when it is garbage)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._loose_path(oid))

    def pack_contents(self) -> list[tuple[str, list[str]]]:
        """(pack name, object ids) for every pack."""
        self._objects._update_pack_cache()
        return [
            (
                pack.name().decode() if isinstance(pack.name(), bytes) else str(pack.name()),
                [sha.decode() for sha in pack],
            )
            for pack in self._objects.packs
        ]

    def remove_pack(self, name: str) -> None:
        """Delete a pack (after its live objects were written elsewhere)."""
        for pack in self._objects.packs:
            pack_name = pack.name()
            text = pack_name.decode() if isinstance(pack_name, bytes) else str(pack_name)
            if text == name:
                self._objects._remove_pack(pack)
        self.refresh_packs()

    def refresh_packs(self) -> None:
        """Re-read the pack directory."""
        self._objects._update_pack_cache()

    def disk_usage(self) -> int:
        """Bytes used by the store directory (a walk; call from a thread)."""
        total = 0
        for dirpath, _dirs, files in os.walk(self.path):
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
        return total
