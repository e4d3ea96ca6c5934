"""The ``snapd`` console script: client commands go to the client CLI, the rest to the daemon.

The daemon package never imports this one (issue 14: the two packages must not depend on each
other), so the dispatch lives here, on the client's side of the arrow: ``snapd log``,
``snapd diff``, ... run :func:`snapd_client.cli.main`; ``snapd --stdio``, ``snapd --version``
and ``snapd --help`` run :func:`snapd.cli.main`. ``python -m snapd`` is the daemon alone (how
clients start it); ``python -m snapd_client`` is this command.
"""

from __future__ import annotations

import sys

CLIENT_COMMANDS = frozenset(
    "snapshot log status diff hunks show explain restore gc stats pin unpin".split()
)
"""Subcommands served by the client CLI (each starts a daemon of its own).

Kept here as a literal so ``snapd --stdio`` does not import the client CLI (and rich) to decide;
a test checks it equals ``snapd_client.cli.COMMANDS``.
"""


def is_client_command(argv: list[str]) -> bool:
    """Whether ``argv`` asks for a client command rather than the daemon."""
    return "--stdio" not in argv and not CLIENT_COMMANDS.isdisjoint(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``snapd`` console script."""
    args = sys.argv[1:] if argv is None else argv
    if is_client_command(args):
        from snapd_client.cli import main as client_main

        return client_main(args)
    from snapd.cli import main as daemon_main

    return daemon_main(args)
