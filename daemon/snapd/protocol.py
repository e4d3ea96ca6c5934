"""Wire types of snapd's ``snapd/*`` methods, lsprotocol-shaped attrs classes.

Attribute names are snake_case here and camelCase on the wire (``from_`` travels as ``from``);
:func:`converter` does the renaming. An optional field left at its default is omitted from
results. ``protocol.md`` documents exactly these classes, and ``tests/test_protocol_doc.py``
checks it against :data:`METHOD_TO_TYPES`.

Paths on the wire are ``str``: see :mod:`snapd.paths` for the encoding of non-UTF-8 names.
"""

from __future__ import annotations

import enum
from typing import Any, Final, Literal

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from lsprotocol import converters as lsp_converters

MsgId = int | str
ProgressToken = int | str

SNAPD_SNAPSHOT: Final = "snapd/snapshot"
SNAPD_SNAPSHOTS: Final = "snapd/snapshots"
SNAPD_STATUS: Final = "snapd/status"
SNAPD_DIFF: Final = "snapd/diff"
SNAPD_HUNKS: Final = "snapd/hunks"
SNAPD_EXPLAIN: Final = "snapd/explain"


class ChangeStatus(enum.StrEnum):
    """How a path differs between the two sides of a diff."""

    ADDED = "added"
    """Present only on the new side."""

    MODIFIED = "modified"
    """Present on both sides with different content, mode, kind or capture state."""

    DELETED = "deleted"
    """Present only on the old side."""


class Outcome(enum.StrEnum):
    """What a snapshot does with a path (``snapd/explain``)."""

    CAPTURED = "captured"
    """Content is stored; diffs show hunks."""

    SKIPPED = "skipped"
    """Only metadata is stored, with the rule that decided it."""


class SkipSide(enum.StrEnum):
    """Which side(s) of a change were not captured."""

    OLD = "old"
    """Only the old side is metadata-only."""

    NEW = "new"
    """Only the new side is metadata-only."""

    BOTH = "both"
    """Neither side's content is stored."""


# -- shared ---------------------------------------------------------------------------------------


@attrs.define(kw_only=True)
class SkipInfo:
    """Why a file's content is not in the snapshot."""

    reason: str
    """Human-readable reason, e.g. ``larger than the content limit``."""

    rule: str
    """Name of the capture rule that decided, e.g. ``size-limit``, ``ignore-file``."""

    side: SkipSide = SkipSide.NEW
    """Which side of the change was skipped (for ``snapd/diff`` and ``snapd/hunks``)."""

    evidence: str | None = None
    """What the rule saw, e.g. ``.gitignore:3: build/`` or ``134217728 bytes > limit 2097152``."""


@attrs.define(kw_only=True)
class SnapshotSummary:
    """One snapshot as ``snapd/snapshots`` lists it."""

    id: str
    """Snapshot id: the 40-hex commit id in the store."""

    time: int
    """Creation time, seconds since the epoch."""

    files: int
    """Captured files (regular files and symlinks)."""

    bytes: int
    """Total bytes of captured files."""

    skipped: int
    """Paths recorded as metadata only."""

    skipped_bytes: int
    """Total bytes of skipped files (directories count 0)."""

    changed: int
    """Paths changed against the parent snapshot (all paths for the first snapshot)."""

    parent: str | None = None
    """The previous snapshot's id; absent for the first snapshot."""

    label: str | None = None
    """The label given to ``snapd/snapshot``."""


# -- snapd/snapshot -------------------------------------------------------------------------------


@attrs.define(kw_only=True)
class SnapshotParams:
    """Take a snapshot of the worktree now."""

    label: str | None = None
    """Free-text label stored with the snapshot (e.g. an agent's step id)."""

    work_done_token: ProgressToken | None = None
    """LSP work-done token: when given, ``$/progress`` begin/report/end are sent for it."""


@attrs.define(kw_only=True)
class SnapshotResult:
    """The snapshot taken (or the unchanged latest one)."""

    id: str
    """Snapshot id."""

    created: bool
    """False when nothing changed since the latest snapshot and no label was given: ``id``
    is then the latest snapshot and no new one was written."""

    time: int
    """Creation time, seconds since the epoch."""

    files: int
    """Captured files."""

    bytes: int
    """Total bytes of captured files."""

    skipped: int
    """Paths recorded as metadata only."""

    skipped_bytes: int
    """Total bytes of skipped files."""

    changed: int
    """Paths changed against the parent snapshot."""

    hashed: int
    """Files read and hashed by this snapshot (the rest were unchanged by their stat data)."""

    rules: dict[str, int] = attrs.field(factory=dict)
    """Skipped paths counted by the rule that skipped them."""

    parent: str | None = None
    """The previous snapshot's id."""

    label: str | None = None
    """The label, if one was given."""


# -- snapd/snapshots ------------------------------------------------------------------------------


