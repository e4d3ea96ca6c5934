"""Hunks of files too big to diff in memory: a streaming line diff through a bounded window.

A side over ``diff_max_bytes`` is never held whole. Both blobs are streamed side by side: equal
lines are skipped by comparing raw blocks (C speed, 64 KiB held; an equal line of any length
is skipped that way too), and where they part a window of at most ``diff_window_bytes`` of
each side is line-diffed with the same engine as small files
(:func:`snapd.diff.hunks.line_opcodes`). Every change cluster the window confirms (one followed by
more than ``2 * context`` equal lines, or by the end of both files) becomes a hunk exactly as
difflib would group it; then the walk moves past it and opens a fresh window.

When the window is all change, the walk looks up to eight windows ahead (buffered, so still
bounded) for the old side's next lines in the new side and the reverse: an insertion or deletion
larger than the window is then sent as such and the sides realign. Otherwise the change region
is diffed piecewise: the hunks still form an exact edit script (they apply and rebuild the new
side), only possibly coarser than a minimal one, and the page says ``truncatedReason:
window``. A changed line longer than the window ends the hunks (``long-line``). Memory is two
windows, their line diff, at most a window of context lines and the eight-window look-ahead,
whatever the file sizes.

Paging: each step starts from a :class:`Position` (byte offsets and line numbers of both sides
plus how many hunk pieces of that step were already sent) and depends on nothing else, so a
cursor holding a position resumes with exactly the hunks an unpaged walk would produce: any
page size gives the same concatenation. Resuming streams both blobs up to the offsets again
(inflating, not diffing).
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

import attrs

from snapd.diff.hunks import Hunk, Opcode, build_hunk, line_opcodes, split_hunk, split_lines

if TYPE_CHECKING:
    from snapd.config import Options

BLOCK: Final = 64 * 1024
"""Bytes compared at a time while skipping equal lines."""

COARSE: Final = "window"
LONG_LINE: Final = "long-line"


class BadPosition(ValueError):
    """A resume position that does not fit the blobs (a forged or foreign cursor)."""


@attrs.frozen
class Position:
    """Where a step of the walk starts: both sides' byte offsets and line counts before them.

    ``sent`` counts the hunk pieces of this step that earlier pages already carried.
    """

    off_a: int = 0
    off_b: int = 0
    line_a: int = 0
    line_b: int = 0
    sent: int = 0

    def to_list(self) -> list[int]:
        """The position as cursor data."""
        return [self.off_a, self.off_b, self.line_a, self.line_b, self.sent]

    @classmethod
    def from_list(cls, raw: object) -> Position:
        """Read cursor data back.

        Raises:
            BadPosition: not five non-negative integers.
        """
        if (
            not isinstance(raw, list)
            or len(raw) != 5
            or not all(type(v) is int and v >= 0 for v in raw)
        ):
            raise BadPosition("malformed position")
        return cls(*raw)


@attrs.frozen
class Piece:
    """One hunk (or piece of a big one), the position to resume at it, and page flags.

    ``hunk`` is None for the last item when the walk had to stop (``truncated`` says why).
    """

    hunk: Hunk | None
    position: Position
    truncated: str | None = None


class _Reader:
    """A blob's chunks as a byte stream with an absolute offset; holds only what is asked for."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = bytearray()
        self._pos = 0
        self.offset = 0
        self.eof = False

    def available(self) -> int:
        """Bytes buffered past the current position."""
        return len(self._buf) - self._pos

    def fill(self, n: int) -> int:
        """Buffer at least ``n`` bytes past the position, or up to the end; return how many."""
        if self.available() < n and self._pos > len(self._buf) // 2:
            del self._buf[: self._pos]  # drop what was consumed (amortised: at most half)
            self._pos = 0
        while self.available() < n and not self.eof:
            chunk = next(self._chunks, None)
            if chunk is None:
                self.eof = True
            else:
                self._buf += chunk
        return self.available()

    def view(self, n: int) -> bytes:
        """The next ``n`` buffered bytes (call :meth:`fill` first)."""
        return bytes(self._buf[self._pos : self._pos + n])

    def find_line(self, needle: bytes, start: int, end: int) -> int:
        """Offset (from the position) of ``needle`` starting a line in ``[start, end)``, or -1.

        ``start`` must be at a line start. Searches the buffer only (call :meth:`fill` first).
        """
        lo, hi = self._pos + start, self._pos + end
        while lo < hi:
            at = self._buf.find(needle, lo, hi)
            if at < 0:
                return -1
            if at == self._pos + start or self._buf[at - 1] == 0x0A:
                return at - self._pos
            lo = at + 1
        return -1

    def count_lines(self, n: int) -> int:
        """Line breaks in the next ``n`` buffered bytes."""
        return self._buf.count(b"\n", self._pos, self._pos + n)

    def consume(self, n: int) -> None:
        """Move the position ``n`` buffered bytes on."""
        assert 0 <= n <= self.available()
        self._pos += n
        self.offset += n

    def skip_to(self, offset: int) -> None:
        """Move the position to an absolute offset, dropping what lies before it.

        Raises:
            BadPosition: the blob is shorter than ``offset``.
        """
        while self.offset < offset:
            if not self.fill(1):
                raise BadPosition("position past the end of the blob")
            self.consume(min(self.available(), offset - self.offset))

    def at_end(self) -> bool:
        """True when nothing is left to read."""
        return self.fill(1) == 0

    def peek_lines(self, max_bytes: int) -> tuple[list[bytes], bool]:
        """Whole lines from the position within ``max_bytes``, and whether they reach the end.

        Raises:
            _LongLine: the next line alone is longer than ``max_bytes``.
        """
        n = self.fill(max_bytes + 1)  # one byte more: exactly max_bytes left is "to the end"
        data = self.view(min(n, max_bytes))
        to_end = self.eof and n <= max_bytes
        end = len(data) if to_end else data.rfind(b"\n") + 1
        if end == 0 and n:
            raise _LongLine
        return split_lines(data[:end]), to_end


