"""Streaming writers: a blob hashed and compressed in chunks, and a pack of small objects.

Both write to a temporary file and rename it into place, so a kill leaves at worst a temporary
file that :meth:`snapd.store.repo.Store.open` removes.
"""

from __future__ import annotations

import array
import contextlib
import hashlib
import os
import zlib
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from snapd.store.repo import Store
from snapd.store.errors import SizeMismatch, StoreError
from snapd.store.objects import CHUNK, TMP_PREFIX


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
        fd, self._tmp = mkstemp(store.objects_dir)
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


def mkstemp(directory: str, prefix: str = TMP_PREFIX, mode: int = 0o444) -> tuple[int, str]:
    """Create a new temporary file in ``directory`` (read-only by default): (fd, path)."""
    for _ in range(100):
        name = os.path.join(directory, f"{prefix}{os.getpid()}_{os.urandom(6).hex()}")
        try:
            return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), name
        except FileExistsError:
            continue
    raise StoreError(f"cannot create a temporary file in {directory}")


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
        fd, self._tmp = mkstemp(self._dir, prefix="tmp_pack_", mode=0o644)
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
        fd, tmp_idx = mkstemp(self._dir, prefix="tmp_idx_")
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
