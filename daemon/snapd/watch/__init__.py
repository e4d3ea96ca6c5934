"""Watching the worktree: file system events become a dirty-path set (hints only).

:mod:`~snapd.watch.watcher` runs our own recursive inotify reader (:mod:`~snapd.watch.inotify`,
which sees queue overflows and dropped watches) or the watchfiles fallback (filtered by
:mod:`~snapd.watch.filter`), syncs with cookies, and keeps :mod:`~snapd.watch.dirty`'s set.
"""