class _LongLine(Exception):
    """A line longer than the window."""


def _mismatch(a: bytes, b: bytes) -> int:
    """Index of the first differing byte of two equally long, unequal byte strings."""
    lo, hi = 0, len(a)
    while hi - lo > 64:
        mid = (lo + hi) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid
    for i in range(lo, hi):
        if a[i] != b[i]:
            return i
    return hi


def _last_lines(region: bytes, k: int) -> list[bytes]:
    """The last ``k`` lines of a region that ends at a line boundary (or at the end)."""
    start = len(region)
    for _ in range(k):
        if start == 0:
            break
        start = region.rfind(b"\n", 0, start - 1) + 1
    return split_lines(region[start:])


class _Context:
    """The equal lines just before the position: at most ``count`` lines and ``limit`` bytes."""

    def __init__(self, count: int, limit: int) -> None:
        self.count = count
        self.limit = limit
        self.lines: collections.deque[bytes] = collections.deque()
        self.size = 0

    def extend(self, lines: list[bytes]) -> None:
        """Add lines after the ones held, dropping the oldest past either bound."""
        for line in lines:
            self.lines.append(line)
            self.size += len(line)
            while self.lines and (len(self.lines) > self.count or self.size > self.limit):
                self.size -= len(self.lines.popleft())

    def clear(self) -> None:
        """Forget the lines held (what follows is not preceded by usable context)."""
        self.lines.clear()
        self.size = 0


