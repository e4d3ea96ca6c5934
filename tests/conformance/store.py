"""Writing into a server's store as protocol.md's "Store layout" describes it (no git binary).

Some cases need a store state no sequence of requests makes on purpose, such as two snapshots
whose ids share a short prefix; they write it here, with only the standard library.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import zlib
from pathlib import Path

SNAPSHOTS = Path("refs") / "snapd" / "snapshots"


def forge_twin(store: Path, oid: str, prefix: int) -> str:
    """Write a snapshot commit whose id shares ``oid``'s first ``prefix`` hex digits.

    The twin is ``oid``'s commit with one extra trailer line (so the same tree, manifests and
    counts), found by hashing candidates in memory (about 16**prefix of them) and written as a
    loose object. Its ref takes sequence number 0, so it is the oldest snapshot and ``latest``
    is unchanged. Returns the twin's id.
    """
    raw = zlib.decompress((store / "objects" / oid[:2] / oid[2:]).read_bytes())
    header, _, body = raw.partition(b"\0")
    if not header.startswith(b"commit "):
        raise ValueError(f"{oid} is not a loose commit")
    for n in itertools.count():
        new = body + b"Snapd-Twin: %d\n" % n
        data = b"commit %d\0" % len(new) + new
        twin = hashlib.sha1(data).hexdigest()
        if twin[:prefix] == oid[:prefix] and twin != oid:
            break
    path = store / "objects" / twin[:2] / twin[2:]
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(zlib.compress(data))
    os.replace(tmp, path)
    ref = store / SNAPSHOTS / ("0" * 12)
    if ref.exists():
        raise ValueError(f"{ref} exists already")
    ref.write_text(twin + "\n")
    return twin
