"""Taking one step's change out of a file that may have changed since: a three-way merge.

The merge is ``merge3`` (the diff3 algorithm of bzr/breezy, maintained on PyPI) with base =
the file as the step left it, ours = the live file and theirs = the file before the step. The
line matching under it is snapd's own bounded line diff
(:func:`snapd.diff.hunks.line_opcodes`: Myers with a work budget), not difflib's, whose worst
case is quadratic: a merge costs what two diffs cost. The caller bounds the inputs
(``diffMaxBytes``, ``diffMaxLines``); nothing here reads a file.

Where the later edits and the step touch the same lines, nothing is merged: the file is left
alone and the step's hunks there are reported (in the step's direction, as ``snapd/hunks``
lists the step), never written into the file as conflict markers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import attrs
import merge3

from snapd.diff.hunks import Hunk, build_hunk, line_opcodes, split_hunk, split_lines
from snapd.paging import PIECE_BYTES

CONFLICT_HUNK_BYTES: Final = PIECE_BYTES // 2
"""JSON bytes of conflict hunks one plan item lists at most (the rest are only flagged as
cut): a plan item, with its path and reason, must fit the smallest page whatever the file."""


@attrs.frozen
class Reverted:
    """The outcome of taking a step out of one file."""

    merged: bytes | None
    """The file with the step's change taken out; None when the edits overlap."""
    conflicts: tuple[Hunk, ...] = ()
    """The step's hunks that overlap later edits (from the file before the step to after it)."""
    cut: bool = False
    """``conflicts`` lists only the first of them (:data:`CONFLICT_HUNK_BYTES`)."""
    marked: bytes | None = None
    """When the edits overlap: the merge with each overlap between conflict markers."""


def _matcher(timeout: float) -> type:
    """A ``difflib.SequenceMatcher`` stand-in for merge3, on snapd's bounded line diff."""

    class LineMatcher:
        def __init__(
            self,
            isjunk: Any = None,
            a: Sequence[bytes] = (),
            b: Sequence[bytes] = (),
            autojunk: bool = True,
        ) -> None:
            self.a, self.b = list(a), list(b)

        def get_matching_blocks(self) -> list[tuple[int, int, int]]:
            ops, _cut_short = line_opcodes(self.a, self.b, timeout)
            blocks = [(i1, j1, i2 - i1) for tag, i1, i2, j1, _j2 in ops if tag == "equal"]
            blocks.append((len(self.a), len(self.b), 0))  # difflib's sentinel
            return blocks

    return LineMatcher


def revert_step(
    before: bytes, after: bytes, live: bytes, *, timeout: float, max_line_chars: int
) -> Reverted:
    """Take the change ``before`` -> ``after`` out of ``live``, keeping live's other edits.

    Args:
        before: The file before the step (theirs).
        after: The file as the step left it (the merge base).
        live: The file now (ours).
        timeout: Work budget of each line diff, in seconds of work (see ``diffTimeout``).
        max_line_chars: Longer lines are cut in the reported hunks.
    """
    base, ours, theirs = split_lines(after), split_lines(live), split_lines(before)
    merger = merge3.Merge3(base, ours, theirs, sequence_matcher=_matcher(timeout))
    out: list[bytes] = []
    conflicts: list[Hunk] = []
    for region in merger.merge_regions():
        tag = region[0]
        if tag == "unchanged":
            out += base[region[1] : region[2]]
        elif tag in ("a", "same"):
            out += ours[region[1] : region[2]]
        elif tag == "b":
            out += theirs[region[1] : region[2]]
        else:
            z1, z2, a1, a2, b1, b2 = region[1:7]  # type: ignore[misc]
            conflicts += _step_hunks(theirs, base, (b1, b2, z1, z2), timeout, max_line_chars)
            for marker, lines in zip(
                MARKERS, (ours[a1:a2], base[z1:z2], theirs[b1:b2], []), strict=True
            ):
                out.append(marker)
                out += _terminated(lines)
    if not conflicts:
        return Reverted(b"".join(out))
    listed, cut = _within_budget(conflicts)
    return Reverted(None, listed, cut, marked=b"".join(out))


MARKERS: Final = (
    b"<<<<<<< worktree\n",
    b"||||||| after the step\n",
    b"=======\n",
    b">>>>>>> before the step\n",
)
"""diff3-style conflict markers (git's ``merge.conflictStyle = diff3``): the worktree's lines,
the step's result, the lines before the step."""


def _terminated(lines: list[bytes]) -> list[bytes]:
    """``lines`` with a newline after the last one (a marker must start its own line)."""
    if lines and not lines[-1].endswith(b"\n"):
        return [*lines[:-1], lines[-1] + b"\n"]
    return lines


def _step_hunks(
    before: list[bytes],
    after: list[bytes],
    region: tuple[int, int, int, int],
    timeout: float,
    max_line_chars: int,
) -> list[Hunk]:
    """The step's own changes inside a conflict region, as hunks without context.

    A conflict region spans both sides' changes: lines the step left alone but a later edit
    changed next to it are not the step's, so only the differing runs are reported.
    """
    b1, b2, z1, z2 = region
    ops, _cut_short = line_opcodes(before[b1:b2], after[z1:z2], timeout)
    return [
        build_hunk([(tag, i1 + b1, i2 + b1, j1 + z1, j2 + z1)], before, after, max_line_chars)
        for tag, i1, i2, j1, j2 in ops
        if tag != "equal"
    ]


def _within_budget(hunks: list[Hunk]) -> tuple[tuple[Hunk, ...], bool]:
    """The first hunks (big ones split in pieces) within :data:`CONFLICT_HUNK_BYTES`."""
    listed: list[Hunk] = []
    used = 0
    for hunk in hunks:
        for piece in split_hunk(hunk):
            size = piece.json_size()
            if used + size > CONFLICT_HUNK_BYTES:
                return tuple(listed), True
            listed.append(piece)
            used += size
    return tuple(listed), False
