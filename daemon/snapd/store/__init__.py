"""The sidecar store: a bare git repository written with dulwich, and nothing else.

Plumbing only: git objects, refs, packs and the store lock (:mod:`~snapd.store.repo`), streaming
writers (:mod:`~snapd.store.writers`), the on-disk layout and lock (:mod:`~snapd.store.layout`),
and its value types and errors. It knows nothing of JSON-RPC, worktrees or capture policies.
"""
