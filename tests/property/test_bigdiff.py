"""The streamed diff of big files: exact, equal to the in-memory diff when the window allows,
resumable at any hunk, and bounded by its window."""

from __future__ import annotations

import random
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snapd import errors, protocol, requests
from snapd.config import Options
from snapd.diff.hunks import Hunk, apply_hunks, diff_bytes
from snapd.diff.streamed import COARSE, LONG_LINE, BadPosition, Position, stream_hunks
from tests.helpers import make_service, write
from tests.property.test_paging_roundtrip import to_hunks

LINE = st.sampled_from([b"", b"a", b"b", b"same", b"x\r", b"\xff\xfe", "é".encode(), b"\t  "])
LINES = st.lists(LINE, max_size=150)


def text(lines: list[bytes], final: bool) -> bytes:
    return b"\n".join(lines) + (b"\n" if final and lines else b"")


EDITED = st.builds(
    lambda old, edits, final_old, final_new: (
        text(old, final_old),
        text(edit(old, edits), final_new),
    ),
    LINES,
    st.lists(st.tuples(st.integers(0, 200), st.integers(0, 3), st.lists(LINE, max_size=4))),
    st.booleans(),
    st.booleans(),
)


def edit(lines: list[bytes], edits: list[tuple[int, int, list[bytes]]]) -> list[bytes]:
    out = list(lines)
    for at, drop, insert in edits:
        at = min(at, len(out))
        out[at : at + drop] = insert
    return out


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def hunks_of(
    old: bytes,
    new: bytes,
    *,
    window: int,
    context: int,
    size: int = 7,
    start: Position | None = None,
) -> list[Hunk]:
    options = Options(diff_window_bytes=window)
    pieces = stream_hunks(
        chunks(old, size), chunks(new, size + 3), context=context, options=options, start=start
    )
    return [p.hunk for p in pieces if p.hunk is not None]


@settings(max_examples=300)
@given(EDITED, st.integers(16, 400), st.integers(0, 4), st.integers(1, 50))
def test_streamed_hunks_rebuild_the_new_side(
    sides: tuple[bytes, bytes], window: int, context: int, size: int
) -> None:
    old, new = sides
    hunks = hunks_of(old, new, window=window, context=context, size=size)
    assert apply_hunks(old, hunks) == new
    assert (hunks == []) == (old == new)


@settings(max_examples=200)
@given(EDITED, st.integers(0, 4))
def test_a_window_wider_than_the_files_gives_as_small_a_diff(
    sides: tuple[bytes, bytes], context: int
) -> None:
    old, new = sides
    streamed = hunks_of(old, new, window=1 << 20, context=context)
    in_memory = list(diff_bytes(old, new, context=context, options=Options()).hunks)
    # The same edit, as small; where an insertion could go either side of an equal line,
    # the in-memory engine may place it differently (the streamed one has skipped the lines
    # before it), so the hunks themselves may differ.
    assert changed(streamed) == changed(in_memory)


def changed(hunks: list[Hunk]) -> tuple[int, int]:
    lines = [line[0] for h in hunks for line in h.lines]
    return lines.count("-"), lines.count("+")


@settings(max_examples=100)
@given(EDITED, st.integers(16, 200), st.integers(0, 3), st.data())
def test_resuming_at_any_hunk_gives_the_rest(
    sides: tuple[bytes, bytes], window: int, context: int, data: st.DataObject
) -> None:
    old, new = sides
    options = Options(diff_window_bytes=window)
    pieces = list(stream_hunks(chunks(old, 5), chunks(new, 9), context=context, options=options))
    if not pieces:
        return
    k = data.draw(st.integers(0, len(pieces) - 1))
    again = list(
        stream_hunks(
            chunks(old, 11),
            chunks(new, 3),
            context=context,
            options=options,
            start=pieces[k].position,
        )
    )
    assert again == pieces[k:]


def test_sparse_edits_in_a_big_file_are_found_with_a_small_window() -> None:
    rng = random.Random(7)
    lines = [b'{"row": %d, "pad": "%s"}\n' % (i, b"x" * rng.randint(0, 60)) for i in range(20_000)]
    old = b"".join(lines)
    changed = sorted(rng.sample(range(len(lines)), 20))
    for k in changed:
        lines[k] = b'{"row": %d, "edited": true}\n' % k
    new = b"".join(lines)
    options = Options(diff_window_bytes=8192)
    pieces = list(stream_hunks(chunks(old, 4096), chunks(new, 4096), context=3, options=options))
    assert {p.truncated for p in pieces} == {None}  # every change fit the window: minimal
    hunks = [p.hunk for p in pieces if p.hunk is not None]
    assert hunks == list(diff_bytes(old, new, context=3, options=Options()).hunks)
    assert [h.old_start + 3 for h in hunks] == [k + 1 for k in changed if k >= 3][: len(hunks)]


