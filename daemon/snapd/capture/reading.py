"""Reading one file into a blob: bounded reads, the content phase, a changed-while-read check."""

from __future__ import annotations

import os
import stat

from snapd.capture.decision import Candidate, Decision
from snapd.capture.policy import Policy
from snapd.capture.statcache import StatCache
from snapd.store.errors import SizeMismatch
from snapd.store.objects import CHUNK
from snapd.store.repo import Store


def read_file(
    store: Store, policy: Policy, full: bytes, cand: Candidate, decision: Decision
) -> tuple[str, os.stat_result, Decision] | Decision | None:
    """Stream one file into a blob; None if it changed while being read."""
    fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb", buffering=0) as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        phase1 = decision
        cand = Candidate(rel=cand.rel, st=st)
        if st.st_size <= CHUNK:
            # Small file (most of them): one bounded read, hash before any write.
            data = fh.read(CHUNK + 1)
            if len(data) != st.st_size:
                return None
            decision = policy.decide_file(cand, data, lambda: data[-512:], phase1)
            if not decision.captured:
                return decision
            if StatCache.signature(os.fstat(fd)) != StatCache.signature(st):
                return None
            return store.write_small_blob(data), st, decision
        first = fh.read(CHUNK)
        # The size limit again on the fstat (the file may have grown since lstat), then
        # the content phase on its first bytes.
        decision = policy.decide_file(cand, first, lambda: _pread_tail(fd, st.st_size), phase1)
        if not decision.captured:
            return decision
        writer = store.blob_writer(st.st_size)
        try:
            writer.write(first)
            while chunk := fh.read(CHUNK):
                writer.write(chunk)
            after = os.fstat(fd)
            if StatCache.signature(after) != StatCache.signature(st):
                writer.abort()
                return None
            oid = writer.finish()
        except SizeMismatch:
            writer.abort()
            return None
        except BaseException:
            writer.abort()
            raise
        return oid, st, decision


def _pread_tail(fd: int, size: int) -> bytes:
    return os.pread(fd, 512, max(0, size - 512))
