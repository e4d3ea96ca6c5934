"""Property tests: pages concatenate to the unpaged answer; hunks rebuild the new content."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snapd import errors, protocol, requests
from snapd.config import Options
from snapd.diff.hunks import Hunk, apply_hunks, diff_bytes
from snapd.requests.common import json_size
from tests.helpers import make_service, write

LINE = st.one_of(
    st.sampled_from([b"", b"a", b"b", b"same", b"x\r", b"\xff\xfe", "é".encode(), b"\t  "]),
    st.binary(max_size=12).filter(lambda b: b"\n" not in b and b"\0" not in b),
)
TEXT = st.builds(
    lambda lines, final: b"\n".join(lines) + (b"\n" if final and lines else b""),
    st.lists(LINE, max_size=40),
    st.booleans(),
)


def to_hunks(wire: list[protocol.Hunk]) -> list[Hunk]:
    return [
        Hunk(
            old_start=h.old_start,
            old_lines=h.old_lines,
            new_start=h.new_start,
            new_lines=h.new_lines,
            lines=tuple(h.lines),
            no_newline_old=h.no_newline_old,
            no_newline_new=h.no_newline_new,
        )
        for h in wire
    ]


@given(old=TEXT, new=TEXT, context=st.integers(0, 5))
def test_hunks_rebuild_new_content(old: bytes, new: bytes, context: int) -> None:
    fd = diff_bytes(old, new, context=context, options=Options())
    assert apply_hunks(old, list(fd.hunks)) == new
    for h in fd.hunks:
        assert all(line[:1] in (" ", "+", "-") for line in h.lines)


@settings(max_examples=15)
@given(data=st.data())
def test_big_hunks_are_split_into_pieces_that_still_apply(data: st.DataObject) -> None:
    n = data.draw(st.integers(1500, 4000))
    old = b"".join(b"old line %d with some padding text\n" % i for i in range(n))
    new = b"".join(b"new line %d with some padding text\n" % i for i in range(n))
    if data.draw(st.booleans()):
        new = new.rstrip(b"\n")
    fd = diff_bytes(old, new, context=3, options=Options())
    assert len(fd.hunks) > 1
    assert all(h.json_size() <= 16 * 1024 for h in fd.hunks)
    assert apply_hunks(old, list(fd.hunks)) == new


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"x", b"y\n" * 9000),  # the old side's last line is in the first piece
        (b"y\n" * 9000, b"x"),  # ...the new side's
        (b"a\n" * 9000 + b"end", b"b\n" * 9000 + b"END"),
    ],
)
def test_no_newline_marks_go_with_their_line_when_a_hunk_is_split(old: bytes, new: bytes) -> None:
    fd = diff_bytes(old, new, context=0, options=Options())
    assert len(fd.hunks) > 1
    assert apply_hunks(old, list(fd.hunks)) == new


class World:
    """One worktree with two snapshots, shared by the paging properties (built once)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="snapd-prop-"))
        root = self.dir / "work"
        for i in range(60):
            write(root, f"d{i % 7}/f{i:03}.txt", "".join(f"line {k}\n" for k in range(i % 9)))
        write(root, "big.bin", b"\0" * 10)
        self.svc = make_service(root, self.dir / "store", content_limit=40_000)
        self.a = requests.snapshot(self.svc, protocol.SnapshotParams()).id
        for i in range(0, 60, 3):
            write(root, f"d{i % 7}/f{i:03}.txt", f"changed {i}\n" * (i % 5 + 1))
        for i in range(1, 60, 11):
            (root / f"d{i % 7}/f{i:03}.txt").unlink()
        write(root, "d9/new.txt", "new\n")
        write(root, "huge.txt", "x" * 50_000)
        long_old = "".join(f"row {k}\n" for k in range(3000))
        write(root, "long.txt", long_old)
        self.b = requests.snapshot(self.svc, protocol.SnapshotParams()).id
        write(
            root, "long.txt", "".join(f"row {k}{'!' if k % 50 == 0 else ''}\n" for k in range(3000))
        )
        self.c = requests.snapshot(self.svc, protocol.SnapshotParams()).id


@pytest.fixture(scope="module")
def world():
    w = World()
    yield w
    w.svc.close()
    shutil.rmtree(w.dir)


