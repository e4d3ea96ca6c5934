"""Opaque cursors and byte-budgeted pages, shared by every paged method.

A cursor is base64url JSON ``{"k": kind, "q": query-hash, "p": position}``. The query hash binds
it to the request that produced it (same method and same selecting params), so a cursor pasted
into another query is refused as :class:`~snapd.errors.BadCursor` instead of silently paging
something else. The position pins everything a later page needs (resolved object ids), so
pages stay consistent while new snapshots are taken.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final, TypeVar

from snapd.errors import BadCursor, InvalidParams

T = TypeVar("T")

PIECE_BYTES: Final = 16 * 1024
"""The smallest page budget, so one item always fits: also the largest JSON size of one hunk
(:mod:`snapd.diff.hunks` splits bigger ones)."""


def query_hash(*parts: Any) -> str:
    """A short stable hash of the params that select a query (not of the paging params)."""
    canon = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canon.encode()).hexdigest()[:16]


def encode_cursor(kind: str, query: str, position: dict[str, Any]) -> str:
    """Make an opaque cursor."""
    raw = json.dumps({"k": kind, "q": query, "p": position}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str, query: str) -> dict[str, Any]:
    """Check and open a cursor.

    Raises:
        BadCursor: malformed, or made for another method or query.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        obj = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadCursor("cursor is malformed", field="cursor") from exc
    if not isinstance(obj, dict) or not isinstance(obj.get("p"), dict):
        raise BadCursor("cursor is malformed", field="cursor")
    if obj.get("k") != kind:
        raise BadCursor(f"cursor was not made by {kind}", field="cursor")
    if obj.get("q") != query:
        raise BadCursor("cursor belongs to a different query", field="cursor")
    position: dict[str, Any] = obj["p"]
    return position


def budgets(
    limit: int | None,
    max_bytes: int | None,
    *,
    default_limit: int,
    max_limit: int,
    default_bytes: int,
    max_bytes_cap: int,
) -> tuple[int, int]:
    """Validate and clamp ``limit`` and ``maxBytes``.

    ``maxBytes`` below :data:`PIECE_BYTES` is raised to it (one item must fit);
    above the cap it is lowered to the cap.

    Raises:
        InvalidParams: a non-positive value.
    """
    if limit is not None and limit <= 0:
        raise InvalidParams("limit: must be a positive integer", field="limit")
    if max_bytes is not None and max_bytes <= 0:
        raise InvalidParams("maxBytes: must be a positive integer", field="maxBytes")
    lim = min(limit or default_limit, max_limit)
    size = min(max(max_bytes or default_bytes, PIECE_BYTES), max_bytes_cap)
    return lim, size


def take_page(
    items: Iterable[T], *, limit: int, max_bytes: int, size: Callable[[T], int]
) -> tuple[list[T], T | None]:
    """Take items until the count or byte budget is reached.

    Returns:
        The page and the first item that did not fit (None when the input is exhausted).
        A page always holds at least one item, so one item larger than the budget still moves.
    """
    page: list[T] = []
    used = 0
    it: Iterator[T] = iter(items)
    for item in it:
        cost = size(item)
        if page and (len(page) >= limit or used + cost > max_bytes):
            return page, item
        page.append(item)
        used += cost
    return page, None
