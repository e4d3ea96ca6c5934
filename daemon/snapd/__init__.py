"""snapd: the worktree snapshot daemon.

Layering (lower layers never import higher ones)::

    cli            argument parsing, logging set-up, os.environ (the only module that reads it)
    server         pygls subclass, framing guard, thin async handlers, error translation
    protocol       attrs wire types and METHOD_TO_TYPES (no I/O)
    service        request logic: resolve snapshots, page diffs and hunks, build wire results
    restore        restore plans and their safe, symlink-proof application (store-level types)
    snapshots      walk the worktree with the capture policy, write a snapshot to the store
    diff / hunks   tree-id-pruned change walks and bounded line diffs (store-level types)
    capture        the one exclusion predicate: ignore files, size limit, file kinds, prefix sniff
    store          dulwich plumbing only: streaming blobs, trees, commits, refs, the store lock
    paths, config  leaf helpers (path validation and encoding; limits and options)
    errors         wire error classes (used by every layer above store)

The store knows nothing of JSON-RPC, and the capture policy knows nothing of the store.
"""

from __future__ import annotations

__version__ = "0.1.0"

PROTOCOL_VERSION = "0.1"
"""Wire protocol version returned by ``initialize``; bumped on any breaking wire change."""
