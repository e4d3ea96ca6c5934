"""An incremental capture (dirty set from a watcher) equals a full walk, for any edit script."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from snapd import protocol, requests
from tests.helpers import fresh_capture, make_service, write

NAMES = st.sampled_from(["a", "b", "c.txt", "Cargo.lock", "x.log", "build", "node_modules"])
PATHS = st.lists(NAMES, min_size=1, max_size=3).map("/".join)

OPS = st.lists(
    st.tuples(
        st.sampled_from(["write", "delete", "mkdir", "rename", "gitignore", "big"]),
        PATHS,
        PATHS,
        st.binary(max_size=30),
    ),
    min_size=1,
    max_size=12,
)


def apply(root: Path, op: str, a: str, b: str, data: bytes) -> set[str]:
    """Apply one edit; return the paths a watcher would report."""
    pa, pb = root / a, root / b
    try:
        if op == "write":
            if pa.is_dir():
                return set()
            write(root, a, data)
        elif op == "big":
            if pa.is_dir():
                return set()
            write(root, a, data * 200 + b"x" * 5000)
        elif op == "delete":
            if pa.is_dir() and not pa.is_symlink():
                shutil.rmtree(pa)
            elif pa.exists():
                pa.unlink()
            else:
                return set()
        elif op == "mkdir":
            pa.mkdir(parents=True, exist_ok=True)
            write(root, f"{a}/inner.txt", data)
            return {a, f"{a}/inner.txt"}
        elif op == "rename":
            if not pa.exists() or pb.exists() or b.startswith(a + "/"):
                return set()
            pb.parent.mkdir(parents=True, exist_ok=True)
            os.rename(pa, pb)
            return {a, b}
        elif op == "gitignore":
            write(root, ".gitignore", f"{b}\n")
            return {".gitignore"}
    except (NotADirectoryError, FileExistsError, IsADirectoryError):
        return set()
    return {a}


@settings(max_examples=40)
@given(script=st.lists(OPS, min_size=1, max_size=3))
def test_incremental_equals_full(script) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="snapd-inc-"))
    try:
        root = tmp / "work"
        write(root, "src/main.txt", "hello\n")
        write(root, "build/CMakeCache.txt", "x")
        svc = make_service(root, tmp / "store", content_limit=4096, dir_new_file_budget=10**6)
        requests.snapshot(svc, protocol.SnapshotParams())
        for step in script:
            dirty: set[str] = set()
            for op in step:
                dirty |= apply(root, *op)
            result = requests.snapshot(
                svc,
                protocol.SnapshotParams(label="step"),
                dirty=frozenset(p.encode() for p in dirty),
            )
            assert result.consistency == "exact"
            head = svc.resolve("latest", "from")
            parent = svc.resolve(head.parent, "from").state if head.parent else None
            assert head.state == fresh_capture(svc, parent), step
            # Totals derived from the diff equal a full count.
            full = requests.snapshot(svc, protocol.SnapshotParams(label="full"))
            assert (full.files, full.bytes, full.skipped) == (
                result.files,
                result.bytes,
                result.skipped,
            )
        svc.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