@attrs.define(kw_only=True)
class SnapshotsParams:
    """List snapshots, newest first, one page at a time."""

    cursor: str | None = None
    """``nextCursor`` of the previous page; absent for the first page."""

    limit: int | None = None
    """Most items in this page (default ``pageLimit``, at most ``maxPageLimit``)."""

    max_bytes: int | None = None
    """Byte budget of this page's items (default ``pageBytes``, 16384..``maxPageBytes``)."""


@attrs.define(kw_only=True)
class SnapshotsResult:
    """One page of snapshots."""

    snapshots: list[SnapshotSummary]
    """Newest first."""

    next_cursor: str | None = None
    """Pass back as ``cursor`` for the next page; absent on the last page."""


# -- snapd/status ---------------------------------------------------------------------------------


@attrs.define(kw_only=True)
class StatusParams:
    """No parameters."""


@attrs.define(kw_only=True)
class StatusResult:
    """The daemon's state."""

    root: str
    """Absolute path of the worktree."""

    store: str
    """Absolute path of the sidecar store (a bare git repository)."""

    version: str
    """snapd's version."""

    protocol_version: str
    """Wire protocol version (also in ``initialize``'s ``serverInfo``)."""

    content_limit: int
    """Files larger than this many bytes are metadata only."""

    store_bytes: int
    """Disk bytes used by the store."""

    watcher: str
    """Watcher state: ``off`` (snapshots only on request) in this version."""

    cached_files: int
    """Files in the stat cache (known content that need not be re-read)."""

    head: str | None = None
    """The latest snapshot's id; absent before the first snapshot."""


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


@attrs.define(kw_only=True)
class DiffParams:
    """Changed files between a snapshot and another snapshot or the live worktree."""

    from_: str
    """Old side: a snapshot id, a unique id prefix (at least 4 hex digits) or ``latest``."""

    to: str | None = None
    """New side, same forms as ``from``; absent means the live worktree, captured now with the
    same policy as a snapshot (the cursor pins that capture, so later pages are consistent)."""

    paths: list[str] | None = None
    """Only these paths or directories (prefix match on whole components); absent: all."""

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

    cut_lines: list[int] | None = None
    """Indexes into ``lines`` of lines cut at ``maxLineChars``; absent when none was cut."""


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
    """``file-too-large`` (no hunks: a side is over ``diffMaxBytes``), ``line-cap`` (only the
    first ``diffMaxLines`` lines were diffed) or ``time-budget`` (the diff stopped refining at
    ``diffTimeout``: the hunks are exact but may be coarser than minimal)."""

    binary: bool = False
    """Binary content: no hunks."""

    skipped: SkipInfo | None = None
    """A side was not captured: no hunks, only this reason."""


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
    """``captured`` or ``skipped``."""

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


# -- request / response envelopes -----------------------------------------------------------------


@attrs.define(kw_only=True)
class SnapshotRequest:
    """A ``snapd/snapshot`` request message."""

    id: MsgId
    """The request id."""

    params: SnapshotParams
    """The parameters."""

    method: Literal["snapd/snapshot"] = "snapd/snapshot"
    """The method name."""

    jsonrpc: str = "2.0"
    """The JSON-RPC version."""


@attrs.define(kw_only=True)
class SnapshotResponse:
    """A ``snapd/snapshot`` response message."""

    id: MsgId | None
    """The request id."""

    result: SnapshotResult
    """The result."""

    jsonrpc: str = "2.0"
    """The JSON-RPC version."""


@attrs.define(kw_only=True)
class SnapshotsRequest:
    """A ``snapd/snapshots`` request message."""

    id: MsgId
    """The request id."""

    params: SnapshotsParams
    """The parameters."""

    method: Literal["snapd/snapshots"] = "snapd/snapshots"
    """The method name."""

    jsonrpc: str = "2.0"
    """The JSON-RPC version."""


@attrs.define(kw_only=True)
class SnapshotsResponse:
    """A ``snapd/snapshots`` response message."""

    id: MsgId | None
    """The request id."""

    result: SnapshotsResult
    """The result."""

    jsonrpc: str = "2.0"
    """The JSON-RPC version."""


@attrs.define(kw_only=True)
class StatusRequest:
    """A ``snapd/status`` request message."""

    id: MsgId
    """The request id."""

    params: StatusParams
    """The parameters."""

    method: Literal["snapd/status"] = "snapd/status"
    """The method name."""

    jsonrpc: str = "2.0"
    """The JSON-RPC version."""


@attrs.define(kw_only=True)
class StatusResponse:
    """A ``snapd/status`` response message."""

    id: MsgId | None
    """The request id."""

    result: StatusResult
    """The result."""

    jsonrpc: str = "2.0"
    """The JSON-RPC version."""


@attrs.define(kw_only=True)
class DiffRequest:
    """A ``snapd/diff`` request message."""

    id: MsgId
    """The request id."""

    params: DiffParams
    """The parameters."""

    method: Literal["snapd/diff"] = "snapd/diff"
    """The method name."""

    jsonrpc: str = "2.0"
    """The JSON-RPC version."""


