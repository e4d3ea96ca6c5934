"""Bounded line diffs of two blobs, cut into hunks small enough to page.

Bounds, all from :class:`~snapd.config.Options`: a side over ``diff_max_bytes`` is never read
whole (:func:`diff_blobs` answers ``file-too-large``, which hunk-level restore reports;
``snapd/hunks`` streams such files through :mod:`snapd.diff.streamed` instead); only the first
``diff_max_lines`` lines are diffed (``line-cap``: the hunks stop at the last equal run before
the cut, since a change that reaches the cut may exist only because of it; hunk-level restore
refuses such a file); the line diff stops refining after a
work budget worth about ``diff_timeout`` seconds (``time-budget``: the hunks are still an exact
edit script, only coarser than minimal; counted in work, so the same inputs always give the
same hunks); a line over ``max_line_chars`` is cut and listed in
``cut_lines``. Big hunks are split into consecutive hunks of at most :data:`PIECE_BYTES` JSON
bytes each, so a page can always hold at least one whole hunk and the split does not depend on
the page size asked for.

The engine is diff-match-patch's Myers diff on lines mapped to single characters: linear in the
common case and, unlike difflib, with a deadline.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from typing import TYPE_CHECKING, Any, Final

import attrs
from diff_match_patch import diff_match_patch

from snapd.paging import PIECE_BYTES

if TYPE_CHECKING:
    from snapd.config import Options
    from snapd.store.repo import Store

HUNK_FRAMING: Final = 140
"""JSON bytes of a hunk besides its lines (field names, numbers, flags, digest)."""

BINARY_SNIFF: Final = 8000

DIGEST_HEX: Final = 16
"""Hex digits of a hunk digest (64 bits: hunks of one file never collide by chance)."""

Opcode = tuple[str, int, int, int, int]


@attrs.frozen(kw_only=True)
class Hunk:
    """One hunk in unified-diff numbering (1-based starts; a start is 0 for an empty side)."""

    old_start: int
    old_lines: int
    new_start: int
    new_lines: int
    lines: tuple[str, ...]
    no_newline_old: bool = False
    no_newline_new: bool = False
    cut_lines: tuple[int, ...] = ()

    def json_size(self) -> int:
        """Approximate bytes of this hunk on the wire."""
        return HUNK_FRAMING + sum(len(json.dumps(line)) + 1 for line in self.lines)

    @property
    def digest(self) -> str:
        r"""What this hunk means, as :data:`DIGEST_HEX` hex digits (protocol.md ``Hunk.digest``).

        The first hex digits of the SHA-256 of ``"<oldStart> <oldLines> <newLines>
        <noNewlineOld> <noNewlineNew>\n"`` (flags as 0 or 1) followed by every line and a
        ``\n``, as the file's bytes (undecodable bytes are back to what they were).
        ``newStart`` is left out on purpose: it moves when the new side changes above the hunk,
        which does not change what the hunk undoes; everything else it says is in.
        """
        h = hashlib.sha256(
            b"%d %d %d %d %d\n"
            % (
                self.old_start,
                self.old_lines,
                self.new_lines,
                self.no_newline_old,
                self.no_newline_new,
            )
        )
        for line in self.lines:
            h.update(line.encode("utf-8", "surrogateescape") + b"\n")
        return h.hexdigest()[:DIGEST_HEX]


@attrs.frozen(kw_only=True)
class FileDiff:
    """All hunks of one file, or why there are none."""

    hunks: tuple[Hunk, ...] = ()
    binary: bool = False
    truncated: str | None = None


def split_lines(data: bytes) -> list[bytes]:
    r"""Split on ``\\n`` only, keeping terminators (``\\r`` stays part of the line)."""
    if not data:
        return []
    parts = data.split(b"\n")
    lines = [p + b"\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def line_opcodes(a: list[bytes], b: list[bytes], timeout: float) -> tuple[list[Opcode], bool]:
    """Line-level opcodes (difflib's format) and whether the deadline cut refinement short."""
    codes: dict[bytes, str] = {}

    def encode(lines: list[bytes]) -> str:
        out = []
        for line in lines:
            ch = codes.get(line)
            if ch is None:
                ch = codes[line] = chr(len(codes) + 1)
            out.append(ch)
        return "".join(out)

    sa, sb = encode(a), encode(b)
    if sa and sb and not set(sa) & set(sb):
        # A total rewrite (no line in common): Myers would search the whole O(N*M) space
        # before concluding the obvious, so answer directly.
        return [("replace", 0, len(a), 0, len(b))], False
    dmp = _Engine()
    dmp.Diff_Timeout = timeout  # > 0 also enables its (deterministic) half-match speed-up
    budget = _WorkBudget(timeout)
    diffs = dmp.diff_main(sa, sb, False, budget)
    timed_out = budget.spent
    ops: list[Opcode] = []
    i = j = 0
    for op, text in diffs:
        n = len(text)
        if op == 0:
            ops.append(("equal", i, i + n, j, j + n))
            i, j = i + n, j + n
        elif op == -1:
            ops.append(("delete", i, i + n, j, j))
            i += n
        else:
            ops.append(("insert", i, i, j, j + n))
            j += n
    return _merge_replace(ops), timed_out


UNIT_SECONDS: Final = 6e-7
"""Rough cost of one unit of diff-match-patch's bisection work (one diagonal of one step)."""


class _WorkBudget:
    """A diff-match-patch deadline counted in work instead of wall-clock time.

    diff-match-patch checks ``time.time() > deadline`` once per step ``d`` of a bisection, and
    step ``d`` walks about ``d`` diagonals; with this object as the deadline each check spends
    ``d`` units. The same two texts then always get the same diff, whatever the machine's
    load: pages of one diff computed at different moments must agree, and a real deadline made
    them differ under load.
    """

    def __init__(self, seconds: float) -> None:
        self.left = seconds / UNIT_SECONDS
        self.step = 0
        self.spent = False

    def new_bisection(self) -> None:
        """A bisection starts (they run one after another, never nested)."""
        self.step = 0

    def __lt__(self, now: object) -> bool:
        # ``now > deadline`` is answered here (float.__gt__ gives NotImplemented).
        self.left -= self.step
        self.step += 1
        if self.left < 0:
            self.spent = True
        return self.spent


class _Engine(diff_match_patch):  # type: ignore[misc]
    """diff-match-patch that tells its :class:`_WorkBudget` where each bisection starts."""

    def diff_bisect(self, text1: str, text2: str, deadline: Any) -> Any:
        if isinstance(deadline, _WorkBudget):
            deadline.new_bisection()
        return super().diff_bisect(text1, text2, deadline)


def _merge_replace(ops: list[Opcode]) -> list[Opcode]:
    """Fold adjacent delete+insert runs into ``replace`` (as difflib reports them)."""
    out: list[Opcode] = []
    for op in ops:
        if out and op[0] in ("delete", "insert") and out[-1][0] in ("delete", "insert", "replace"):
            _tag, i1, _i2, j1, _j2 = out[-1]
            out[-1] = ("replace", i1, op[2], j1, op[4])
        else:
            out.append(op)
    return out


class _Grouper(difflib.SequenceMatcher):  # type: ignore[type-arg]
    """Reuse difflib's hunk grouping (context handling) on opcodes computed elsewhere."""

    def __init__(self, ops: list[Opcode]) -> None:
        self._ops = ops

    def get_opcodes(self) -> list[Opcode]:  # type: ignore[override]
        return self._ops


def diff_blobs(
    store: Store, old: str | None, new: str | None, *, context: int, options: Options
) -> FileDiff:
    """Diff two blobs (None is an absent side) within the configured budgets."""
    old_size = store.blob_size(old) if old else 0
    new_size = store.blob_size(new) if new else 0
    if max(old_size, new_size) > options.diff_max_bytes:
        return FileDiff(truncated="file-too-large")
    a = (store.read_blob(old, options.diff_max_bytes) or b"") if old else b""
    b = (store.read_blob(new, options.diff_max_bytes) or b"") if new else b""
    if b"\0" in a[:BINARY_SNIFF] or b"\0" in b[:BINARY_SNIFF]:
        return FileDiff(binary=True)
    return diff_bytes(a, b, context=context, options=options)


def diff_bytes(a: bytes, b: bytes, *, context: int, options: Options) -> FileDiff:
    """Diff two in-memory texts within the configured budgets."""
    alines, blines = split_lines(a), split_lines(b)
    truncated: str | None = None
    cap = options.diff_max_lines
    if len(alines) > cap or len(blines) > cap:
        alines, blines, truncated = alines[:cap], blines[:cap], "line-cap"
    ops, timed_out = line_opcodes(alines, blines, options.diff_timeout)
    if truncated is not None:
        ops = _before_cut(ops)
    if timed_out and truncated is None:
        truncated = "time-budget"
    if all(op[0] == "equal" for op in ops):
        return FileDiff(truncated=truncated)
    hunks: list[Hunk] = []
    for group in _Grouper(ops).get_grouped_opcodes(context):
        hunks.extend(split_hunk(build_hunk(group, alines, blines, options.max_line_chars)))
    return FileDiff(hunks=tuple(hunks), truncated=truncated)


def _before_cut(ops: list[Opcode]) -> list[Opcode]:
    """The opcodes of a line-capped diff up to its last equal run.

    A change that reaches the cut is an artefact of the cut as often as not: with ten lines
    deleted at the top, the capped new side ends ten lines further into the file, and those
    ten lines look inserted. What comes before the last equal run is part of a true edit
    script of the whole files (the sides are aligned there; any edit of the rest completes
    it), so those hunks are real; the change at the cut is not reported.
    """
    end = len(ops)
    while end and ops[end - 1][0] != "equal":
        end -= 1
    return ops[:end]


LINE_JSON_BYTES: Final = PIECE_BYTES - 256
"""Largest JSON encoding of one hunk line: a piece (one line at least) stays within its bound."""


def _text(line: bytes, limit: int) -> tuple[str, bool]:
    """A line as hunk text: at most ``limit`` characters and :data:`LINE_JSON_BYTES` of JSON."""
    text = line[:-1] if line.endswith(b"\n") else line
    s = text.decode("utf-8", "surrogateescape")
    cut = len(s) > limit
    if cut:
        s = s[:limit]
    if len(s) > LINE_JSON_BYTES // 6:  # control and undecodable bytes take 6 bytes each
        while len(json.dumps(s)) > LINE_JSON_BYTES:
            s, cut = s[: len(s) * 3 // 4], True
    return s, cut


def build_hunk(group: list[Opcode], a: list[bytes], b: list[bytes], limit: int) -> Hunk:
    """One hunk from a group of opcodes over line lists ``a`` and ``b`` (0-based indexes)."""
    i1, j1 = group[0][1], group[0][3]
    i2, j2 = group[-1][2], group[-1][4]
    lines: list[str] = []
    cut: list[int] = []
    no_nl_old = no_nl_new = False

    def add(prefix: str, line: bytes) -> None:
        text, was_cut = _text(line, limit)
        if was_cut:
            cut.append(len(lines))
        lines.append(prefix + text)

    for tag, ai1, ai2, bj1, bj2 in group:
        if tag == "equal":
            for k in range(ai1, ai2):
                add(" ", a[k])
        else:
            for k in range(ai1, ai2):
                add("-", a[k])
            for k in range(bj1, bj2):
                add("+", b[k])
    if i2 == len(a) and a and not a[-1].endswith(b"\n") and i2 > i1:
        no_nl_old = True
    if j2 == len(b) and b and not b[-1].endswith(b"\n") and j2 > j1:
        no_nl_new = True
    old_lines, new_lines = i2 - i1, j2 - j1
    return Hunk(
        old_start=i1 + 1 if old_lines else i1,
        old_lines=old_lines,
        new_start=j1 + 1 if new_lines else j1,
        new_lines=new_lines,
        lines=tuple(lines),
        no_newline_old=no_nl_old,
        no_newline_new=no_nl_new,
        cut_lines=tuple(cut),
    )


def split_hunk(hunk: Hunk) -> list[Hunk]:
    """Split a hunk over :data:`PIECE_BYTES` into consecutive hunks that apply in sequence."""
    if hunk.json_size() <= PIECE_BYTES:
        return [hunk]
    pieces: list[Hunk] = []
    old_pos = hunk.old_start if hunk.old_lines else hunk.old_start + 1
    new_pos = hunk.new_start if hunk.new_lines else hunk.new_start + 1
    start = 0
    cut = set(hunk.cut_lines)
    total = len(hunk.lines)
    # "No newline at end of file" belongs to the piece holding that side's last line, which
    # need not be the last piece (a deletion followed by many insertions, say).
    last_old = max((k for k, line in enumerate(hunk.lines) if line[0] in " -"), default=-1)
    last_new = max((k for k, line in enumerate(hunk.lines) if line[0] in " +"), default=-1)
    while start < total:
        size = HUNK_FRAMING
        end = start
        while end < total and (
            end == start or size + len(json.dumps(hunk.lines[end])) + 1 <= PIECE_BYTES
        ):
            size += len(json.dumps(hunk.lines[end])) + 1
            end += 1
        chunk = hunk.lines[start:end]
        n_old = sum(1 for line in chunk if line[0] in " -")
        n_new = sum(1 for line in chunk if line[0] in " +")
        pieces.append(
            Hunk(
                old_start=old_pos if n_old else old_pos - 1,
                old_lines=n_old,
                new_start=new_pos if n_new else new_pos - 1,
                new_lines=n_new,
                lines=chunk,
                no_newline_old=hunk.no_newline_old and start <= last_old < end,
                no_newline_new=hunk.no_newline_new and start <= last_new < end,
                cut_lines=tuple(k - start for k in range(start, end) if k in cut),
            )
        )
        old_pos += n_old
        new_pos += n_new
        start = end
    return pieces


def apply_hunks(old: bytes, hunks: list[Hunk]) -> bytes:
    """Apply hunks to ``old`` and return the new content (the inverse of :func:`diff_bytes`).

    Used by tests and clients to check round trips; raises ValueError when a hunk's context
    does not match.
    """
    a = split_lines(old)
    out: list[bytes] = []
    pos = 0  # next unconsumed old line (0-based)
    for h in hunks:
        start = h.old_start - 1 if h.old_lines else h.old_start
        if start < pos:
            raise ValueError("hunks overlap or are out of order")
        out.extend(a[pos:start])
        pos = start
        n = len(h.lines)
        for k, line in enumerate(h.lines):
            tag, body = line[0], line[1:].encode("utf-8", "surrogateescape")
            is_last_old = h.no_newline_old and k == max(
                (m for m in range(n) if h.lines[m][0] in " -"), default=-1
            )
            is_last_new = h.no_newline_new and k == max(
                (m for m in range(n) if h.lines[m][0] in " +"), default=-1
            )
            if tag in " -":
                expect = body + (b"" if is_last_old else b"\n")
                if pos >= len(a) or a[pos] != expect:
                    raise ValueError(f"context mismatch at old line {pos + 1}")
                pos += 1
            if tag in " +":
                out.append(body + (b"" if is_last_new else b"\n"))
    out.extend(a[pos:])
    return b"".join(out)
