"""Listing a directory the way a snapshot walks it."""

from __future__ import annotations

import os
import stat

from snapd.capture.decision import LStat


def sorted_entries(full: bytes) -> list[tuple[bytes, LStat]]:
    """A directory's entries with their lstat, in git tree order (directories sort as 'name/')."""
    out: list[tuple[bytes, bytes, LStat]] = []
    with os.scandir(full) as it:
        for ent in it:
            try:
                st = LStat.of(ent.stat(follow_symlinks=False))
            except FileNotFoundError:
                continue
            key = ent.name + b"/" if stat.S_ISDIR(st.st_mode) else ent.name
            out.append((key, ent.name, st))
    out.sort(key=lambda item: item[0])
    return [(name, st) for _key, name, st in out]
