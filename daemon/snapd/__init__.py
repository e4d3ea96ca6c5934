"""snapd: the worktree snapshot daemon.

Layering (lower layers never import higher ones)::

    cli            argument parsing, logging set-up, os.environ (the only module that reads it)
    server         pygls subclass, framing guard, thin async handlers
    session        one served worktree: watcher, snapshot scheduling, notifications, auto gc
    watch          file system events -> a dirty-path set (hints only), cookie sync, git
                   index and info/ as policy inputs
    inotify        our own recursive inotify reader (sees queue overflow and dropped watches)
    protocol       attrs wire types and METHOD_TO_TYPES (no I/O)
    service        request logic: resolve snapshots, page lists, build wire results; the one
                   place library/OS errors become wire errors (map_errors)
    graft          keeps live content a restore replaces but the capture skipped (safety snapshot)
    restore        restore plans and their safe, symlink-proof application (store-level types)
    retention      retention policy, mark/sweep/pack garbage collection (store-level types)
    snapshots      walk the worktree with the capture policy, write a snapshot to the store
    diff / hunks   tree-id-pruned change walks and bounded line diffs (store-level types);
    bigdiff        hunks of files over diffMaxBytes, streamed through a bounded window
    capture        the one exclusion predicate; generated / attributes hold its
                   generated-artifact and .gitattributes rules
    store          dulwich plumbing only: streaming blobs, trees, commits, refs, packs, the lock
    paging, paths  leaf helpers (cursors and page budgets; path validation and encoding;
    fileswap       renameat2 exchange / no-replace renames for restore;
    gitdir         where a worktree's git directory and info/ are)
    config         options and limits (defaults, .snapd.toml, initializationOptions)
    errors         wire error classes (used by every layer above store)

The store knows nothing of JSON-RPC, and the capture policy knows nothing of the store.
"""

from __future__ import annotations

__version__ = "0.1.0"

PROTOCOL_VERSION = "0.2"
"""Wire protocol version returned by ``initialize``; bumped on any breaking wire change."""
