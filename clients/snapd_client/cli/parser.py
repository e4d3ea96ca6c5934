"""The client commands' argument parser (``snapd [OPTIONS] COMMAND [ARGS] [-- PATH...]``).

Imports nothing heavy (no rich, no wire types at import), so ``snapd --help`` and a command's
``--help`` stay fast.
"""

from __future__ import annotations

import argparse
import os
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from snapd import protocol

COMMAND_HELP = {
    "snapshot": "take a snapshot now",
    "log": "list snapshots, newest first",
    "status": "daemon and store state",
    "diff": "changes (FROM defaults to latest, TO to the live worktree)",
    "hunks": "hunks of one file",
    "explain": "why a path is or is not captured",
    "restore": "restore from a snapshot (prints the plan; --apply applies it)",
    "undo": "take one step back out, keeping later edits (prints the plan; --apply applies it)",
    "gc": "apply the retention policy and collect garbage now",
    "stats": "where the store's disk goes",
    "pin": "pin a snapshot (retention never drops it)",
    "unpin": "unpin a snapshot",
    "daemon": "start, stop or show the worktree's shared daemon (start|stop|status)",
}
"""Each command's one line, in the order ``snapd --help`` lists them."""

ALIASES = {"show": "hunks"}
"""Other names of a command."""

NAME_HELP = "a snapshot: its id or a unique id prefix, latest, latest~N, or its label"
"""How a snapshot is named (protocol.md, "Naming snapshots")."""

DIGEST = re.compile("[0-9a-f]{16}")
"""A hunk digest as ``snapd/hunks`` gives it."""


