"""The ``snapd`` console script: client commands go to the client CLI, the rest to the daemon.

The daemon package never imports this one (issue 14: the two packages must not depend on each
other), so the dispatch lives here, on the client's side of the arrow: ``snapd log``,
``snapd diff``, ... run :func:`snapd_client.cli.main`; ``snapd --help`` and ``snapd help
[COMMAND]`` print the whole tool's help (:mod:`snapd_client.cli.help`: every command on one
line, then the daemon's flags); ``snapd --stdio`` and ``snapd --version`` run
:func:`snapd.cli.main`. ``python -m snapd`` is the daemon alone (how clients start it);
``python -m snapd_client`` is this command.

This module imports only what the chosen side needs: ``snapd --help`` loads no rich, no wire
types and no pygls (a test pins that).
"""

from __future__ import annotations

import sys

CLIENT_COMMANDS = frozenset(
    "snapshot log status diff hunks show explain restore undo gc stats pin unpin daemon".split()
)
"""Subcommands served by the client CLI (clients of the worktree's shared daemon).

Kept here as a literal so ``snapd --stdio`` does not import the client CLI (and rich) to decide;
a test checks it equals ``snapd_client.cli.COMMANDS`` and ``MANAGE``.
"""


HELP_FLAGS = frozenset(("-h", "--help"))


def serves(argv: list[str]) -> bool:
    """Whether ``argv`` runs the daemon (``--stdio``, ``--listen SOCKET``)."""
    return any(arg in ("--stdio", "--listen") or arg.startswith("--listen=") for arg in argv)


def is_client_command(argv: list[str]) -> bool:
    """Whether ``argv`` asks for a client command rather than the daemon."""
    return not serves(argv) and not CLIENT_COMMANDS.isdisjoint(argv)


def wants_help(argv: list[str]) -> bool:
    """Whether ``argv`` asks for the whole tool's help (``snapd help ...``, ``snapd --help``).

    ``snapd CMD --help`` is the command's own (argparse's), and ``snapd --stdio --help`` (or
    ``--listen``) the daemon's alone.
    """
    if argv[:1] == ["help"]:
        return True
    return not is_client_command(argv) and not serves(argv) and not HELP_FLAGS.isdisjoint(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``snapd`` console script."""
    args = sys.argv[1:] if argv is None else argv
    if wants_help(args):
        from snapd_client.cli import help

        return help.main(args[1:] if args[:1] == ["help"] else [])
    if is_client_command(args):
        from snapd_client.cli import main as client_main

        return client_main(args)
    from snapd.cli import main as daemon_main

    return daemon_main(args)
