"""Diffs between two captured states, bounded in memory.

:mod:`~snapd.diff.changes` walks two trees (and their manifests) in step, pruning equal subtree
ids; :mod:`~snapd.diff.hunks` computes line hunks of files that fit in memory and
:mod:`~snapd.diff.streamed` those of files over ``diffMaxBytes`` through a bounded window;
:mod:`~snapd.diff.files` is the one entry point that picks between them.
"""
