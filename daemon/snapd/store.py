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
:attr:`Store.damaged_refs`. A store whose directory was deleted or replaced while it was open
is reported by :meth:`Store.problem` and never re-created behind the user's back.
"""

from __future__ import annotations

import array
import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import socket
import time
import zlib
from collections.abc import Iterable, Iterator
from typing import IO, Any, Final

import attrs
from dulwich.errors import ChecksumMismatch, NotTreeError, ObjectFormatException
from dulwich.object_store import DiskObjectStore
from dulwich.objects import Blob, Commit, ObjectID, Tree
from dulwich.refs import DiskRefsContainer, Ref

logger = logging.getLogger(__name__)

CHUNK: Final = 256 * 1024
"""Read/compress granularity for blobs."""

SNAPSHOT_REF: Final = Ref(b"refs/heads/snapshots")
"""Points at the newest snapshot (HEAD points at it), for people using git on the store."""

SNAPSHOTS_PREFIX: Final = b"refs/snapd/snapshots/"
"""One ref per retained snapshot, named by its zero-padded sequence number."""

PINS_PREFIX: Final = b"refs/snapd/pinned/"
"""One ref per pinned snapshot (the value is the snapshot's commit)."""

LOCK_NAME: Final = "snapd.lock"
TMP_PREFIX: Final = "tmp_obj_"

MODE_FILE: Final = 0o100644
MODE_EXEC: Final = 0o100755
MODE_LINK: Final = 0o120000
MODE_TREE: Final = 0o040000


class StoreError(Exception):
    """The store is unusable (layout, I/O, corrupt object)."""


class LockedError(StoreError):
    """Another live process holds the store lock."""

    def __init__(self, path: str, holder: dict[str, object]) -> None:
        super().__init__(f"store {path} is locked by {holder}")
        self.path = path
        self.holder = holder


class MissingObject(StoreError):
    """An object id is not in the store (or is not of the expected type)."""


class CorruptObject(StoreError):
    """An object is in the store but damaged: it does not inflate, parse or hash to its id."""

    def __init__(self, oid: str, why: str) -> None:
        super().__init__(f"object {oid} in the store is damaged: {why}")
        self.oid = oid


READ_ERRORS: Final = (zlib.error, ObjectFormatException, ChecksumMismatch, AssertionError)
"""What dulwich raises on a damaged object (it asserts on some malformed input)."""

_HEX: Final = frozenset("0123456789abcdef")


def is_oid(text: str) -> bool:
    """True for a 40-digit lowercase hex object id."""
    return len(text) == 40 and _HEX.issuperset(text)


class SizeMismatch(StoreError):
    """The bytes written to a blob writer differ from the size declared up front."""


@attrs.define
class Journal:
    """What one writer newly wrote: loose object ids and pack names (see :meth:`Store.journal`)."""

    objects: set[str] = attrs.Factory(set)
    packs: set[str] = attrs.Factory(set)


@attrs.frozen
class Entry:
    """One tree entry."""

    name: bytes
    mode: int
    id: str

    @property
    def is_tree(self) -> bool:
        """True for a subtree."""
        return self.mode == MODE_TREE


@attrs.frozen
class CommitInfo:
    """The parts of a snapshot commit snapd uses."""

    id: str
    tree: str
    parents: tuple[str, ...]
    time: int
    message: str


class BlobWriter:
    """Streams one blob of a size known up front into a loose object.

    Content is hashed and zlib-compressed chunk by chunk into a temporary file beside the
    objects; :meth:`finish` renames it into place (or drops it when the object already exists).
    """

    def __init__(self, store: Store, size: int) -> None:
        self._store = store
        self.size = size
        self._written = 0
        header = b"blob %d\0" % size
        self._sha = hashlib.sha1(header)
        self._zip = zlib.compressobj(1)
        fd, self._tmp = _mkstemp(store.objects_dir)
        self._fh: IO[bytes] = os.fdopen(fd, "wb")
        self._fh.write(self._zip.compress(header))

    def write(self, data: bytes) -> None:
        """Append content."""
        self._written += len(data)
        if self._written > self.size:
            raise SizeMismatch(f"blob grew past its declared size {self.size}")
        self._sha.update(data)
        self._fh.write(self._zip.compress(data))

    def finish(self) -> str:
        """Complete the object and return its id.

        Raises:
            SizeMismatch: fewer bytes were written than declared.
        """
        if self._written != self.size:
            self.abort()
            raise SizeMismatch(f"blob has {self._written} bytes, declared {self.size}")
        self._fh.write(self._zip.flush())
        self._fh.close()
        oid = self._sha.hexdigest()
        self._store._install(self._tmp, oid)
        return oid

    def abort(self) -> None:
        """Drop the partial object."""
        if not self._fh.closed:
            self._fh.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp)