def _skip_equal(ra: _Reader, rb: _Reader, ctx: _Context) -> int:
    """Consume the equal lines at both positions (keeping the last ones in ``ctx``).

    Compares blocks of at most :data:`BLOCK` bytes, so an equal line of any length is skipped
    in bounded memory (it cannot serve as context: ``ctx`` is cleared). Returns the number of
    lines skipped.

    Raises:
        _LongLine: the sides differ inside a line that began more than a block earlier.
    """
    skipped = 0
    partial = False  # inside an equal line whose start was consumed in an earlier block
    while True:
        # One byte past the block, so that "the rest is exactly one block" is known as the end.
        na, nb = ra.fill(BLOCK + 1), rb.fill(BLOCK + 1)
        n = min(na, nb, BLOCK)
        if n == 0:
            if partial:
                raise _LongLine  # one side ends inside the long line, the other goes on
            return skipped
        a, b = ra.view(n), rb.view(n)
        m = n if a == b else _mismatch(a, b)
        if m == n and ra.eof and rb.eof and na == nb == n:
            cut = n  # identical to the end, a last line without a newline included
        else:
            cut = a.rfind(b"\n", 0, m) + 1
        if cut == 0:
            if m < n or n < BLOCK:
                if partial:
                    raise _LongLine  # the long line differs: it cannot be shown
                return skipped  # the differing line starts here
            ra.consume(n)  # a block inside one long equal line
            rb.consume(n)
            partial = True
            ctx.clear()
            continue
        region = a[:cut]
        own = region
        if partial:  # the region starts with the long line's tail: not context
            own = region[region.find(b"\n") + 1 :] if b"\n" in region else b""
            partial = False
        if own:
            ctx.extend(_last_lines(own, ctx.count))
        skipped += region.count(b"\n") + (0 if region.endswith(b"\n") else 1)
        ra.consume(cut)
        rb.consume(cut)
        if m < n:
            return skipped


ANCHOR_LINES: Final = 3
"""Lines of one side that must come back together in the other to realign the two."""


def _realign(
    ra: _Reader, rb: _Reader, body_a: list[bytes], body_b: list[bytes], lookahead: int
) -> tuple[str, int] | None:
    """Where two sides that parted for more than a window meet again.

    Looks up to ``lookahead`` bytes ahead (buffered: memory stays bounded) for the old
    side's next lines in the new side and the other way round, and takes the nearer.

    Returns:
        ``("insert", n)`` when the new side's next ``n`` lines come before the old side's
        next lines, ``("delete", n)`` for the reverse, or None when neither is found.
    """
    found: list[tuple[int, str, int]] = []
    for anchor_side, other, tag in ((body_a, rb, "insert"), (body_b, ra, "delete")):
        anchor = b"".join(anchor_side[:ANCHOR_LINES])
        if not anchor.endswith(b"\n"):
            continue  # a last line without its newline: too weak to realign on
        at = other.find_line(anchor, 0, other.fill(lookahead))
        if at > 0:
            found.append((at, tag, other.count_lines(at)))
    if not found:
        return None
    _at, tag, n = min(found)
    return (tag, n) if n > 0 else None


def _clusters(ops: list[Opcode], context: int) -> list[tuple[int, int, bool]]:
    """Change clusters as (first op, last change op, followed by a long equal run)."""
    out: list[tuple[int, int, bool]] = []
    first = last = -1
    for idx, (tag, i1, i2, _j1, _j2) in enumerate(ops):
        if tag != "equal":
            if first < 0:
                first = idx
            last = idx
        elif first >= 0 and i2 - i1 > 2 * context:
            out.append((first, last, True))
            first = -1
    if first >= 0:
        out.append((first, last, False))
    return out


def _group(ops: list[Opcode], first: int, last: int, context: int, trail: bool) -> list[Opcode]:
    """The ops of one hunk: the cluster with up to ``context`` equal lines around it."""
    group = list(ops[first : last + 1])
    if first > 0:
        _tag, i1, i2, j1, j2 = ops[first - 1]
        k = min(context, i2 - i1)
        group.insert(0, ("equal", i2 - k, i2, j2 - k, j2))
    if trail and last + 1 < len(ops):
        _tag, i1, i2, j1, j2 = ops[last + 1]
        k = min(context, i2 - i1)
        group.append(("equal", i1, i1 + k, j1, j1 + k))
    return group


