"""``snapd --help`` and ``snapd help [COMMAND]``: every command on one line, as git does.

The whole tool's help lists the client commands (from :data:`~snapd_client.cli.parser.
COMMAND_HELP`), the options they share, and the daemon's flags (from :func:`snapd.cli.parser`,
so the two never drift). ``snapd help CMD`` prints exactly what ``snapd CMD --help`` prints.
Nothing here imports rich, the client or the wire types.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import textwrap

from snapd_client.cli.parser import ALIASES, COMMAND_HELP, build_parser

USAGE = """\
usage: snapd [OPTIONS] COMMAND [ARGS] [-- PATH...]
       snapd --stdio | --listen SOCKET [DAEMON OPTIONS]
       snapd help [COMMAND]"""

DESCRIPTION = (
    "Worktree snapshots: the commands look at, take and restore them. Every client of a "
    "worktree (editors, agents, these commands) shares one daemon, started when none runs "
    "and stopped when idle; editors and agents speak JSON-RPC (LSP framing) with it through "
    "'snapd --stdio'."
)

HELP_LINE = "this list, or one command's options ('snapd help COMMAND')"
"""``help``'s own line in the command list."""


def _options(fmt: argparse.HelpFormatter, title: str, actions: list[argparse.Action]) -> None:
    fmt.start_section(title)
    fmt.add_arguments([a for a in actions if a.help != argparse.SUPPRESS])
    fmt.end_section()


def full_help() -> str:
    """The text of ``snapd --help`` (and ``snapd help``)."""
    from snapd.cli import parser as daemon_parser

    names = {name: [name] for name in COMMAND_HELP}
    for alias, name in ALIASES.items():
        names[name].append(alias)
    rows = [(", ".join(names[name]), line) for name, line in COMMAND_HELP.items()]
    rows.append(("help", HELP_LINE))
    width = max(len(label) for label, _ in rows) + 3
    commands = "\n".join(f"   {label:<{width}}{line}" for label, line in rows)

    client = build_parser()
    shared = [a for a in client._actions if a.option_strings]
    daemon = [a for a in daemon_parser()._actions if a.option_strings and a.dest != "help"]
    fmt = argparse.HelpFormatter("snapd")
    _options(fmt, "options (before or after the command)", shared)
    _options(fmt, "daemon options (with --stdio or --listen)", daemon)
    fmt.add_text("'snapd help COMMAND' or 'snapd COMMAND --help' shows one command's options.")
    width = min(shutil.get_terminal_size().columns - 2, 98)
    # Quoted commands ('snapd --stdio') stay on one line: their spaces are no-break while wrapping.
    glued = re.sub(r"'[^']*'", lambda m: m.group().replace(" ", "\xa0"), DESCRIPTION)
    about = textwrap.fill(glued, width, break_on_hyphens=False).replace("\xa0", " ")
    return f"{USAGE}\n\n{about}\n\ncommands:\n{commands}\n\n{fmt.format_help()}"


def command_help(name: str) -> str | None:
    """``snapd NAME --help``'s text, or None when there is no such command."""
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            parser = action.choices.get(name)
            return parser.format_help() if parser is not None else None
    return None


def main(argv: list[str]) -> int:
    """``snapd help [COMMAND]``: 0, or 2 (one line on stderr) for an unknown command."""
    if not argv or argv == ["help"]:
        sys.stdout.write(full_help())
        return 0
    text = command_help(argv[0]) if len(argv) == 1 else None
    if text is None:
        what = f"no such command '{argv[0]}'" if len(argv) == 1 else "help takes one command"
        print(f"snapd: {what} (see 'snapd --help')", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0