def _mkstemp(directory: str, prefix: str = TMP_PREFIX, mode: int = 0o444) -> tuple[int, str]:
    for _ in range(100):
        name = os.path.join(directory, f"{prefix}{os.getpid()}_{os.urandom(6).hex()}")
        try:
            return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), name
        except FileExistsError:
            continue
    raise StoreError(f"cannot create a temporary file in {directory}")


BLOB_TYPE: Final = 3
TREE_TYPE: Final = 2


class PackWriter:
    """Collects the new blobs and trees of one large capture into a single pack.

    One file instead of one per object: an initial snapshot of 100,000 files would otherwise
    create, fill and rename 100,000 loose object files. The pack is written to
    ``objects/pack/tmp_pack_*``; :meth:`finish` patches the object count, appends the checksum,
    writes the index, and renames pack then index into place (dulwich and git only see a pack
    once its index exists; an orphaned pack or temp file is removed when the store opens).
    Objects are only read after :meth:`finish`, so nothing reads a half-written pack.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._dir = os.path.join(store.objects_dir, "pack")
        fd, self._tmp = _mkstemp(self._dir, prefix="tmp_pack_", mode=0o644)
        self._fh: IO[bytes] = os.fdopen(fd, "wb")
        self._fh.write(b"PACK" + (2).to_bytes(4, "big") + (0).to_bytes(4, "big"))
        self._offset = 12
        # Compact bookkeeping (one initial snapshot can add 100,000s of objects): the ids in a
        # set for de-duplication, offsets and CRCs in typed arrays in insertion order.
        self._ids: set[bytes] = set()
        self._order: list[bytes] = []
        self._offsets = array.array("Q")
        self._crcs = array.array("L")

    def __contains__(self, oid: str) -> bool:
        return bytes.fromhex(oid) in self._ids

    def add(self, type_num: int, oid: str, raw: bytes) -> None:
        """Append one object (``raw`` is its content, without the loose-object header)."""
        sha = bytes.fromhex(oid)
        if sha in self._ids:
            return
        size = len(raw)
        header = bytearray()
        c = (type_num << 4) | (size & 0x0F)
        size >>= 4
        while size:
            header.append(c | 0x80)
            c = size & 0x7F
            size >>= 7
        header.append(c)
        chunk = bytes(header) + zlib.compress(raw, 1)
        self._fh.write(chunk)
        self._ids.add(sha)
        self._order.append(sha)
        self._offsets.append(self._offset)
        self._crcs.append(zlib.crc32(chunk) & 0xFFFFFFFF)
        self._offset += len(chunk)

    def finish(self) -> None:
        """Complete the pack and its index and make them visible (nothing to do if empty)."""
        from dulwich.pack import write_pack_index

        if not self._order:
            self.abort()
            return
        self._fh.seek(8)
        self._fh.write(len(self._order).to_bytes(4, "big"))
        self._fh.close()
        digest = hashlib.sha1()
        with open(self._tmp, "rb") as fh:
            while chunk := fh.read(CHUNK * 4):
                digest.update(chunk)
        checksum = digest.digest()
        with open(self._tmp, "ab") as fh:
            fh.write(checksum)
            fh.flush()
            os.fsync(fh.fileno())
        name = os.path.join(self._dir, "pack-" + checksum.hex())
        fd, tmp_idx = _mkstemp(self._dir, prefix="tmp_idx_")
        with os.fdopen(fd, "wb") as idx:
            entries = sorted(zip(self._order, self._offsets, self._crcs, strict=True))
            write_pack_index(idx, entries, checksum)
        os.chmod(self._tmp, 0o444)
        os.replace(self._tmp, name + ".pack")
        os.replace(tmp_idx, name + ".idx")
        if self._store._journal is not None:
            self._store._journal.packs.add(os.path.basename(name))
        self._store.refresh_packs()

    def abort(self) -> None:
        """Drop the unfinished pack."""
        if not self._fh.closed:
            self._fh.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp)


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
        self._damaged: dict[str, tuple[str | None, str]] = {}
        """Damaged snapshot refs as last seen: name -> (the id it holds, if any; why)."""

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
            _layout(path)
        except OSError as exc:
            raise StoreError(f"cannot create store at {path}: {exc}") from exc
        lock_fd = _acquire_lock(path) if lock else None
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
        service's writer lock).
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
        fd, tmp = _mkstemp(directory)
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
        tree = Tree()
        for ent in entries:
            tree.add(ent.name, ent.mode, ObjectID(ent.id.encode()))
        oid = tree.id.decode()
        if self.contains(oid):  # unchanged directories are the common case
            return oid
        if self._pack is not None:
            self._pack.add(TREE_TYPE, oid, tree.as_raw_string())
        else:
            self._objects.add_object(tree)
            self._new(oid)
        return oid

    def read_tree(self, oid: str) -> list[Entry]:
        """A tree's entries in git order.

        Raises:
            MissingObject: no such tree.
        """
        try:
            obj = self._read(oid, "tree")
        except NotTreeError as exc:
            raise MissingObject(f"no tree {oid}") from exc
        if not isinstance(obj, Tree):
            raise MissingObject(f"{oid} is not a tree")
        return [Entry(e.path, e.mode, e.sha.decode()) for e in obj.iteritems()]

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

    # -- refs ----------------------------------------------------------------------------------

    def snapshot_refs(self) -> list[tuple[int, str]]:
        """Every retained snapshot as (sequence number, commit id), oldest first.

        A ref that holds no object id (garbage, an undecodable or empty file, a symbolic ref
        to nothing) is left out and named in :attr:`damaged_refs`, so one damaged file never
        hides the rest of the history.
        """
        return self._scan_refs()[0]

    def _scan_refs(self) -> tuple[list[tuple[int, str]], int]:
        """(readable refs oldest first, highest sequence number of any ref, damaged or not)."""
        out: list[tuple[int, str]] = []
        top = 0
        base = SNAPSHOTS_PREFIX.rstrip(b"/")
        # Rebuilt on every scan: a ref repaired or deleted since is no longer reported.
        damaged: dict[str, tuple[str | None, str]] = {}
        for name in self._refs.subkeys(Ref(base)):
            if not name.isdigit():
                continue
            seq = int(name)
            top = max(top, seq)
            full = (SNAPSHOTS_PREFIX + name).decode()
            try:
                text = self._refs[Ref(SNAPSHOTS_PREFIX + name)].decode("ascii")
            except (KeyError, ValueError, OSError) as exc:
                damaged[full] = (None, f"it cannot be read ({exc})")
                continue
            if not is_oid(text):
                damaged[full] = (None, "it does not hold an object id")
                continue
            known = self._damaged.get(full)
            if known is not None and known[0] == text:
                damaged[full] = known  # its commit was found damaged: still skipped
            out.append((seq, text))
        for full, (_oid, why) in damaged.items():
            if full not in self._damaged:
                logger.warning("store %s: snapshot ref %s is skipped: %s", self.path, full, why)
        self._damaged = damaged
        out.sort()
        return out, top

    @property
    def damaged_refs(self) -> dict[str, str]:
        """Snapshot refs that hold no readable snapshot (ref name -> why), as last seen."""
        return {name: why for name, (_oid, why) in self._damaged.items()}

    def damaged_ref(self, seq: int, oid: str, why: str) -> None:
        """Record that the snapshot ref of ``seq`` names a commit ``oid`` that cannot be read."""
        full = (SNAPSHOTS_PREFIX + b"%012d" % seq).decode()
        if full not in self._damaged:
            logger.warning("store %s: snapshot ref %s is skipped: %s", self.path, full, why)
        self._damaged = {**self._damaged, full: (oid, why)}

    def head(self) -> str | None:
        """The newest snapshot commit, or None for an empty store."""
        refs = self.snapshot_refs()
        return refs[-1][1] if refs else None

    def add_snapshot(self, oid: str) -> int:
        """Give a written snapshot commit the next sequence number (the commit point).

        The ref is created with compare-and-swap (it must not exist); ``HEAD``'s branch is then
        moved for git users. Objects are always written before this call.

        Returns:
            The sequence number.
        """
        # Past every ref, damaged ones too: a damaged newest ref must not block its number.
        seq = self._scan_refs()[1] + 1
        name = Ref(SNAPSHOTS_PREFIX + b"%012d" % seq)
        if not self._refs.set_if_equals(name, None, ObjectID(oid.encode())):
            raise StoreError(f"snapshot ref {name.decode()} appeared concurrently")
        self._refs[SNAPSHOT_REF] = ObjectID(oid.encode())
        return seq

    def drop_snapshot(self, seq: int, oid: str) -> bool:
        """Delete a snapshot's ref (its objects become garbage once nothing else refers to them)."""
        name = Ref(SNAPSHOTS_PREFIX + b"%012d" % seq)
        return self._refs.remove_if_equals(name, ObjectID(oid.encode()))

    def pins(self) -> set[str]:
        """Commit ids of pinned snapshots."""
        return {oid.decode() for oid in self._refs.as_dict(Ref(PINS_PREFIX.rstrip(b"/"))).values()}

    def set_pin(self, oid: str, pinned: bool) -> None:
        """Pin (keep whatever the retention policy says) or unpin a snapshot."""
        name = Ref(PINS_PREFIX + oid.encode())
        if pinned:
            self._refs[name] = ObjectID(oid.encode())
        else:
            self._refs.remove_if_equals(name, None)

    def set_head(self, oid: str | None) -> None:
        """Point ``HEAD``'s branch at the newest snapshot (or remove it).

        Nothing is written when it already points there (so gc needs no free space for it).
        """
        if oid is None:
            self._refs.remove_if_equals(SNAPSHOT_REF, None)
            return
        with contextlib.suppress(KeyError, ValueError, OSError):
            if self._refs[SNAPSHOT_REF] == ObjectID(oid.encode()):
                return
        self._refs[SNAPSHOT_REF] = ObjectID(oid.encode())

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


