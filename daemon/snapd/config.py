"""Limits and options: one frozen object from defaults, the CLI and ``initializationOptions``.

Every budget that bounds memory or response size lives here, so "bounded by configuration" has
one place to look.
"""

from __future__ import annotations

from typing import Any

import attrs

KIB = 1024
MIB = 1024 * KIB


def _positive(_inst: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{_camel(attribute.name)} must be a positive integer, got {value!r}")


def _non_negative_float(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{_camel(attribute.name)} must be a number >= 0, got {value!r}")


def _boolean(_inst: object, attribute: attrs.Attribute[bool], value: object) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{_camel(attribute.name)} must be true or false, got {value!r}")


def _positive_float(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"{_camel(attribute.name)} must be a positive number, got {value!r}")


DISABLEABLE_RULES = frozenset(
    {
        "ignore-file",
        "gitattributes",
        "build-dir",
        "build-file",
        "lockfile",
        "generated-name",
        "binary",
        "content-marker",
        "shape",
        "snapshot-budget",
        "new-files-budget",
    }
)
"""Rules a user may switch off (``.git``, special files and the size limit always apply)."""

CONFIG_FILE = ".snapd.toml"
"""The per-worktree configuration file, at the worktree root (same keys as
``initializationOptions``)."""


def _to_tuple(value: Any) -> Any:
    # Lists become tuples; anything else is left for the validator to refuse ("x" is not
    # a list of patterns, even though tuple("x") would happily split it into characters).
    return tuple(value) if isinstance(value, list | tuple) else value


def _patterns(_inst: object, attribute: attrs.Attribute[tuple[str, ...]], value: object) -> None:
    if not isinstance(value, tuple) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{_camel(attribute.name)} must be a list of non-empty pattern strings")


def _rule_names(_inst: object, attribute: attrs.Attribute[tuple[str, ...]], value: object) -> None:
    _patterns(_inst, attribute, value)
    assert isinstance(value, tuple)
    unknown = sorted(set(value) - DISABLEABLE_RULES)
    if unknown:
        raise ValueError(
            f"{_camel(attribute.name)}: unknown or not disableable rule(s) {', '.join(unknown)}; "
            f"choose from {', '.join(sorted(DISABLEABLE_RULES))}"
        )


@attrs.frozen(kw_only=True)
class Options:
    """Daemon options. Wire names (``initializationOptions``) are the camelCase forms."""

    content_limit: int = attrs.field(default=2 * MIB, validator=_positive)
    """Files larger than this many bytes are recorded as metadata only, tracked or not."""

    sniff_bytes: int = attrs.field(default=8000, validator=_positive)
    """Bytes read from the start of a file to detect binary content (git uses 8000 too)."""

    page_bytes: int = attrs.field(
        default=256 * KIB, validator=_positive, metadata={"scope": "connection"}
    )
    """Default byte budget of one paged response's items (JSON-encoded)."""

    max_page_bytes: int = attrs.field(
        default=4 * MIB, validator=_positive, metadata={"scope": "connection"}
    )
    """Upper bound a client may ask for with ``maxBytes``."""

    page_limit: int = attrs.field(
        default=200, validator=_positive, metadata={"scope": "connection"}
    )
    """Default number of items per page when the client sends no ``limit``."""

    max_page_limit: int = attrs.field(
        default=10_000, validator=_positive, metadata={"scope": "connection"}
    )
    """Largest ``limit`` a client may ask for."""

    diff_max_bytes: int = attrs.field(default=2 * MIB, validator=_positive)
    """A side larger than this is never read whole: its hunks are streamed through a window of
    ``diff_window_bytes`` (hunk-level restore refuses it: ``file-too-large``)."""

    diff_window_bytes: int = attrs.field(default=1 * MIB, validator=_positive)
    """Bytes of each side a streamed diff holds at once (up to 8 times this while it looks
    ahead to realign after a large insertion or deletion); another change region larger than
    this is diffed piecewise (``truncated: window``)."""

    diff_max_lines: int = attrs.field(default=200_000, validator=_positive)
    """Only this many lines of each side are diffed; hunks beyond say ``truncated: line-cap``."""

    diff_timeout: float = attrs.field(default=2.0, validator=_positive_float)
    """About how many seconds the line diff may work before it settles for a coarser (still
    exact) edit script; counted as a fixed amount of work, so results never depend on load."""

    max_line_chars: int = attrs.field(default=16 * KIB, validator=_positive)
    """A hunk line longer than this is cut and its index listed in ``cutLines``."""

    max_frame_bytes: int = attrs.field(
        default=16 * MIB, validator=_positive, metadata={"scope": "connection"}
    )
    """Largest accepted request body; a bigger ``Content-Length`` is refused without reading it."""

    watch: bool = attrs.field(default=True, validator=_boolean)
    """Watch the worktree so snapshots list only changed directories (``false``: every
    snapshot walks the tree)."""

    auto_snapshot: bool = attrs.field(default=True, validator=_boolean)
    """Take a snapshot by itself once the worktree has been quiet for ``quietMs``."""

    quiet_ms: int = attrs.field(default=2000, validator=_positive)
    """Quiet period before an automatic snapshot, in milliseconds."""

    reconcile_interval: float = attrs.field(default=600.0, validator=_positive_float)
    """Seconds after which the next snapshot walks the whole tree even if the watcher is fine."""

    sync_timeout_ms: int = attrs.field(default=2000, validator=_positive)
    """How long a snapshot waits for the watcher to catch up before walking the whole tree."""

    notify_interval_ms: int = attrs.field(default=1000, validator=_positive)
    """Least time between two ``snapd/didChange`` notifications."""

    retain_latest: int = attrs.field(default=20, validator=_positive)
    """The newest snapshots retention never drops."""

    retain_count: int = attrs.field(default=1000, validator=_positive)
    """Most unpinned, unlabelled snapshots kept besides the newest ``retainLatest``. A
    restore's safety snapshot counts as unlabelled here."""

    retain_days: float = attrs.field(default=30.0, validator=_positive_float)
    """Unpinned, unlabelled snapshots older than this many days are dropped. A restore's
    safety snapshot counts as unlabelled here."""

    store_budget_bytes: int = attrs.field(default=4 * 1024 * MIB, validator=_positive)
    """Store size that triggers collection; the oldest unprotected snapshots are dropped
    until the store fits (pinned, labelled and the newest are never dropped; a restore's
    safety snapshot is protected only while among the newest ``retainLatest``)."""

    gc_grace_seconds: float = attrs.field(default=3600.0, validator=_non_negative_float)
    """Unreferenced objects younger than this survive a collection (a live diff being paged)."""

    auto_gc: bool = attrs.field(default=True, validator=_boolean)
    """Collect in the background after snapshots when the store is over its budget or the
    retention limits are exceeded."""

    snapshot_byte_budget: int = attrs.field(default=1024 * MIB, validator=_positive)
    """Most bytes of new or changed content one snapshot reads (after the first snapshot);
    files past it are recorded as skipped by rule ``snapshot-budget``."""

    dir_new_file_budget: int = attrs.field(default=2000, validator=_positive)
    """A directory that gained more new entries than this since the previous snapshot is
    recorded as one skipped entry (rule ``new-files-budget``) with the count."""

    force_include: tuple[str, ...] = attrs.field(
        default=(), converter=_to_tuple, validator=_patterns
    )
    """gitignore-syntax patterns always captured (overrides every rule but ``.git``, special
    files and the size limit)."""

    force_exclude: tuple[str, ...] = attrs.field(
        default=(), converter=_to_tuple, validator=_patterns
    )
    """gitignore-syntax patterns never captured (rule ``force-exclude``)."""

    disabled_rules: tuple[str, ...] = attrs.field(
        default=(), converter=_to_tuple, validator=_rule_names
    )
    """Capture rules switched off by name (see ``snapd/explain``'s ``rule``)."""

    allow_broad_root: bool = attrs.field(default=False, validator=_boolean)
    """Serve a worktree root that is ``/`` or the user's home directory (refused by default:
    watching and snapshotting either is almost always a mistake)."""

    idle_timeout: float = attrs.field(default=600.0, validator=_positive_float)
    """Seconds a shared daemon waits with no client connected before it stops (its
    ``--idle-timeout`` or ``$SNAPD_IDLE_TIMEOUT`` wins; a standalone daemon stops with its
    client)."""

    test_restore_delay: float = attrs.field(
        default=0.0, validator=_non_negative_float, metadata={"wire": False}
    )
    """Test only, never on the wire: seconds a restore sleeps after each file it writes or
    deletes, so a test can kill the daemon in the middle of one. Set by the daemon's hidden
    ``--test-restore-delay`` flag; 0 (the default) turns it off."""

    def with_wire(
        self, raw: Any, source: str = "initializationOptions", *, hidden: bool = False
    ) -> Options:
        """Return a copy updated from an options object with camelCase keys.

        The object is ``initializationOptions``, the config file's content or the command
        line's options; only the command line (``hidden``) may set the test-only ones.

        Raises:
            ValueError: ``raw`` is not an object, has an unknown key, or a bad value. The message
                names the source and the key.
        """
        if raw is None:
            return self
        if not isinstance(raw, dict):
            raise ValueError(f"{source} must be an object")
        by_wire = {_camel(f.name): f.name for f in attrs.fields(Options) if hidden or on_wire(f)}
        changes: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in by_wire:
                raise ValueError(f"{source}: unknown option {key!r}")
            if isinstance(value, list):
                value = tuple(value)
            changes[by_wire[key]] = value
        try:
            return attrs.evolve(self, **changes)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{source}: {exc}") from exc

    def with_config_file(self, root: str) -> Options:
        """Return a copy updated from ``<root>/.snapd.toml`` if it exists.

        Raises:
            ValueError: the file is not valid TOML or has unknown keys or bad values.
        """
        import os
        import tomllib

        path = os.path.join(root, CONFIG_FILE)
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            return self
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"{CONFIG_FILE}: {exc}") from exc
        return self.with_wire(data, CONFIG_FILE)


def wire_key(name: str) -> str:
    """An option's wire name (``content_limit`` -> ``contentLimit``)."""
    return _camel(name)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def per_connection(field: attrs.Attribute[Any]) -> bool:
    """Whether an option applies to one connection only (page sizes, the frame limit).

    The others shape the shared history (what is captured, kept and watched), so every client
    of a shared daemon must agree on them.
    """
    return field.metadata.get("scope") == "connection"


def on_wire(field: attrs.Attribute[Any]) -> bool:
    """Whether an option is part of the wire contract (test-only hooks are not)."""
    return bool(field.metadata.get("wire", True))


def wire_option_names() -> dict[str, Any]:
    """Map each option's wire name to its default (used by protocol.md's check)."""
    return {_camel(f.name): f.default for f in attrs.fields(Options) if on_wire(f)}