@attrs.define(kw_only=True)
class DiffResponse:
    """A ``snapd/diff`` response message."""

    id: MsgId | None
    """The request id."""

    result: DiffResult
    """The result."""

    jsonrpc: str = "2.0"
    """The JSON-RPC version."""


@attrs.define(kw_only=True)
class HunksRequest:
    """A ``snapd/hunks`` request message."""

    id: MsgId
    """The request id."""

    params: HunksParams
    """The parameters."""

    method: Literal["snapd/hunks"] = "snapd/hunks"
    """The method name."""

    jsonrpc: str = "2.0"
    """The JSON-RPC version."""


@attrs.define(kw_only=True)
class HunksResponse:
    """A ``snapd/hunks`` response message."""

    id: MsgId | None
    """The request id."""

    result: HunksResult
    """The result."""

    jsonrpc: str = "2.0"
    """The JSON-RPC version."""


@attrs.define(kw_only=True)
class ExplainRequest:
    """A ``snapd/explain`` request message."""

    id: MsgId
    """The request id."""

    params: ExplainParams
    """The parameters."""

    method: Literal["snapd/explain"] = "snapd/explain"
    """The method name."""

    jsonrpc: str = "2.0"
    """The JSON-RPC version."""


@attrs.define(kw_only=True)
class ExplainResponse:
    """A ``snapd/explain`` response message."""

    id: MsgId | None
    """The request id."""

    result: ExplainResult
    """The result."""

    jsonrpc: str = "2.0"
    """The JSON-RPC version."""


@attrs.frozen
class MethodTypes:
    """The classes of one method."""

    request: type
    response: type
    params: type
    result: type


METHOD_TO_TYPES: Final[dict[str, MethodTypes]] = {
    SNAPD_SNAPSHOT: MethodTypes(SnapshotRequest, SnapshotResponse, SnapshotParams, SnapshotResult),
    SNAPD_SNAPSHOTS: MethodTypes(
        SnapshotsRequest, SnapshotsResponse, SnapshotsParams, SnapshotsResult
    ),
    SNAPD_STATUS: MethodTypes(StatusRequest, StatusResponse, StatusParams, StatusResult),
    SNAPD_DIFF: MethodTypes(DiffRequest, DiffResponse, DiffParams, DiffResult),
    SNAPD_HUNKS: MethodTypes(HunksRequest, HunksResponse, HunksParams, HunksResult),
    SNAPD_EXPLAIN: MethodTypes(ExplainRequest, ExplainResponse, ExplainParams, ExplainResult),
}
"""Every ``snapd/*`` method and its types; the single table the server, the client, the
conformance checks and protocol.md's test read."""

_ALWAYS_SENT: Final = frozenset({"id", "method", "jsonrpc", "result", "params"})


def wire_name(name: str) -> str:
    """snake_case attribute name -> camelCase wire name (``from_`` -> ``from``)."""
    name = name.removesuffix("_")
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def _strict(kind: type) -> Any:
    def hook(value: Any, _type: Any) -> Any:
        # cattrs would coerce "5" to 5 and 1 to True; a wrong JSON type is a client bug.
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError(f"expected an integer, got {type(value).__name__}")
        if kind is bool and not isinstance(value, bool):
            raise TypeError(f"expected a boolean, got {type(value).__name__}")
        if kind is str and not isinstance(value, str):
            raise TypeError(f"expected a string, got {type(value).__name__}")
        return value

    return hook


def _is_exactly(kind: type) -> Any:
    def check(t: Any) -> bool:
        return t is kind

    return check


def converter() -> cattrs.Converter:
    """A cattrs converter for LSP (lsprotocol) and snapd types, with strict scalars."""
    conv = lsp_converters.get_converter()
    for kind in (int, bool, str):
        # Exact-type predicates: a singledispatch hook for str would also catch StrEnum types.
        conv.register_structure_hook_func(_is_exactly(kind), _strict(kind))

    def is_ours(cls: type) -> bool:
        return attrs.has(cls) and cls.__module__ == __name__

    def unstructure(cls: type) -> Any:
        fields = {
            a.name: override(rename=wire_name(a.name), omit_if_default=a.name not in _ALWAYS_SENT)
            for a in attrs.fields(cls)
        }
        return make_dict_unstructure_fn(cls, conv, **fields)  # type: ignore[arg-type]

    def structure(cls: type) -> Any:
        fields = {a.name: override(rename=wire_name(a.name)) for a in attrs.fields(cls)}
        return make_dict_structure_fn(cls, conv, **fields)  # type: ignore[arg-type]

    conv.register_unstructure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, enum.Enum), lambda v: v.value
    )
    conv.register_unstructure_hook_factory(is_ours, unstructure)
    conv.register_structure_hook_factory(is_ours, structure)
    return conv