def test_a_change_larger_than_the_window_is_split_exactly_and_flagged() -> None:
    old = b"".join(b"line %d\n" % i for i in range(2000))
    new = b"".join(b"line %d\n" % i for i in range(500))
    new += b"".join(b"new %d\n" % i for i in range(3000))
    new += b"".join(b"line %d\n" % i for i in range(1500, 2000))
    options = Options(diff_window_bytes=1024)
    pieces = list(stream_hunks(chunks(old, 999), chunks(new, 999), context=3, options=options))
    assert COARSE in {p.truncated for p in pieces}
    assert apply_hunks(old, [p.hunk for p in pieces if p.hunk is not None]) == new
    held = max(sum(len(line) for line in p.hunk.lines) for p in pieces if p.hunk is not None)
    assert held <= 16 * 1024  # pieces stay page-sized


def test_a_line_longer_than_the_window_stops_the_walk() -> None:
    old = b"a\n" + b"x" * 5000 + b"\nb\n"
    new = b"A\n" + b"y" * 5000 + b"\nb\n"
    pieces = list(
        stream_hunks(
            chunks(old, 100), chunks(new, 100), context=1, options=Options(diff_window_bytes=1024)
        )
    )
    assert pieces[-1].hunk is None and pieces[-1].truncated == LONG_LINE
    assert [p.hunk.lines for p in pieces[:-1] if p.hunk] == [("-a", "+A")]


def test_a_position_past_the_end_is_refused() -> None:
    with pytest.raises(BadPosition):
        list(
            stream_hunks(
                chunks(b"a\n", 1),
                chunks(b"b\n", 1),
                context=3,
                options=Options(),
                start=Position(9, 0, 0, 0, 0),
            )
        )
    with pytest.raises(BadPosition):
        Position.from_list([1, 2, 3])


