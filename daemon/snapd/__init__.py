"""snapd: the worktree snapshot daemon.

Layering (a layer imports only layers below it; ``tests/unit/test_source_rules.py`` pins every
arrow, forbids import cycles and modules over 600 lines)::

    cli            daemon command line, logging set-up, os.environ (the only module that reads it)
    listener       a shared daemon: many connections on a Unix socket, peers of other users
                   refused, stopping when idle
    server         pygls subclass, framing guard, thin async handlers (framing: LSP frame reader;
                   progress: throttled $/progress reports)
    hub            what every connection shares: the session, the clients, notifications
                   to all of them, closing when the last client leaves (or when idle)
    session        one served worktree: watcher, snapshot scheduling, notifications, auto gc
    watch/         watcher (file system events -> the dirty set, hints only; cookie sync; git
                   index and info/ as policy inputs), inotify (our own recursive reader that
                   sees overflows), dirty, filter (the watchfiles fallback's)
    requests/      one function per snapd/* method, wire params -> wire result:
                   snapshots, changes (diff, hunks, explain), restore, revert, upkeep (pin, gc,
                   stats);
                   wire builds every wire type, common.map_errors is the one error translation
    worktree       the domain facade: pinned root, store, writer lock, stat cache; capture,
                   snapshot, resolve, live side (internal types only)
    restore/       plan, actions (the plan's lines), apply, fs (symlink-proof operations),
                   tree, graft (live content a restore replaces but the capture skipped),
                   revert and merge (one step out of the live files: a three-way merge)
    diff/          changes (tree-id-pruned walks, lookup), hunks (bounded line diffs),
                   streamed (files over diffMaxBytes), files (the one per-file entry point)
    capture/       the one exclusion predicate (decision, rules, generated, attributes,
                   policy; they know nothing of the store) and the walk that stores what it
                   keeps (walk, statcache, budget, listing)
    store/         dulwich plumbing only: repo, refs, writers, layout and lock, objects,
                   history (snapshots as commits, manifests), retention (mark/sweep/pack gc)
    protocol/      wire types by concern, the method table, generated envelopes, the converter
                   and typed cursor positions (no I/O)
    errors         wire error classes (requests and above); failures: domain failures (below)
    enums          the shared vocabulary (statuses, outcomes, kinds): no imports at all
    paging, paths, fileswap, gitdir, config    leaf helpers

The store knows nothing of JSON-RPC, the capture policy knows nothing of the store, and nothing
below the request layer builds a wire type or raises a wire error. The client package
(``snapd_client``) imports ``snapd.protocol``; the daemon never imports the client.
"""

from __future__ import annotations

__version__ = "0.1.0"

PROTOCOL_VERSION = "0.2"
"""Wire protocol version returned by ``initialize``; bumped on any breaking wire change."""
