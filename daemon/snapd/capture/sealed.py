"""snapd's own cache files in the store: marshal data behind a magic line and a digest.

The stat cache and the directory map are hints (losing one costs re-reading, never a wrong
snapshot), written often and read at every start, so they use the fastest format the standard
library has. marshal is not meant for untrusted data: a file is only unmarshalled once its
magic (format and version) and its digest match, which a torn, truncated or corrupted write
never does; the files are snapd's own, in the store it locks.
"""

from __future__ import annotations

import hashlib
import logging
import marshal
import os
from typing import Any

logger = logging.getLogger(__name__)

_DIGEST = 16


def write_sealed(path: str, magic: bytes, value: Any) -> None:
    """Write ``value`` to ``path`` atomically (temp file + rename), sealed with ``magic``."""
    body = marshal.dumps(value)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(magic + hashlib.blake2b(body, digest_size=_DIGEST).digest() + body)
    os.replace(tmp, path)


def read_sealed(path: str, magic: bytes, what: str) -> Any:
    """The value :func:`write_sealed` wrote, or None for a missing, foreign or damaged file.

    The caller checks the value's shape (it is whatever marshal made of the file).

    Args:
        path: The file.
        magic: The format and version it must start with.
        what: What it is, for the warning a damaged one logs ("stat cache").

    Raises:
        ValueError, EOFError, TypeError: marshal refused data whose digest matched (the
            caller treats the file as damaged).
    """
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    head = len(magic)
    digest, body = data[head : head + _DIGEST], data[head + _DIGEST :]
    if data[:head] != magic or hashlib.blake2b(body, digest_size=_DIGEST).digest() != digest:
        if data:
            logger.warning("ignoring an unreadable %s %s", what, path)
        return None
    return marshal.loads(body)
