"""What can go wrong in the store: a lock held elsewhere, missing or damaged objects."""

from __future__ import annotations


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


class SizeMismatch(StoreError):
    """The bytes written to a blob writer differ from the size declared up front."""