class BigWorld:
    """A service whose diffMaxBytes is tiny, so long.txt's hunks are streamed."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="snapd-big-"))
        root = self.dir / "work"
        self.old = b"".join(b"row %d\n" % k for k in range(3000))
        write(root, "long.txt", self.old)
        self.svc = make_service(
            root, self.dir / "store", diff_max_bytes=1000, diff_window_bytes=4096
        )
        self.a = requests.snapshot(self.svc, protocol.SnapshotParams()).id
        self.new = b"".join(b"row %d%s\n" % (k, b"!" if k % 40 == 0 else b"") for k in range(3000))
        write(root, "long.txt", self.new)
        self.b = requests.snapshot(self.svc, protocol.SnapshotParams()).id

    def pages(
        self, limit: int | None, max_bytes: int | None, context: int
    ) -> list[protocol.HunksResult]:
        out, cursor = [], None
        while True:
            page = requests.hunks(
                self.svc,
                protocol.HunksParams(
                    from_=self.a,
                    to=self.b,
                    path="long.txt",
                    cursor=cursor,
                    limit=limit,
                    max_bytes=max_bytes,
                    context=context,
                ),
            )
            out.append(page)
            if page.next_cursor is None:
                return out
            assert page.hunks, "a non-final page is never empty"
            cursor = page.next_cursor


@pytest.fixture(scope="module")
def big() -> Iterator[BigWorld]:
    w = BigWorld()
    yield w
    w.svc.close()
    shutil.rmtree(w.dir)


@settings(max_examples=30)
@given(
    limit=st.one_of(st.none(), st.integers(1, 20)),
    max_bytes=st.one_of(st.none(), st.integers(1, 20_000)),
    context=st.integers(0, 4),
)
def test_streamed_hunk_pages_concatenate_to_the_whole_and_apply(
    big: BigWorld, limit: int | None, max_bytes: int | None, context: int
) -> None:
    whole = [h for p in big.pages(None, 10**7, context) for h in p.hunks]
    paged = big.pages(limit, max_bytes, context)
    assert [h for p in paged for h in p.hunks] == whole
    assert not any(p.truncated for p in paged)  # every change fits the window
    rebuilt = apply_hunks(big.old, to_hunks(whole))
    assert rebuilt == big.new
    assert len(whole) == len(range(0, 3000, 40))  # one hunk per edited row (context <= 4)


def test_a_streamed_cursor_is_bound_to_its_query(big: BigWorld) -> None:
    page = requests.hunks(
        big.svc, protocol.HunksParams(from_=big.a, to=big.b, path="long.txt", limit=1)
    )
    assert page.next_cursor
    with pytest.raises(errors.BadCursor):
        requests.hunks(
            big.svc,
            protocol.HunksParams(
                from_=big.a, to=big.b, path="long.txt", cursor=page.next_cursor, context=0
            ),
        )


def test_equal_lines_of_any_length_are_skipped_in_blocks() -> None:
    for n in (65_535, 70_000, 300_000):  # around and far past the 64 KiB comparison block
        old = b"a\n" + b"L" * n + b"\nb\n"
        new = b"A\n" + b"L" * n + b"\nB\n"
        pieces = list(
            stream_hunks(
                chunks(old, 4096),
                chunks(new, 4096),
                context=1,
                options=Options(diff_window_bytes=1024),
            )
        )
        hunks = [p.hunk for p in pieces if p.hunk is not None]
        assert LONG_LINE not in {p.truncated for p in pieces}, n
        assert [h.old_start for h in hunks] == [1, 3]
        assert apply_hunks(old, hunks) == new


def test_an_equal_long_last_line_ending_on_a_block_boundary_is_not_a_stop() -> None:
    def sized(data: bytes) -> Iterator[bytes]:  # chunks that end exactly on 64 KiB blocks
        yield data[:2]
        yield from chunks(data[2:], 65_536)

    old, new = b"a\n" + b"L" * 131_072, b"A\n" + b"L" * 131_072
    opts = Options(diff_window_bytes=1024)
    pieces = list(stream_hunks(sized(old), sized(new), context=1, options=opts))
    assert [p.hunk.lines for p in pieces if p.hunk is not None] == [("-a", "+A")]
    assert LONG_LINE not in {p.truncated for p in pieces}


def test_context_lines_are_bounded_by_the_window_in_bytes() -> None:
    import tracemalloc

    line = b"E" * 500_000 + b"\n"
    old, new = line * 40 + b"a\n", line * 40 + b"b\n"
    tracemalloc.start()
    try:
        pieces = list(
            stream_hunks(
                chunks(old, 1 << 18), chunks(new, 1 << 18), context=1000, options=Options()
            )
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    hunks = [p.hunk for p in pieces if p.hunk is not None]
    assert apply_hunks(old, hunks) == new
    assert peak < 8 * 1024 * 1024, peak  # not 1000 context lines of 500 KB


def test_a_window_exactly_the_size_of_what_is_left_reaches_the_end() -> None:
    w = 65_536
    for old, new in ((b"A" * w, b"B" * w), (b"x\n" * (w // 2), b"y\n" * (w // 2))):
        pieces = list(
            stream_hunks(
                chunks(old, 4096),
                chunks(new, 4096),
                context=3,
                options=Options(diff_window_bytes=w),
            )
        )
        assert {p.truncated for p in pieces} == {None}
        hunks = [p.hunk for p in pieces if p.hunk is not None]
        if not any(h.cut_lines for h in hunks):  # a 64 KiB line is cut to fit its piece
            assert apply_hunks(old, hunks) == new


def test_a_line_is_cut_to_keep_its_json_within_a_piece() -> None:
    from snapd.paging import PIECE_BYTES

    fd = diff_bytes(b"a\n", b"\x01" * 16_000 + b"\n", context=0, options=Options())
    assert all(h.json_size() <= PIECE_BYTES for h in fd.hunks)
    assert [h.cut_lines for h in fd.hunks] == [(1,)]


def test_an_insertion_or_deletion_larger_than_the_window_realigns() -> None:
    rows = [b'{"row": %d}\n' % i for i in range(20_000)]
    block = [b'{"inserted": %d}\n' % i for i in range(3_000)]  # ~55 KB: 4 windows
    old = b"".join(rows)
    new = b"".join(rows[:7_000] + block + rows[7_000:])
    opts = Options(diff_window_bytes=16_384)  # it looks up to 8 windows ahead
    for a, b, want in ((old, new, (0, 3_000)), (new, old, (3_000, 0))):
        pieces = list(stream_hunks(chunks(a, 999), chunks(b, 777), context=3, options=opts))
        hunks = [p.hunk for p in pieces if p.hunk is not None]
        assert apply_hunks(a, hunks) == b
        assert changed(hunks) == want  # not the rest of the file deleted and added again
        assert {p.truncated for p in pieces} == {None}
    tiny_old = b"".join(b"%d\n" % i for i in range(100, 120))
    tiny_new = b"x\n" * 9 + tiny_old
    pieces = list(
        stream_hunks(
            chunks(tiny_old, 5),
            chunks(tiny_new, 5),
            context=0,
            options=Options(diff_window_bytes=16),
        )
    )
    assert changed([p.hunk for p in pieces if p.hunk is not None]) == (0, 9)
