"""Which events the watchfiles fallback passes on (not the store's, not the git directory's)."""

from __future__ import annotations

import os

from watchfiles import Change, DefaultFilter


def _within(path: str, directory: str) -> bool:
    """True if ``path`` is ``directory`` or inside it, by whole path components."""
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


class SnapdFilter(DefaultFilter):
    """Keep every worktree event except ``.git`` internals and the store itself.

    Unlike watchfiles' default, no name patterns (``*.swp``, ``node_modules``, ...) are
    dropped: a file snapd captures must never be filtered out, and events inside skipped
    directories keep their recorded summaries fresh. The store's cookie directory is kept.
    Matching is by whole components of the worktree-relative path: a worktree ``/x/app-web``
    next to a store ``/x/app``, or one below a directory named ``.git``, loses no event.
    """

    ignore_dirs: tuple[str, ...] = (".git",)
    """Directory names whose events are dropped anywhere below the worktree root."""

    ignore_entity_patterns: tuple[str, ...] = ()
    """No file-name patterns are dropped."""

    def __init__(self, root: str, store: str, cookies: str) -> None:
        super().__init__()
        self.root = root
        self.store = store
        self.cookies = cookies

    def __call__(self, change: Change, path: str) -> bool:
        """True for events the watcher should see."""
        if _within(path, self.cookies):
            return True
        if _within(path, self.store) or not _within(path, self.root):
            return False
        rel = os.path.relpath(path, self.root)
        return not any(part in self.ignore_dirs for part in rel.split(os.sep))