def _common(p: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Options accepted before and after the command (``snapd --json log``, ``snapd log --json``).

    After the command the defaults are suppressed, so they do not override the values given
    before it.
    """

    def d(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    p.add_argument(
        "--root",
        default=d(None),
        help="worktree (default: the nearest directory up from here with .git, else with "
        ".snapd.toml, else the current directory)",
    )
    p.add_argument("--store", default=d(None), help="store directory (default: per worktree)")
    p.add_argument("--json", action="store_true", default=d(False), help="print JSON results")
    p.add_argument(
        "--standalone",
        action="store_true",
        default=d(False),
        help="run a private daemon for this command instead of the worktree's shared one",
    )
    p.add_argument(
        "--no-pager", action="store_true", default=d(False), help="never page the output"
    )
    p.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default=d("auto"),
        help="colour the output (default auto: when stdout is a terminal)",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=d(0),
        help="more daemon logging, for a daemon this command starts (-vv: debug)",
    )
    p.add_argument(
        "--log-file",
        default=d(None),
        help="the daemon's log, for a daemon this command starts (default: the shared daemon's "
        "daemon.log in the store; with --standalone one in the runtime directory; kept)",
    )
    p.add_argument(
        "--content-limit",
        type=float,
        default=d(None),
        metavar="MIB",
        help="files larger than this (MiB) are recorded as metadata only (default 2)",
    )


class _PathsUsage(argparse.HelpFormatter):
    """Usage that ends with ``[-- PATH...]``: the paths :func:`parse_args` cuts off first."""

    def _format_usage(self, *args: Any) -> str:
        usage = super()._format_usage(*args).rstrip("\n")
        return f"{usage} [-- PATH...]\n\n"


PATH_COMMANDS = ("diff", "restore", "undo")
"""The commands that take paths after ``--``."""


def _pattern_option(p: argparse.ArgumentParser, verb: str) -> None:
    p.add_argument(
        "--pattern",
        action="append",
        dest="patterns",
        metavar="PATTERN",
        help=f"{verb} the paths matching this gitignore-syntax pattern, e.g. '*.py' "
        "(repeatable; a path after '--' with * ? or [ that names nothing is one too)",
    )


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of the client commands."""
    p = argparse.ArgumentParser(
        prog="snapd",
        description="Inspect worktree snapshots.",
        epilog="PATH arguments of diff and restore go after '--': snapd diff [FROM [TO]] -- "
        "PATH...",
    )
    _common(p, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _common(common, suppress=True)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")

    def command(name: str, **kw: Any) -> argparse.ArgumentParser:
        aliases = [alias for alias, of in ALIASES.items() if of == name]
        kw.setdefault("description", COMMAND_HELP[name])
        if name in PATH_COMMANDS:
            kw["formatter_class"] = _PathsUsage
        return sub.add_parser(
            name, aliases=aliases, parents=[common], help=COMMAND_HELP[name], **kw
        )

    s = command("snapshot")
    s.add_argument("-m", "--label", help="label stored with the snapshot")
    s.add_argument("--session", metavar="S", help="record it under session S (its steps)")
    lg = command("log")
    lg.add_argument("--session", metavar="S", help="only the snapshots of session S")
    command("status")
    d = command("diff")
    d.add_argument("from_", nargs="?", default="latest", metavar="FROM", help=NAME_HELP)
    d.add_argument("to", nargs="?", metavar="TO", help="the same (default: the live worktree)")
    d.add_argument("--stat", action="store_true", help="a summary per file, as git diff --stat")
    d.add_argument("-U", "--context", type=int, default=3, help="context lines (default 3)")
    _pattern_option(d, "list")
    h = command("hunks")
    h.add_argument("path", metavar="PATH", help="the file, relative to the worktree")
    h.add_argument("--from", dest="from_", default="latest", metavar="FROM", help="default: latest")
    h.add_argument("--to", metavar="TO", help="default: the live worktree")
    h.add_argument("-U", "--context", type=int, default=3, help="context lines (default 3)")
    e = command("explain")
    e.add_argument("path", metavar="PATH", help="relative to the worktree")
    r = command(
        "restore",
        description="Restore the worktree, some paths (after '--'; a name that exists is "
        "literal: 'app/[id].tsx' is that file, else one with * ? [ is a pattern), the paths "
        "matching --pattern, or some hunks of one file "
        "from a snapshot. Without --apply only the plan is printed. Applying takes a safety "
        "snapshot first: restoring it undoes the restore, except for forced paths (--force), "
        "whose content was never captured and is lost for good.",
    )
    r.add_argument("from_", nargs="?", default="latest", metavar="FROM")
    r.add_argument("--apply", action="store_true", help="apply the plan (after printing it)")
    r.add_argument(
        "--force",
        action="append",
        metavar="PATH",
        help="allow overwriting or deleting this path's uncaptured content (repeatable)",
    )
    _pattern_option(r, "restore")
    r.add_argument(
        "--hunks",
        metavar="PATH:DIGEST[,DIGEST...]",
        help="restore only these hunks of PATH, named by the digests 'snapd hunks PATH --from "
        "FROM' shows after each hunk header (a hunk that changed since is refused)",
    )
    r.add_argument("-U", "--context", type=int, default=3, help="context of those hunks")
    u = command(
        "undo",
        description="Take the step a snapshot ended (default: the newest) out of the worktree "
        "and keep every edit made since: each file the step changed is reverted, merged, or "
        "left alone as a conflict. The step is the snapshot and its predecessor (with --session, "
        "the previous snapshot of that session). Without --apply only the plan is printed. "
        "Applying takes a safety snapshot first: restoring it redoes the step.",
    )
    u.add_argument("snapshot", nargs="?", default="latest", metavar="SNAPSHOT", help=NAME_HELP)
    u.add_argument("--session", metavar="S", help="undo the newest step of session S")
    u.add_argument("--apply", action="store_true", help="apply the plan (after printing it)")
    u.add_argument(
        "--markers",
        action="store_true",
        help="write overlapping edits into their files between conflict markers",
    )
    g = command(
        "gc",
        description="Drop the snapshots the retention options (retainLatest, retainCount, "
        "retainDays, storeBudgetBytes) no longer keep, delete unreachable objects and pack the "
        "rest. Pinned and labelled snapshots are never dropped (a restore's safety snapshot "
        "counts as unlabelled once older than the newest retainLatest).",
    )
    g.add_argument(
        "--dry-run",
        action="store_true",
        help="only list the snapshots the count and age limits would drop",
    )
    command("stats")
    for name in ("pin", "unpin"):
        pn = command(name)
        pn.add_argument("id", metavar="ID", help=NAME_HELP)
    dm = command(
        "daemon",
        description="The worktree's shared daemon: the other commands start it when none runs "
        "and it stops by itself when idle. 'start' warms it up, 'stop' stops it now "
        "(it finishes what it writes first), 'status' shows its pid, socket, log and connected "
        "clients with what each is doing (exit status 3 when none runs).",
    )
    dm.add_argument("action", choices=("start", "stop", "status"), metavar="start|stop|status")
    return p


def parse_hunks(spec: str) -> protocol.HunkSelection | None:
    """``PATH:DIGEST[,DIGEST...]`` -> a hunk selection (context filled in later), or None."""
    from snapd import protocol

    path, sep, listed = spec.rpartition(":")
    digests = [d.strip().lower() for d in listed.split(",")]
    if not sep or not path or not all(DIGEST.fullmatch(d) for d in digests):
        return None
    return protocol.HunkSelection(path=path, digests=digests)


def daemon_options(args: argparse.Namespace) -> dict[str, Any] | None:
    """The ``initializationOptions`` the daemon's flags given to the CLI make (None: none)."""
    if args.content_limit is None:
        return None
    return {"contentLimit": max(1, int(args.content_limit * 1024 * 1024))}


def daemon_flags(args: argparse.Namespace) -> list[str]:
    """Command-line flags for a daemon this command starts (``-v``, ``--log-file``)."""
    flags = ["-v"] * args.verbose
    if args.log_file is not None:
        flags += ["--log-file", os.path.abspath(args.log_file)]
    return flags


def root_problem(root: str) -> str | None:
    """Why ``--root`` cannot be a worktree, as a sentence (not an errno); None: it can."""
    if os.path.isdir(root):
        return None
    return f"--root: {'not a directory' if os.path.exists(root) else 'no such directory'}: {root}"


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse ``argv``; paths after ``--`` (``diff`` only) land in ``args.paths``."""
    paths: list[str] | None = None
    if "--" in argv:
        cut = argv.index("--")
        argv, paths = argv[:cut], argv[cut + 1 :]
    parser = build_parser()
    args = parser.parse_args(argv)
    if paths is not None and args.command not in PATH_COMMANDS:
        parser.error("only diff, restore and undo take paths after '--'")
    if args.command == "restore" and args.hunks is not None:
        if paths is not None or args.patterns is not None:
            parser.error("restore takes paths and --pattern, or --hunks, not both")
        if parse_hunks(args.hunks) is None:
            parser.error(
                "--hunks: expected PATH:DIGEST[,DIGEST...] with the 16-digit digests "
                "'snapd hunks PATH' shows, e.g. src/app.py:40bf57a22974a2d9"
            )
    if args.content_limit is not None and not args.content_limit > 0:
        parser.error("--content-limit: must be a positive number of MiB")
    args.paths = paths
    args.prefix = ""  # the cwd inside the root: snapd_client.cli.where.relocate sets it
    return args
