"""Where a command runs: the worktree found as git finds it, and paths as the user types them.

Run from a subdirectory, ``snapd`` serves the worktree that holds it (the nearest directory
with ``.git``, else the nearest with ``.snapd.toml``, else the current directory), never a new
one for the subdirectory. Paths on the command line are relative to the current directory (or
absolute, inside the root) and go to the daemon relative to the root; paths in plans and
``explain`` are shown relative to the current directory, as ``git status`` shows them (diff
headers stay root-relative, as git's do, so ``git apply`` takes them).

Standard library only: it runs before the client loads.
"""

from __future__ import annotations

import argparse
import os
import re

MARKERS = (".git", ".snapd.toml")
"""What makes a directory a worktree root, in order of precedence (as git finds ``.git``)."""

GLOB_SPECIAL = re.compile(r"([\\*?\[\]!#])")
"""Characters a directory name must have escaped to be literal in a gitignore pattern."""


GLOB_CHARS = frozenset("*?[")
"""A path after ``--`` holding one of these, naming nothing in the worktree, is a pattern."""


class PathError(ValueError):
    """A path given on the command line names nothing inside the worktree (a sentence)."""


def find_root(cwd: str) -> str:
    """The worktree that holds ``cwd``: nearest ``.git``, else nearest ``.snapd.toml``, else cwd."""
    for marker in MARKERS:
        here = cwd
        while True:
            if os.path.lexists(os.path.join(here, marker)):
                return here
            parent = os.path.dirname(here)
            if parent == here:
                break
            here = parent
    return cwd


def prefix_of(root: str, cwd: str) -> str:
    """``cwd`` relative to ``root`` (``""``: at the root, or outside it), POSIX separators."""
    real_root, real_cwd = os.path.realpath(root), os.path.realpath(cwd)
    rel = os.path.relpath(real_cwd, real_root)
    if rel == os.curdir or rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return ""
    return rel.replace(os.sep, "/")


def to_root(path: str, root: str, prefix: str) -> str:
    """``path`` as typed (relative to the cwd, or absolute) -> relative to the root (``""``: it).

    Raises:
        PathError: it is outside the worktree.
    """
    if os.path.isabs(path):
        for base in (os.path.abspath(root), os.path.realpath(root)):
            rel = os.path.relpath(os.path.normpath(path), base)
            if not (rel == os.pardir or rel.startswith(os.pardir + os.sep)):
                break
        else:
            raise PathError(f"{path}: outside the worktree {root}")
    else:
        rel = os.path.normpath(os.path.join(prefix, path)) if prefix else os.path.normpath(path)
        if rel == os.pardir or rel.startswith(os.pardir + os.sep):
            raise PathError(f"{path}: outside the worktree {root}")
    rel = rel.replace(os.sep, "/")
    return "" if rel == os.curdir else rel


def pattern_to_root(pattern: str, prefix: str) -> str:
    """A gitignore pattern typed in ``prefix`` -> the same paths named from the root.

    As in a ``.gitignore`` inside that directory: ``*.py`` matches at any depth below it,
    ``a/*.py`` and ``/a`` are anchored to it.
    """
    if not prefix:
        return pattern
    negate, body = ("!", pattern[1:]) if pattern.startswith("!") else ("", pattern)
    base = "/" + GLOB_SPECIAL.sub(r"\\\1", prefix) + "/"
    if "/" not in body.rstrip("/"):
        return f"{negate}{base}**/{body.lstrip('/')}"
    return f"{negate}{base}{body.lstrip('/')}"


def shown(path: str, prefix: str) -> str:
    """A root-relative path as the user standing in ``prefix`` names it (``../x``, ``y``)."""
    if not prefix:
        return path
    return os.path.relpath(path or os.curdir, prefix).replace(os.sep, "/")


def relocate(args: argparse.Namespace, cwd: str) -> None:
    """Find the root (when ``--root`` is not given) and turn the typed paths root-relative.

    Sets ``args.root`` and ``args.prefix`` (the cwd inside the root, ``""`` at it or outside).

    Raises:
        PathError: a path is outside the worktree.
    """
    if args.root is None:
        args.root = find_root(cwd)
    args.prefix = prefix = prefix_of(args.root, cwd)
    root = args.root

    def many(paths: list[str] | None) -> list[str] | None:
        return None if paths is None else [to_root(p, root, prefix) for p in paths]

    if getattr(args, "paths", None) is not None and hasattr(args, "patterns"):
        # diff and restore: one path syntax: a name that exists is literal (app/[id].tsx),
        # else a path with *, ? or [ is a gitignore pattern (src/*/l*.py), as git's pathspecs.
        globs = [p for p in args.paths if _is_glob(p, root, prefix)]
        if globs:
            args.patterns = [*(args.patterns or []), *(pattern_to_root(g, prefix) for g in globs)]
            args.paths = [p for p in args.paths if p not in globs] or None
            args.typed_patterns = globs
    if getattr(args, "paths", None) is not None:
        args.paths = many(args.paths)
        if "" in args.paths:  # the whole worktree
            args.paths = None
            if getattr(args, "patterns", None) is not None:
                args.patterns = None
    if getattr(args, "path", None) is not None:
        args.path = to_root(args.path, root, prefix)
    if getattr(args, "force", None) is not None:
        args.force = many(args.force)
    if getattr(args, "patterns", None) is not None:
        typed = getattr(args, "typed_patterns", [])
        given = args.patterns[: len(args.patterns) - len(typed)]
        args.patterns = [pattern_to_root(p, prefix) for p in given] + args.patterns[len(given) :]
    spec = getattr(args, "hunks", None)
    if spec is not None and ":" in spec:
        path, _, digests = spec.rpartition(":")
        args.hunks = f"{to_root(path, root, prefix)}:{digests}"


def _is_glob(path: str, root: str, prefix: str) -> bool:
    if GLOB_CHARS.isdisjoint(path):
        return False
    try:
        rel = to_root(path, root, prefix)
    except PathError:
        return False  # to_root says why, later
    return not os.path.lexists(os.path.join(root, rel))


def exists(root: str, rel: str) -> bool:
    """Whether the root-relative ``rel`` names something in the live worktree."""
    return os.path.lexists(os.path.join(root, rel))


def no_match(args: argparse.Namespace) -> str:
    """Why a diff restricted to paths or patterns listed nothing (raises if one names nothing).

    Raises:
        PathError: a path names nothing in the worktree and, to the live worktree, nothing at
            FROM either (it would be listed as deleted).
    """
    paths = args.paths or []
    if args.to is None:
        for path in paths:
            if not exists(args.root, path):
                raise PathError(
                    f"{shown(path, args.prefix)}: no such path in the worktree or in {args.from_}"
                )
    named = [shown(p, args.prefix) for p in paths] + list(
        getattr(args, "typed_patterns", None) or args.patterns or []
    )
    return f"no changes under {', '.join(named)}"


def check_hunks_path(args: argparse.Namespace) -> None:
    """Raise when ``hunks PATH`` found no hunks because PATH is a directory or names nothing.

    Raises:
        PathError: PATH is a directory in the worktree, or (to the live worktree) names nothing
            there and nothing at FROM (it would have a deletion's hunks).
    """
    if args.to is not None:
        return
    live = os.path.join(args.root, args.path)
    name = shown(args.path, args.prefix)
    if os.path.isdir(live) and not os.path.islink(live):
        raise PathError(
            f"{name}: a directory: hunks shows one file ('snapd diff -- {name}' lists its changes)"
        )
    if not exists(args.root, args.path):
        raise PathError(f"{name}: no such file in the worktree or in {args.from_}")
