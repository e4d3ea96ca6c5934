"""Restore: plan what bringing the worktree back to a snapshot would do, then do it safely.

Store-level, like :mod:`snapd.diff`: paths are ``bytes``, states are
:class:`~snapd.store.history.State`. :mod:`~snapd.restore.plan` decides,
:mod:`~snapd.restore.actions` holds the plan's lines, :mod:`~snapd.restore.apply` writes them
through :mod:`~snapd.restore.fs`'s symlink-proof operations, and :mod:`~snapd.restore.graft`
keeps live content the capture skipped in the safety snapshot. A revert (one step out of the
live files, later edits kept) is planned by :mod:`~snapd.restore.revert` with
:mod:`~snapd.restore.merge`'s three-way merge, and applied as a restore plan.
"""