def all_diff(svc, a, b, limit, max_bytes):
    out, cursor = [], None
    while True:
        page = requests.diff(
            svc, protocol.DiffParams(from_=a, to=b, cursor=cursor, limit=limit, max_bytes=max_bytes)
        )
        assert len(page.files) <= (limit or 10**9)
        out += page.files
        if page.next_cursor is None:
            return out
        assert page.files, "a non-final page is never empty"
        cursor = page.next_cursor


@given(
    limit=st.one_of(st.none(), st.integers(1, 30)),
    max_bytes=st.one_of(st.none(), st.integers(1, 40000)),
)
def test_diff_pages_concatenate_to_the_whole(world, limit, max_bytes) -> None:
    whole = all_diff(world.svc, world.a, world.b, None, 10**7)
    assert all_diff(world.svc, world.a, world.b, limit, max_bytes) == whole
    assert [f.path for f in whole] == sorted(f.path for f in whole)


@given(
    limit=st.one_of(st.none(), st.integers(1, 10)),
    max_bytes=st.integers(1, 60000),
    context=st.integers(0, 4),
)
def test_hunk_pages_concatenate_and_apply(world, limit, max_bytes, context) -> None:
    old = (world.dir / "work" / "long.txt").read_bytes()  # current == snapshot c
    hunks, cursor = [], None
    while True:
        page = requests.hunks(
            world.svc,
            protocol.HunksParams(
                from_=world.b,
                to=world.c,
                path="long.txt",
                cursor=cursor,
                limit=limit,
                max_bytes=max_bytes,
                context=context,
            ),
        )
        size = sum(json_size(h) for h in page.hunks)
        assert size <= max(max_bytes, 16 * 1024) or len(page.hunks) == 1
        hunks += page.hunks
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    old_body = "".join(f"row {k}\n" for k in range(3000)).encode()
    assert apply_hunks(old_body, to_hunks(hunks)) == old


@given(junk=st.one_of(st.text(max_size=40), st.binary(max_size=40).map(lambda b: b.hex())))
def test_malformed_cursors_only_raise_bad_cursor(world, junk: str) -> None:
    with pytest.raises(errors.BadCursor):
        requests.diff(world.svc, protocol.DiffParams(from_=world.a, to=world.b, cursor=junk))


def test_foreign_cursor_is_refused(world) -> None:
    page = requests.diff(world.svc, protocol.DiffParams(from_=world.a, to=world.b, limit=1))
    assert page.next_cursor
    with pytest.raises(errors.BadCursor):
        requests.diff(
            world.svc, protocol.DiffParams(from_=world.b, to=world.c, cursor=page.next_cursor)
        )
    with pytest.raises(errors.BadCursor):
        requests.hunks(
            world.svc,
            protocol.HunksParams(
                from_=world.a, to=world.b, path="long.txt", cursor=page.next_cursor
            ),
        )


def test_skipped_files_get_metadata_never_hunks(world) -> None:
    files = {f.path: f for f in all_diff(world.svc, world.a, world.b, None, 10**7)}
    huge = files["huge.txt"]
    assert huge.status == "added" and huge.skipped and huge.skipped.rule == "size-limit"
    assert huge.new_size == 50_000
    res = requests.hunks(
        world.svc, protocol.HunksParams(from_=world.a, to=world.b, path="huge.txt")
    )
    assert res.hunks == [] and res.skipped and res.skipped.rule == "size-limit"


def test_the_diff_budget_is_work_not_wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    import itertools
    import sys
    import types

    from snapd.diff.hunks import line_opcodes, split_lines

    engine = sys.modules["diff_match_patch.diff_match_patch"]  # the module, not the class

    old = b"".join(b"row %d\n" % i for i in range(3000))
    new = b"".join(b"row %d%s\n" % (i, b"!" if i % 7 == 0 else b"") for i in range(3000))
    a, b = split_lines(old), split_lines(new)
    calm = line_opcodes(a, b, 2.0)
    assert calm[1] is False
    # A machine so loaded that every clock read is 1000 s later: a wall-clock deadline would
    # cut the diff short at once, and pages computed now and later would disagree.
    clock = itertools.count(0.0, 1000.0)
    monkeypatch.setattr(engine, "time", types.SimpleNamespace(time=lambda: next(clock)))
    assert line_opcodes(a, b, 2.0) == calm
    tiny = line_opcodes(a, b, 1e-9)  # one step of work: settles for a coarse, exact script
    assert tiny[1] is True and tiny == line_opcodes(a, b, 1e-9)
