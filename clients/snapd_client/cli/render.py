"""Text for the terminal: sizes, hunks as unified diff, file headers, ``--stat``, restore plans.

Everything that comes from the worktree (paths, file content, reasons) goes through
:func:`safe`, and styles are passed as ``(text, style)`` pairs or :class:`rich.text.Text`,
never as markup, so nothing in a worktree can drive the terminal. rich is imported by the
functions that build its objects, not here (see :mod:`snapd_client.cli.output`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from snapd import protocol
from snapd_client.cli.fast import hunkable
from snapd_client.cli.text import human, plural, safe
from snapd_client.cli.where import shown

if TYPE_CHECKING:
    from rich.console import Console

    from snapd_client.cli.output import Output


def hunk_header(h: protocol.Hunk) -> str:
    """``@@ -a,b +c,d @@`` as ``diff -u`` writes it (the count is left out when it is 1)."""

    def side(start: int, count: int) -> str:
        return f"{start}" if count == 1 else f"{start},{count}"

    return f"@@ -{side(h.old_start, h.old_lines)} +{side(h.new_start, h.new_lines)} @@"


def hunk_lines(h: protocol.Hunk, *, digest: bool = False) -> list[tuple[str, str]]:
    """The lines of a hunk with their styles, and the ``No newline at end of file`` markers.

    With ``digest``, the header ends with the hunk's digest (what ``restore --hunks`` takes),
    where ``diff -u`` puts a function name: patch tools ignore it.
    """
    marks: set[int] = set()
    for flag, prefixes in ((h.no_newline_old, " -"), (h.no_newline_new, " +")):
        if flag:
            idx = [i for i, line in enumerate(h.lines) if line[:1] in prefixes]
            if idx:
                marks.add(idx[-1])
    cut = set(h.cut_lines or ())
    out = [(f"{hunk_header(h)} {h.digest}" if digest else hunk_header(h), "cyan")]
    for i, line in enumerate(h.lines):
        style = {"+": "green", "-": "red"}.get(line[:1], "")
        out.append((safe(line) + (" [cut]" if i in cut else ""), style))
        if i in marks:
            out.append(("\\ No newline at end of file", "dim"))
    return out


def print_hunk(console: Console, h: protocol.Hunk, *, digest: bool = False) -> None:
    """Print one hunk as unified diff text (control characters escaped, never markup)."""
    from rich.text import Text

    for text, style in hunk_lines(h, digest=digest):
        console.print(Text(text, style=style), highlight=False, soft_wrap=True)


def skip_note(s: protocol.SkipInfo) -> str:
    """``skipped (new side): reason [rule r; evidence]``."""
    ev = f"; {s.evidence}" if s.evidence else ""
    side = {"old": "old side", "new": "new side", "both": "both sides"}.get(s.side.value, "")
    return f"skipped ({side}): {s.reason} [rule {s.rule}{ev}]"


def file_header(f: protocol.FileChange) -> list[tuple[str, str]]:
    """git-like extended header lines of one changed file."""
    path = safe(f.path)
    out = [(f"diff --snapd a/{path} b/{path}", "bold")]
    if f.status is protocol.ChangeStatus.ADDED:
        out.append((f"new {f.kind}, mode {f.new_mode or 0:o}, {human(f.new_size)}", "dim"))
    elif f.status is protocol.ChangeStatus.DELETED:
        out.append((f"deleted {f.kind}, mode {f.old_mode or 0:o}, {human(f.old_size)}", "dim"))
    else:
        mode = (
            f"mode {f.old_mode or 0:o} -> {f.new_mode or 0:o}, " if f.old_mode != f.new_mode else ""
        )
        out.append((f"modified {f.kind}, {mode}{human(f.old_size)} -> {human(f.new_size)}", "dim"))
    if f.skipped is not None:
        out.append((skip_note(f.skipped), "yellow"))
    elif f.binary:
        out.append((f"Binary files a/{path} and b/{path} differ", ""))
    return out


def wants_hunks(f: protocol.FileChange) -> bool:
    """Whether a change can have hunks (captured, not binary, a file or symlink)."""
    return hunkable(f.kind, f.binary, f.skipped is not None)


def diff_paths(f: protocol.FileChange) -> list[tuple[str, str]]:
    """The ``---``/``+++`` lines."""
    path = safe(f.path)
    old = "/dev/null" if f.status is protocol.ChangeStatus.ADDED else f"a/{path}"
    new = "/dev/null" if f.status is protocol.ChangeStatus.DELETED else f"b/{path}"
    return [(f"--- {old}", "bold"), (f"+++ {new}", "bold")]


def action_line(a: protocol.RestoreAction, prefix: str = "") -> list[str | tuple[str, str]]:
    """One plan line: ``write   path   1.0 KiB -> 2.0 KiB``, or ``keep  path  (reason)``.

    Paths are shown relative to ``prefix``, the user's directory inside the root.
    """
    style = {"write": "yellow", "create": "green", "delete": "red", "keep": "dim"}
    parts: list[str | tuple[str, str]] = [
        (f"  {a.action.value:<7} ", style.get(a.action.value, "")),
        safe(shown(a.path, prefix)) + ("/" if a.kind == "dir" else ""),
    ]
    if a.action is protocol.RestoreActionKind.KEEP:
        rule = f" [rule {safe(a.rule)}]" if a.rule else ""
        parts.append((f"  ({safe(a.reason or 'kept')}{rule})", "dim"))
    elif a.action is protocol.RestoreActionKind.DELETE:
        parts.append(f"  {human(a.old_size)}")
    elif a.action is protocol.RestoreActionKind.CREATE:
        parts.append(f"  {human(a.new_size)}")
    else:
        parts.append(f"  {human(a.old_size)} -> {human(a.new_size)}")
    if a.forced:
        parts.append(("  (forced: its current content was never captured: lost for good)", "red"))
    elif a.reason and a.action is not protocol.RestoreActionKind.KEEP:
        parts.append(("  (uncaptured now: the safety snapshot keeps it)", "dim"))
    return parts


def print_applied(
    out: Output,
    *,
    verb: str,
    safety: str | None,
    hint: str,
    cancelled: bool,
    remaining: int,
    not_done: str,
) -> bool:
    """What applying a plan did: its safety snapshot (restoring it is ``hint``), a cancel.

    Returns:
        False when nothing was to be written (no safety snapshot).
    """
    if safety is None:
        out.print("nothing to do")
        return False
    out.print(
        (verb, "bold"),
        ": safety snapshot ",
        (safety[:12], "yellow"),
        (f"  ({hint}: snapd restore {safety[:12]} --apply)", "dim"),
    )
    if cancelled:
        out.print((f"cancelled: {plural(remaining, 'path')} not {not_done}", "yellow"))
    return True


def stats_rows(st: protocol.StatsResult) -> list[tuple[str, str]]:
    """The key/value lines of ``snapd stats``."""
    return [
        ("store size", human(st.store_bytes)),
        (
            "objects",
            f"{st.loose_objects} loose, {st.packed_objects} packed in {plural(st.packs, 'pack')}",
        ),
        ("snapshots", f"{st.snapshots} kept, {st.pinned} pinned"),
        ("captured", f"{human(st.captured_bytes)} over all snapshots"),
        ("unique", f"{human(st.unique_bytes)} of distinct content"),
        ("dedup ratio", f"{st.dedup_ratio:.2f}x"),
    ]
