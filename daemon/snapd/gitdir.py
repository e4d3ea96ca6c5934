"""Where a worktree's git metadata lives: its git directory and the ``info`` directory git reads.

A leaf: the capture policy (ignore rules, attributes, the tracked set) and the inotify watcher
both ask it, so they agree on which files are policy inputs.
"""

from __future__ import annotations

import os

__all__ = ["git_dir", "git_info_dir"]


def git_dir(root: bytes) -> bytes | None:
    """The worktree's git directory: ``.git``, or the one a ``.git`` file names.

    A linked worktree or a submodule has a file ``.git`` reading ``gitdir: <path>``. Returns
    None when that file says something else; the directory may not exist.

    Raises:
        OSError: the ``.git`` file cannot be read.
    """
    dotgit = os.path.join(root, b".git")
    if not os.path.isfile(dotgit):
        return dotgit
    with open(dotgit, "rb") as fh:
        line = fh.read(4096).strip()
    if not line.startswith(b"gitdir:"):
        return None
    return os.path.join(root, line[len(b"gitdir:") :].strip())


def git_info_dir(root: bytes) -> bytes:
    """Where git reads ``info/exclude`` and ``info/attributes`` for this worktree.

    That is the common git directory's ``info`` (a linked worktree's git directory names the
    common one in its ``commondir`` file); ``.git/info`` when there is nothing to resolve.
    """
    try:
        gitdir = git_dir(root)
        if gitdir is None:
            return os.path.join(root, b".git", b"info")
        try:
            with open(os.path.join(gitdir, b"commondir"), "rb") as fh:
                common = os.path.join(gitdir, fh.read(4096).strip())
        except FileNotFoundError:
            common = gitdir
    except OSError:
        return os.path.join(root, b".git", b"info")
    return os.path.normpath(os.path.join(common, b"info"))
