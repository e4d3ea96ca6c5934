"""What can go wrong in the store: a lock held elsewhere, missing or damaged objects."""

from __future__ import annotations

import time


class StoreError(Exception):
    """The store is unusable (layout, I/O, corrupt object)."""


class LockedError(StoreError):
    """Another live process holds the store lock."""

    def __init__(self, path: str, holder: dict[str, object]) -> None:
        super().__init__(f"{describe_holder(holder)} holds the store {path}")
        self.path = path
        self.holder = holder


def describe_holder(holder: dict[str, object], *, now: float | None = None) -> str:
    """The lock file's holder in words: ``another snapd (pid 15543 on vm, since 10:42)``.

    ``since`` is shown as a local time of day, with the date when it is not today. A holder
    whose lock file could not be read (``{}``) or has odd fields is still named as far as it can
    be; the raw ``holder`` stays on the wire in ``data.holder``.
    """
    pid, host, since = holder.get("pid"), holder.get("host"), holder.get("since")
    who = f"pid {pid}" if isinstance(pid, int) and not isinstance(pid, bool) else ""
    if isinstance(host, str) and host:
        who = f"{who} on {host}" if who else f"on {host}"
    if isinstance(since, int | float) and not isinstance(since, bool) and since > 0:
        started = time.localtime(since)
        today = time.localtime(time.time() if now is None else now)
        same_day = started[:3] == today[:3]
        when = time.strftime("%H:%M" if same_day else "%Y-%m-%d %H:%M", started)
        who = f"{who}, since {when}" if who else f"since {when}"
    return f"another snapd ({who})" if who else "another snapd"


class MissingObject(StoreError):
    """An object id is not in the store (or is not of the expected type)."""


class CorruptObject(StoreError):
    """An object is in the store but damaged: it does not inflate, parse or hash to its id."""

    def __init__(self, oid: str, why: str) -> None:
        super().__init__(f"object {oid} in the store is damaged: {why}")
        self.oid = oid


class SizeMismatch(StoreError):
    """The bytes written to a blob writer differ from the size declared up front."""
