"""Property tests: a line-capped diff lists no change at the cut; digests name what hunks say.

* Only real changes: the hunks of a diff cut at ``diffMaxLines`` never touch the last line of
  a cut side (a change there can exist only because of the cut), every hunk matches both
  sides where it says it sits, and a change well inside the cap is listed as in the full diff.
* Digests: the daemon's digest is the one protocol.md describes (recomputed by the
  conformance suite's independent implementation), leaves out ``newStart`` only, and
  restoring hunks by digest equals applying exactly those hunks in reverse.
"""

from __future__ import annotations

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from snapd.config import Options
from snapd.diff.hunks import Hunk, apply_hunks, diff_bytes, split_lines
from snapd.restore.plan import reverse_hunk
from tests.conformance.apply import hunk_digest

LINE = st.sampled_from([b"a\n", b"b\n", b"c\n", b"d\n", b"same\n", b"\xff\n", b"x\r\n"])
LINES = st.lists(LINE, max_size=60)


def old_side_matches(h: Hunk, old: list[bytes], new: list[bytes]) -> bool:
    """The hunk's old lines are ``old``'s at ``oldStart`` and its new lines ``new``'s."""
    olds = [line[1:] for line in h.lines if line[0] in " -"]
    news = [line[1:] for line in h.lines if line[0] in " +"]
    o = h.old_start - 1 if h.old_lines else h.old_start
    n = h.new_start - 1 if h.new_lines else h.new_start

    def text(lines: list[bytes]) -> list[str]:
        return [x.rstrip(b"\n").decode("utf-8", "surrogateescape") for x in lines]

    return text(old[o : o + len(olds)]) == olds and text(new[n : n + len(news)]) == news


@settings(max_examples=300, deadline=None)
@given(old=LINES, new=LINES, cap=st.integers(1, 40), context=st.integers(0, 3))
def test_a_line_capped_diff_stops_before_the_cut(
    old: list[bytes], new: list[bytes], cap: int, context: int
) -> None:
    options = Options(diff_max_lines=cap)
    fd = diff_bytes(b"".join(old), b"".join(new), context=context, options=options)
    cut = len(old) > cap or len(new) > cap
    assert (fd.truncated == "line-cap") == cut
    for h in fd.hunks:
        assert old_side_matches(h, old, new)
    if not cut:
        return
    end_a, end_b = min(len(old), cap), min(len(new), cap)
    for h in fd.hunks:
        a = h.old_start - 1 if h.old_lines else h.old_start
        b = h.new_start - 1 if h.new_lines else h.new_start
        for line in h.lines:
            if line[0] == "-":
                assert a < end_a - 1, "a deletion reaches the cut"
            if line[0] == "+":
                assert b < end_b - 1, "an insertion reaches the cut"
            a += line[0] in " -"
            b += line[0] in " +"


@settings(max_examples=100, deadline=None)
@given(
    header=st.integers(1, 12),
    body=st.integers(0, 80),
    cap=st.integers(1, 60),
    inserted=st.booleans(),
)
def test_a_shift_across_the_cut_is_only_the_real_change(
    header: int, body: int, cap: int, inserted: bool
) -> None:
    # The case in small: lines deleted (or inserted) at the top of a long file.
    top = [b"header %d\n" % i for i in range(header)]
    rest = [b"line %d\n" % i for i in range(body)]
    old, new = (rest, top + rest) if inserted else (top + rest, rest)
    fd = diff_bytes(b"".join(old), b"".join(new), context=3, options=Options(diff_max_lines=cap))
    for h in fd.hunks:
        tags = {line[0] for line in h.lines} - {" "}
        assert tags == ({"+"} if inserted else {"-"})
        assert h.old_start <= 1 and h.new_start <= 1  # only the change at the top


HUNK = st.builds(
    Hunk,
    old_start=st.integers(0, 10**6),
    old_lines=st.integers(0, 10**4),
    new_start=st.integers(0, 10**6),
    new_lines=st.integers(0, 10**4),
    lines=st.lists(
        st.tuples(
            st.sampled_from(" -+"),
            st.binary(max_size=10).filter(lambda b: b"\n" not in b),
        ).map(lambda t: t[0] + t[1].decode("utf-8", "surrogateescape")),
        max_size=8,
    ).map(tuple),
    no_newline_old=st.booleans(),
    no_newline_new=st.booleans(),
)


@given(h=HUNK, other=st.integers(0, 10**6))
def test_the_digest_is_the_documented_one_and_ignores_only_new_start(h: Hunk, other: int) -> None:
    wire = {
        "oldStart": h.old_start,
        "oldLines": h.old_lines,
        "newStart": h.new_start,
        "newLines": h.new_lines,
        "lines": list(h.lines),
        "noNewlineOld": h.no_newline_old,
        "noNewlineNew": h.no_newline_new,
    }
    assert h.digest == hunk_digest(wire)
    assert len(h.digest) == 16 and int(h.digest, 16) >= 0
    assert attrs.evolve(h, new_start=other).digest == h.digest
    for change in (
        {"old_start": h.old_start + 1},
        {"old_lines": h.old_lines + 1},
        {"new_lines": h.new_lines + 1},
        {"no_newline_old": not h.no_newline_old},
        {"no_newline_new": not h.no_newline_new},
        {"lines": (*h.lines, " ")},
    ):
        assert attrs.evolve(h, **change).digest != h.digest


@settings(max_examples=200, deadline=None)
@given(old=LINES, new=LINES, data=st.data())
def test_hunks_picked_by_digest_undo_exactly_those_changes(
    old: list[bytes], new: list[bytes], data: st.DataObject
) -> None:
    a, b = b"".join(old), b"".join(new)
    hunks = list(diff_bytes(a, b, context=1, options=Options()).hunks)
    assert len({h.digest for h in hunks}) == len(hunks)  # a digest names one hunk of a file
    picked = data.draw(
        st.sets(st.sampled_from([h.digest for h in hunks])) if hunks else st.just(set())
    )
    selected = [h for h in hunks if h.digest in picked]
    restored = apply_hunks(b, [reverse_hunk(h) for h in selected])
    # The same as applying only the other hunks to the old side.
    assert restored == apply_hunks(a, [h for h in hunks if h.digest not in picked])
    if len(selected) == len(hunks):
        assert split_lines(restored) == old
