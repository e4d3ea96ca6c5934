"""Wire types of ``snapd/diff``, ``snapd/hunks`` and ``snapd/explain``."""

from __future__ import annotations

import attrs

from snapd.enums import ChangeStatus, Consistency, Outcome
from snapd.protocol.common import GeneratedInfo, SkipInfo

# -- snapd/diff -----------------------------------------------------------------------------------


@attrs.define(kw_only=True)
class FileChange:
    """One changed path."""

    path: str
    """Worktree-relative path (a skipped directory is one entry with ``kind: dir``)."""

    status: ChangeStatus
    """``added``, ``modified`` or ``deleted``."""

    kind: str = "file"
    """``file``, ``symlink``, ``dir`` (skipped directories) or ``special``: the new side's kind,
    or the old side's for a deletion."""

    old_size: int | None = None
    """Old size in bytes; absent when added."""

    new_size: int | None = None
    """New size in bytes; absent when deleted."""

    old_mode: int | None = None
    """Old git mode (e.g. 33188 = 0o100644); absent when added."""

    new_mode: int | None = None
    """New git mode; absent when deleted."""

    binary: bool = False
    """Captured content that looks binary: ``snapd/hunks`` returns no hunks for it."""

    skipped: SkipInfo | None = None
    """Present when a side's content was not captured: metadata only, never hunks."""

    generated: GeneratedInfo | None = None
    """Present when the file is captured but generated: show a summary; fetch hunks only if
    the user asks for this file."""


@attrs.define(kw_only=True)
class DiffParams:
    """Changed files between a snapshot and another snapshot or the live worktree."""

    from_: str
    """Old side: a snapshot name (an id, ``latest``, ``latest~N``, a label or a unique id
    prefix; see "Naming snapshots")."""

    to: str | None = None
    """New side, same forms as ``from``; absent means the live worktree, captured now with the
    same policy as a snapshot (the cursor pins that capture, so later pages are consistent)."""

    paths: list[str] | None = None
    """Only these paths or directories (prefix match on whole components); absent: all."""

    patterns: list[str] | None = None
    """Only paths matching these gitignore-syntax patterns (as restore's ``patterns``); with
    ``paths`` too, a path either selects is listed."""

    cursor: str | None = None
    """``nextCursor`` of the previous page."""

    limit: int | None = None
    """Most items in this page."""

    max_bytes: int | None = None
    """Byte budget of this page's items."""


@attrs.define(kw_only=True)
class DiffResult:
    """One page of changed files, in path order (directories sort as ``name/``)."""

    files: list[FileChange]
    """The changes in this page."""

    next_cursor: str | None = None
    """Pass back as ``cursor`` for the next page; absent on the last page."""

    consistency: Consistency | None = None
    """How the live worktree was read, on the first page of a diff to it (absent otherwise):
    ``exact`` = only the paths the synced watcher saw change since the latest snapshot were
    looked at; ``reconciled`` = the whole tree was walked."""


# -- snapd/hunks ----------------------------------------------------------------------------------


@attrs.define(kw_only=True)
class Hunk:
    """One hunk of a unified diff."""

    old_start: int
    """First old line (1-based; 0 when ``oldLines`` is 0 at the start of the file)."""

    old_lines: int
    """Old lines covered (context and removed)."""

    new_start: int
    """First new line (1-based; 0 when ``newLines`` is 0 at the start of the file)."""

    new_lines: int
    """New lines covered (context and added)."""

    lines: list[str]
    """Each line starts with ``" "``, ``"-"`` or ``"+"`` and has no terminator; a ``\\r``
    before the ``\\n`` stays part of the line."""

    no_newline_old: bool = False
    """The last old-side line of this hunk (``" "`` or ``"-"``) has no final newline."""

    no_newline_new: bool = False
    """The last new-side line of this hunk (``" "`` or ``"+"``) has no final newline."""

    digest: str
    """What this hunk says, as 16 hex digits: name it by this in ``snapd/restore``'s ``hunks``.
    The first 16 hex digits of the SHA-256 of ``"<oldStart> <oldLines> <newLines>
    <noNewlineOld> <noNewlineNew>\\n"`` (decimal, flags as 0 or 1) followed by each line and
    ``\\n``, all as the file's bytes; ``newStart`` is left out (it moves when the file changes
    above the hunk, which does not change what the hunk undoes)."""

    cut_lines: list[int] | None = None
    """Indexes into ``lines`` of lines cut at ``maxLineChars`` (or at 16,128 bytes of JSON);
    absent when none was cut."""


@attrs.define(kw_only=True)
class HunksParams:
    """The hunks of one file's diff, one page at a time."""

    from_: str
    """Old side (as in ``snapd/diff``)."""

    path: str
    """The file, relative to the worktree root."""

    to: str | None = None
    """New side; absent means the live worktree."""

    context: int = 3
    """Context lines around each change (0..1000)."""

    cursor: str | None = None
    """``nextCursor`` of the previous page."""

    limit: int | None = None
    """Most hunks in this page."""

    max_bytes: int | None = None
    """Byte budget of this page's hunks."""


@attrs.define(kw_only=True)
class HunksResult:
    """One page of hunks."""

    hunks: list[Hunk]
    """Hunks in file order; applied in order to the old content they give the new content."""

    next_cursor: str | None = None
    """Pass back as ``cursor`` for the next page; absent on the last page."""

    truncated: bool = False
    """True when a budget stopped the diff: see ``truncatedReason``."""

    truncated_reason: str | None = None
    """``line-cap`` (only the first ``diffMaxLines`` lines were diffed; a change that reaches
    that cut is not listed), ``time-budget`` (the
    diff stopped refining at ``diffTimeout``: exact but maybe coarser than minimal), ``window``
    (a streamed diff split a change region larger than ``diffWindowBytes``: exact, maybe
    coarser) or ``long-line`` (a streamed diff met a changed line longer than the window:
    no more hunks)."""

    binary: bool = False
    """Binary content: no hunks."""

    skipped: SkipInfo | None = None
    """A side was not captured: no hunks, only this reason."""

    generated: GeneratedInfo | None = None
    """The file is generated (hunks are still returned: this request asked for them)."""


# -- snapd/explain --------------------------------------------------------------------------------


@attrs.define(kw_only=True)
class ExplainParams:
    """Ask why a path is or is not captured."""

    path: str
    """Path relative to the worktree root (it need not exist)."""


@attrs.define(kw_only=True)
class ExplainResult:
    """The capture policy's decision for one path, now."""

    path: str
    """The path as normalised by snapd."""

    outcome: Outcome
    """``captured``, ``generated`` or ``skipped``."""

    rule: str
    """The rule that decided (``captured`` when none objected)."""

    reason: str
    """Human-readable sentence."""

    exists: bool
    """Whether the path exists now (a missing path is judged by its name alone)."""

    evidence: str | None = None
    """What the rule saw."""

    kind: str | None = None
    """``file``, ``dir``, ``symlink`` or ``special`` when the path exists."""

    size: int | None = None
    """Size from ``lstat`` when the path exists."""

    binary: bool = False
    """Captured content that looks binary."""

    skipped_ancestor: str | None = None
    """The skipped directory the path lies inside, whose rule decided (``rule``); absent when
    the path is decided by itself."""
