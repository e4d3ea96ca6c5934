"""What every request shares: error translation, page budgets, typed cursors.

:func:`map_errors` is the one place library, OS and domain errors (:mod:`snapd.failures`)
become wire errors. :class:`Pager` measures items as they travel (their JSON size) against a
request's ``limit`` and ``maxBytes``. :func:`open_cursor` checks a cursor and structures its
position with the same strict converter as params.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from typing import Any, Final, TypeVar

import cattrs

from snapd import errors
from snapd.config import Options
from snapd.failures import (
    Changed,
    Failure,
    NoSuchSnapshot,
    Refused,
    RootLost,
    StoreLost,
    ThroughSymlink,
)
from snapd.paging import budgets, decode_cursor, encode_cursor, take_page
from snapd.protocol.convert import converter
from snapd.store.errors import CorruptObject, LockedError, MissingObject, StoreError

T = TypeVar("T")

CONVERTER: Final = converter()
"""The one converter of wire types (and cursor positions)."""

_FAILURES: Final[dict[type[Failure], type[errors.SnapdError]]] = {
    RootLost: errors.WorktreeFailure,
    StoreLost: errors.StoreFailure,
    NoSuchSnapshot: errors.UnknownSnapshot,
    Refused: errors.InvalidParams,
    ThroughSymlink: errors.PathOutsideRoot,
    Changed: errors.PlanStale,
}


def wire_error(exc: Failure) -> errors.SnapdError:
    """The wire error of a domain failure: same sentence, same data."""
    return _FAILURES[type(exc)](exc.message, **exc.data)


@contextlib.contextmanager
def map_errors() -> Iterator[None]:
    """Translate domain, store and OS errors into wire errors (the one place this happens)."""
    try:
        yield
    except errors.SnapdError:
        raise
    except Failure as exc:
        raise wire_error(exc) from exc
    except LockedError as exc:
        raise errors.StoreLocked(str(exc), holder=exc.holder, store=exc.path) from exc
    except CorruptObject as exc:
        raise errors.StoreFailure(
            f"{exc}; nothing was written (snapd/snapshots lists the snapshots still readable)",
            object=exc.oid,
        ) from exc
    except MissingObject as exc:
        raise errors.UnknownSnapshot(str(exc)) from exc
    except StoreError as exc:
        raise errors.StoreFailure(str(exc)) from exc
    except OSError as exc:
        raise errors.StoreFailure(
            f"{exc.strerror or exc}: {exc.filename or ''}".strip(": "), errno=exc.errno
        ) from exc


def json_size(item: Any) -> int:
    """Bytes of a wire item as it travels (compact JSON)."""
    return len(json.dumps(CONVERTER.unstructure(item), separators=(",", ":")))


class Pager:
    """A request's page budget: at most ``limit`` items and ``max_bytes`` of JSON."""

    def __init__(self, options: Options, limit: int | None, max_bytes: int | None) -> None:
        self.limit, self.max_bytes = budgets(
            limit,
            max_bytes,
            default_limit=options.page_limit,
            max_limit=options.max_page_limit,
            default_bytes=options.page_bytes,
            max_bytes_cap=options.max_page_bytes,
        )

    def take(self, items: Iterable[T], size: Any = json_size) -> tuple[list[T], T | None]:
        """A page of ``items`` and the first one left over (None when they ran out)."""
        return take_page(items, limit=self.limit, max_bytes=self.max_bytes, size=size)


def open_cursor(cursor: str, method: str, query: str, position: type[T]) -> T:
    """Check a cursor against the request and read its typed position.

    Raises:
        errors.BadCursor: malformed, made by another method or query, or a bad position.
    """
    raw = decode_cursor(cursor, method, query)
    try:
        return CONVERTER.structure(raw, position)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as exc:
        raise errors.BadCursor("cursor is malformed", field="cursor") from exc


def make_cursor(method: str, query: str, position: object) -> str:
    """An opaque cursor holding ``position``."""
    return encode_cursor(method, query, CONVERTER.unstructure(position))