def stream_hunks(
    old: Iterator[bytes],
    new: Iterator[bytes],
    *,
    context: int,
    options: Options,
    start: Position | None = None,
) -> Iterator[Piece]:
    """Yield the hunks of two streamed texts, each with the position to resume at it.

    ``old`` and ``new`` must be fresh chunk iterators of the two sides; ``start`` is a
    position an earlier call yielded (None starts at the top).

    Raises:
        BadPosition: ``start`` does not fit these blobs.
    """
    pos = start or Position()
    ra, rb = _Reader(old), _Reader(new)
    ra.skip_to(pos.off_a)
    rb.skip_to(pos.off_b)
    window = options.diff_window_bytes
    while True:
        # One step, a function of ``pos`` only: skip equal lines, diff a window, emit.
        ctx = _Context(context, window)  # long context lines: fewer of them, window-bounded
        try:
            skipped = _skip_equal(ra, rb, ctx)
            if ra.at_end() and rb.at_end():
                return
            line_a = pos.line_a + skipped - len(ctx.lines)
            line_b = pos.line_b + skipped - len(ctx.lines)
            body_a, end_a = ra.peek_lines(window)
            body_b, end_b = rb.peek_lines(window)
        except _LongLine:
            yield Piece(None, pos, LONG_LINE)
            return
        lead = list(ctx.lines)
        wa, wb = lead + body_a, lead + body_b
        ops, timed_out = line_opcodes(wa, wb, options.diff_timeout)
        clusters = _clusters(ops, context)
        at_end = end_a and end_b
        truncated = "time-budget" if timed_out else None
        hunks: list[Hunk] = []
        done_a = done_b = len(lead)  # window lines consumed by the emitted hunks
        for first, last, confirmed in clusters:
            cut = False
            group: list[Opcode] | None = None
            if not (confirmed or at_end):
                if hunks:
                    break  # the next window starts at this cluster
                cut = True
                lead_n = len(lead)
                starts_here = ops[first][1] == ops[first][3] == lead_n
                meet = _realign(ra, rb, body_a, body_b, 8 * window) if starts_here else None
                if meet is not None:
                    # The old side's next lines come back further on in the new side (or
                    # the other way round): what lies before them was inserted (deleted).
                    # Send this window's share of it; the next step goes on from there.
                    tag, n = meet
                    change: Opcode = (
                        ("insert", lead_n, lead_n, lead_n, lead_n + min(n, len(body_b)))
                        if tag == "insert"
                        else ("delete", lead_n, lead_n + min(n, len(body_a)), lead_n, lead_n)
                    )
                    group = [("equal", 0, lead_n, 0, lead_n), change] if lead_n else [change]
                else:
                    # The window ends inside this cluster: send it up to its last short
                    # equal run (or whole, if it has none) and go on from there.
                    inner = [k for k in range(first + 1, last) if ops[k][0] == "equal"]
                    if inner:
                        last = max(k for k in range(first, inner[-1]) if ops[k][0] != "equal")
                    _tag, _i1, i2, _j1, j2 = ops[last]
                    if (i2 == len(wa) and not end_a) or (j2 == len(wb) and not end_b):
                        # ...and a change runs into the window's edge: split blindly.
                        truncated = COARSE
            if group is None:
                group = _group(ops, first, last, context, trail=True)
            hunk = build_hunk(group, wa, wb, options.max_line_chars)
            # Only a side's true end may say "no newline at end of file".
            hunk = attrs.evolve(
                hunk,
                no_newline_old=hunk.no_newline_old and end_a,
                no_newline_new=hunk.no_newline_new and end_b,
            )
            hunks.append(
                attrs.evolve(
                    hunk, old_start=hunk.old_start + line_a, new_start=hunk.new_start + line_b
                )
            )
            done_a, done_b = group[-1][2], group[-1][4]
            if cut:
                break
        pieces = [p for h in hunks for p in split_hunk(h)]
        for k in range(pos.sent, len(pieces)):
            yield Piece(pieces[k], attrs.evolve(pos, sent=k), truncated)
        # Move past what was sent; the next step starts fresh from there.
        used_a = sum(len(line) for line in wa[len(lead) : done_a])
        used_b = sum(len(line) for line in wb[len(lead) : done_b])
        ra.consume(used_a)
        rb.consume(used_b)
        pos = Position(ra.offset, rb.offset, line_a + done_a, line_b + done_b, 0)
        if not hunks:
            return  # nothing differs (cannot happen after a skip that stopped at a change)