def _layout(path: str) -> None:
    """Create a bare repository layout if absent (what ``git init --bare`` makes, minus hooks)."""
    os.makedirs(path, exist_ok=True)
    for sub in ("objects/info", "objects/pack", "refs/heads", "refs/tags"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    head = os.path.join(path, "HEAD")
    if not os.path.exists(head):
        _write_new(head, b"ref: " + SNAPSHOT_REF + b"\n")
    config = os.path.join(path, "config")
    if not os.path.exists(config):
        _write_new(
            config,
            b"[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n"
            b"[gc]\n\tauto = 0\n",
        )
    description = os.path.join(path, "description")
    if not os.path.exists(description):
        _write_new(description, b"snapd sidecar store: snapshots of a worktree\n")


def _write_new(path: str, data: bytes) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _acquire_lock(path: str) -> int:
    lock_path = os.path.join(path, LOCK_NAME)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            os.close(fd)
            raise StoreError(f"cannot lock {lock_path}: {exc}") from exc
        try:
            holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
        except ValueError:
            holder = {}
        os.close(fd)
        raise LockedError(path, holder) from exc
    # flock is released by the kernel when the holder dies, so a lock left by a killed daemon is
    # never stale; the file's content is only there to name the holder in the error.
    info = {"pid": os.getpid(), "host": socket.gethostname(), "since": int(time.time())}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)
    return fd
