"""Snapshots as commits: their records, manifests and history.

A snapshot is a commit whose tree is exactly the captured worktree (so ``git diff A B``
between two snapshots works), named by its own ref ``refs/snapd/snapshots/<seq>``; the
previous snapshot is named in a ``Snapd-Parent`` trailer, not linked as a commit parent, so
retention can drop any snapshot without rewriting the others. What was *not* captured, and
what was captured but generated, is recorded in two manifests (JSON lines sorted by path
bytes, ``skipped.jsonl`` and ``generated.jsonl``) in the tree of a small root commit that is
the snapshot's only parent: reachable from the ref, so ``git fsck`` and any gc keep them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import IO, Final

import attrs

from snapd.enums import Consistency
from snapd.store.errors import CorruptObject, MissingObject
from snapd.store.objects import MODE_FILE, Entry
from snapd.store.repo import Store

EMPTY_TREE: Final = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


EMPTY_BLOB: Final = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"


MANIFEST_NAME: Final = b"skipped.jsonl"


GENERATED_NAME: Final = b"generated.jsonl"


@attrs.frozen(kw_only=True)
class ManifestEntry:
    """One manifest line: a path skipped (metadata only) or captured but generated, and why."""

    path: bytes
    kind: str
    size: int
    mode: int
    mtime_ns: int
    rule: str
    reason: str
    evidence: str | None = None
    count: int | None = None
    """Entries a skipped directory held, when a budget skipped it."""

    def to_line(self) -> bytes:
        """Serialise as one manifest line."""
        obj = {
            "path": self.path.decode("utf-8", "surrogateescape"),
            "kind": self.kind,
            "size": self.size,
            "mode": self.mode,
            "mtimeNs": self.mtime_ns,
            "rule": self.rule,
            "reason": self.reason,
        }
        if self.evidence is not None:
            obj["evidence"] = self.evidence
        if self.count is not None:
            obj["count"] = self.count
        # ensure_ascii keeps lone surrogates (undecodable names) representable.
        return json.dumps(obj, separators=(",", ":")).encode("ascii") + b"\n"

    @classmethod
    def from_line(cls, line: bytes) -> ManifestEntry:
        """Parse one manifest line."""
        obj = json.loads(line)
        return cls(
            path=obj["path"].encode("utf-8", "surrogateescape"),
            kind=obj["kind"],
            size=obj["size"],
            mode=obj["mode"],
            mtime_ns=obj["mtimeNs"],
            rule=obj["rule"],
            reason=obj["reason"],
            evidence=obj.get("evidence"),
            count=obj.get("count"),
        )

    def same_content(self, other: ManifestEntry) -> bool:
        """Best evidence without content that nothing changed: kind, size, mode and mtime."""
        return (self.kind, self.size, self.mode, self.mtime_ns) == (
            other.kind,
            other.size,
            other.mode,
            other.mtime_ns,
        )


@attrs.frozen
class State:
    """A captured worktree state.

    The tree of captured content, and two manifests (sorted JSON lines): paths skipped
    (metadata only) and captured paths a tool generated.
    """

    tree: str
    manifest: str
    generated: str = EMPTY_BLOB


@attrs.define
class Counts:
    """What a capture saw."""

    files: int = 0
    bytes: int = 0
    skipped: int = 0
    skipped_bytes: int = 0
    hashed: int = 0
    hashed_bytes: int = 0
    rules: dict[str, int] = attrs.Factory(dict)
    """Skipped paths by rule."""
    generated: dict[str, int] = attrs.Factory(dict)
    """Captured-but-generated files by rule."""


@attrs.frozen(kw_only=True)
class SnapshotInfo:
    """A snapshot commit as snapd reads it back."""

    id: str
    parent: str | None
    time: int
    label: str | None
    files: int
    bytes: int
    skipped: int
    skipped_bytes: int
    changed: int
    state: State
    rules: dict[str, int] = attrs.Factory(dict)
    """Skipped paths by rule."""
    generated: dict[str, int] = attrs.Factory(dict)
    """Generated (captured) files by rule."""
    consistency: Consistency = Consistency.RECONCILED
    """``exact`` (watcher-synced incremental capture) or ``reconciled`` (full walk)."""
    auto: bool = False
    """Taken by the daemon after a quiet period rather than on request."""
    client: str | None = None
    """The name of the client that took it (``clientInfo.name``), when it gave one."""
    session: str | None = None
    """The session it was taken for (``snapd/snapshot``'s ``session``), when one was given."""
    seq: int = 0
    """Sequence number of its ref (0 when read without one)."""
    is_snapshot: bool = True
    """False for a commit that is not a snapshot (e.g. a manifest commit)."""
    safety: bool = False
    """A restore's safety snapshot (taken just before the restore wrote anything)."""


TRAILERS: Final = ("Files", "Bytes", "Skipped", "Skipped-Bytes", "Changed")

LEGACY_SAFETY: Final = re.compile(
    "before (restore from [0-9a-f]{12}|revert of [0-9a-f]{12}[.][.][0-9a-f]{12})"
)
"""A safety snapshot's label, for those written before the ``Snapd-Safety`` trailer existed."""


def commit_snapshot(
    store: Store,
    state: State,
    counts: Counts,
    *,
    parent: str | None,
    label: str | None,
    changed: int,
    consistency: Consistency = Consistency.RECONCILED,
    auto: bool = False,
    client: str | None = None,
    safety: bool = False,
    session: str | None = None,
) -> str:
    """Write the snapshot commit (and its manifest commit); the ref is not moved here."""
    meta_tree = store.write_tree(
        [
            Entry(MANIFEST_NAME, MODE_FILE, state.manifest),
            Entry(GENERATED_NAME, MODE_FILE, state.generated),
        ]
    )
    meta = store.write_commit(meta_tree, [], "snapd manifests: skipped and generated files\n")
    values = (counts.files, counts.bytes, counts.skipped, counts.skipped_bytes, changed)
    lines = [label or "snapshot", ""]
    lines += [f"Snapd-{name}: {value}" for name, value in zip(TRAILERS, values, strict=True)]
    lines.append("Snapd-Rules: " + json.dumps(counts.rules, sort_keys=True))
    lines.append("Snapd-Generated: " + json.dumps(counts.generated, sort_keys=True))
    lines.append(f"Snapd-Parent: {parent or 'none'}")
    lines.append(f"Snapd-Consistency: {consistency.value}")
    if auto:
        lines.append("Snapd-Auto: true")
    if safety:
        lines.append("Snapd-Safety: true")
    if label is not None:
        lines.append("Snapd-Label: " + json.dumps(label))
    if client is not None:
        lines.append("Snapd-Client: " + json.dumps(client))
    if session is not None:
        lines.append("Snapd-Session: " + json.dumps(session))
    # The only commit parent is the manifest commit: the previous snapshot is named in a
    # trailer, not linked, so retention can drop any snapshot without rewriting later ones
    # (their ids stay stable) and without a kept snapshot holding older ones alive.
    return store.write_commit(state.tree, [meta], "\n".join(lines) + "\n")


def read_snapshot(store: Store, oid: str) -> SnapshotInfo:
    """Read a snapshot commit written by :func:`commit_snapshot`.

    Raises:
        store.MissingObject: no such commit.
    """
    info = store.read_commit(oid)
    if not info.parents or "\nSnapd-Files: " not in info.message:
        return SnapshotInfo(
            id=oid,
            parent=None,
            time=info.time,
            label=None,
            files=0,
            bytes=0,
            skipped=0,
            skipped_bytes=0,
            changed=0,
            state=State(info.tree, EMPTY_BLOB),
            is_snapshot=False,
        )
    meta = info.parents[-1]
    parent: str | None = None
    meta_entries = {e.name: e.id for e in store.read_tree(store.read_commit(meta).tree)}
    fields: dict[str, int] = {}
    label: str | None = None
    client: str | None = None
    session: str | None = None
    maps: dict[str, dict[str, int]] = {"Rules": {}, "Generated": {}}
    words: dict[str, str] = {}
    for line in info.message.splitlines():
        key, sep, value = line.partition(": ")
        if not sep or not key.startswith("Snapd-"):
            continue
        name = key[len("Snapd-") :]
        if name == "Label":
            label = json.loads(value)
        elif name == "Client":
            client = json.loads(value)
        elif name == "Session":
            session = json.loads(value)
        elif name in maps:
            maps[name] = {str(k): int(v) for k, v in json.loads(value).items()}
        elif name in TRAILERS and value.isdigit():
            fields[name] = int(value)
        elif name in ("Consistency", "Auto", "Safety"):
            words[name] = value.strip()
        elif name == "Parent" and value.strip() != "none":
            parent = value.strip()
    return SnapshotInfo(
        id=oid,
        parent=parent,
        time=info.time,
        label=label,
        files=fields.get("Files", 0),
        bytes=fields.get("Bytes", 0),
        skipped=fields.get("Skipped", 0),
        skipped_bytes=fields.get("Skipped-Bytes", 0),
        changed=fields.get("Changed", 0),
        state=State(
            info.tree,
            meta_entries.get(MANIFEST_NAME, EMPTY_BLOB),
            meta_entries.get(GENERATED_NAME, EMPTY_BLOB),
        ),
        rules=maps["Rules"],
        generated=maps["Generated"],
        consistency=_consistency(words.get("Consistency")),
        auto=words.get("Auto") == "true",
        client=client,
        safety=words.get("Safety") == "true"
        or (label is not None and LEGACY_SAFETY.fullmatch(label) is not None),
        session=session,
    )


def iter_history(store: Store, before_seq: int | None = None) -> Iterator[SnapshotInfo]:
    """Retained snapshots newest first (optionally only those with ``seq < before_seq``).

    A ref whose commit is missing or damaged is skipped and recorded in
    ``store.refs.damaged_refs``: one damaged snapshot must not hide the others.
    """
    for seq, oid in reversed(store.refs.snapshot_refs()):
        if before_seq is not None and seq >= before_seq:
            continue
        try:
            info = read_snapshot(store, oid)
        except MissingObject as exc:
            store.refs.damaged_ref(seq, oid, f"its commit is missing ({exc})")
            continue
        except CorruptObject as exc:
            store.refs.damaged_ref(seq, oid, str(exc))
            continue
        yield attrs.evolve(info, seq=seq)


def iter_manifest(store: Store, manifest: str) -> Iterator[ManifestEntry]:
    """Stream a manifest's entries in path order without loading it whole."""
    for line in manifest_lines(store, manifest):
        yield ManifestEntry.from_line(line)


def manifest_lines(store: Store, manifest: str) -> Iterator[bytes]:
    """The raw lines of a manifest blob, streamed."""
    rest = b""
    for chunk in store.iter_blob(manifest):
        rest += chunk
        *lines, rest = rest.split(b"\n")
        for line in lines:
            if line:
                yield line
    if rest.strip():
        yield rest


class ManifestReader:
    """A manifest's records consumed in walk (sort-key) order, e.g. the parent snapshot's."""

    def __init__(self, store: Store, blob: str) -> None:
        self._records = iter_manifest(store, blob) if blob != EMPTY_BLOB else iter(())
        self._current = next(self._records, None)

    def copy(self, lo: bytes, hi: bytes, out: IO[bytes]) -> int:
        """Drop records before ``lo``; write those in ``[lo, hi)`` to ``out``; return how many.

        Calls come in increasing key order, so one forward pass serves the whole walk.
        """
        copied = 0
        while self._current is not None:
            key = self._current.path + (b"/" if self._current.kind == "dir" else b"")
            if key >= hi:
                break
            if key >= lo:
                out.write(self._current.to_line())
                copied += 1
            self._current = next(self._records, None)
        return copied


def _consistency(word: str | None) -> Consistency:
    """A commit's ``Snapd-Consistency`` trailer (an unknown word reads as a full walk)."""
    try:
        return Consistency(word) if word is not None else Consistency.RECONCILED
    except ValueError:
        return Consistency.RECONCILED
