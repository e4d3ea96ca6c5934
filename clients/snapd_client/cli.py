r"""``snapd <command>``: look at snapshots from a terminal, on top of :class:`AsyncClient`.

Each command starts a daemon for the worktree (``--root``, default the current directory),
runs, and stops it.

* Output is coloured when stdout is a terminal and plain otherwise (``--color`` overrides;
  ``NO_COLOR`` is honoured). Nothing from the worktree is ever read as markup, and control
  characters in paths and file content are shown escaped (``\x1b``), never sent to the
  terminal.
* Long output goes through a pager when stdout is a terminal, as git does: ``$PAGER``, else
  ``less -FRX`` (``--no-pager`` turns it off).
* ``snapshot`` shows a progress bar on stderr (driven by ``$/progress``) when stderr is a
  terminal.
* ``--json`` prints machine-readable results, for scripts, on every command.
* Errors are one line, ``snapd: <message>``, on stderr with exit status 1 (130 on Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from snapd import protocol
from snapd_client._client import AsyncClient
from snapd_client._errors import ResponseError, SnapdClientError, TransportClosed

DEFAULT_PAGER = "less -FRX"
PAGED_COMMANDS = frozenset({"log", "status", "diff", "hunks", "show", "explain", "stats"})
DIGEST = re.compile("[0-9a-f]{16}")
"""A hunk digest as ``snapd/hunks`` gives it."""

_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\x1b": "\\x1b"}


def safe(text: str) -> str:
    r"""``text`` made safe for a terminal: control characters and lone surrogates escaped.

    Paths may hold bytes that are not UTF-8 (lone surrogates U+DC80..U+DCFF on the wire): they
    are shown as ``\xNN``, the raw byte. Tabs are kept.
    """

    def one(m: re.Match[str]) -> str:
        ch = m.group()
        code = ord(ch)
        if ch in _NAMED:
            return _NAMED[ch]
        if 0xDC80 <= code <= 0xDCFF:
            return f"\\x{code - 0xDC00:02x}"
        if code >= 0xD800:
            return f"\\u{code:04x}"
        return f"\\x{code:02x}"

    return _UNSAFE.sub(one, text)


def human(n: int | None) -> str:
    """Bytes in human units."""
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def plural(n: int, word: str, words: str | None = None) -> str:
    """``1 file``, ``2 files``."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


# -- argument parsing ----------------------------------------------------------------------------


def _common(p: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Options accepted before and after the command (``snapd --json log``, ``snapd log --json``).

    After the command the defaults are suppressed, so they do not override the values given
    before it.
    """

    def d(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    p.add_argument("--root", default=d("."), help="worktree (default: current directory)")
    p.add_argument("--store", default=d(None), help="store directory (default: per worktree)")
    p.add_argument("--json", action="store_true", default=d(False), help="print JSON results")
    p.add_argument(
        "--no-pager", action="store_true", default=d(False), help="never page the output"
    )
    p.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default=d("auto"),
        help="colour the output (default auto: when stdout is a terminal)",
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
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    s = sub.add_parser("snapshot", parents=[common], help="take a snapshot now")
    s.add_argument("-m", "--label", help="label stored with the snapshot")
    sub.add_parser("log", parents=[common], help="list snapshots, newest first")
    sub.add_parser("status", parents=[common], help="daemon and store state")
    d = sub.add_parser(
        "diff",
        parents=[common],
        help="changes (FROM defaults to latest, TO to the live worktree)",
    )
    d.add_argument("from_", nargs="?", default="latest", metavar="FROM")
    d.add_argument("to", nargs="?", metavar="TO")
    d.add_argument("--stat", action="store_true", help="a summary per file, as git diff --stat")
    d.add_argument("-U", "--context", type=int, default=3, help="context lines (default 3)")
    h = sub.add_parser("hunks", aliases=["show"], parents=[common], help="hunks of one file")
    h.add_argument("path")
    h.add_argument("--from", dest="from_", default="latest")
    h.add_argument("--to")
    h.add_argument("-U", "--context", type=int, default=3)
    e = sub.add_parser("explain", parents=[common], help="why a path is or is not captured")
    e.add_argument("path")
    r = sub.add_parser(
        "restore",
        parents=[common],
        help="restore from a snapshot (prints the plan; --apply applies it)",
        description="Restore the worktree, some paths (after '--'; literal names: "
        "'app/[id].tsx' is that file), the paths matching --pattern, or some hunks of one file "
        "from a snapshot. Without --apply only the plan is printed. Applying takes a safety "
        "snapshot first: restoring it undoes the restore.",
    )
    r.add_argument("from_", nargs="?", default="latest", metavar="FROM")
    r.add_argument("--apply", action="store_true", help="apply the plan (after printing it)")
    r.add_argument(
        "--force",
        action="append",
        metavar="PATH",
        help="allow overwriting or deleting this path's uncaptured content (repeatable)",
    )
    r.add_argument(
        "--pattern",
        action="append",
        dest="patterns",
        metavar="PATTERN",
        help="restore the paths matching this gitignore-syntax pattern, e.g. '*.py' "
        "(repeatable; paths after '--' are never patterns)",
    )
    r.add_argument(
        "--hunks",
        metavar="PATH:DIGEST[,DIGEST...]",
        help="restore only these hunks of PATH, named by the digests 'snapd hunks PATH --from "
        "FROM' shows after each hunk header (a hunk that changed since is refused)",
    )
    r.add_argument("-U", "--context", type=int, default=3, help="context of those hunks")
    g = sub.add_parser(
        "gc",
        parents=[common],
        help="apply the retention policy and collect garbage now",
        description="Drop the snapshots the retention options (retainLatest, retainCount, "
        "retainDays, storeBudgetBytes) no longer keep, delete unreachable objects and pack the "
        "rest. Pinned and labelled snapshots are never dropped.",
    )
    g.add_argument(
        "--dry-run",
        action="store_true",
        help="only list the snapshots the count and age limits would drop",
    )
    sub.add_parser("stats", parents=[common], help="where the store's disk goes")
    for name, verb in (("pin", "pin a snapshot (retention never drops it)"), ("unpin", "unpin")):
        pn = sub.add_parser(name, parents=[common], help=f"{verb} a snapshot")
        pn.add_argument("id", metavar="ID", help="snapshot id, unique prefix or 'latest'")
    return p


def parse_hunks(spec: str) -> protocol.HunkSelection | None:
    """``PATH:DIGEST[,DIGEST...]`` -> a hunk selection (context filled in later), or None."""
    path, sep, listed = spec.rpartition(":")
    digests = [d.strip().lower() for d in listed.split(",")]
    if not sep or not path or not all(DIGEST.fullmatch(d) for d in digests):
        return None
    return protocol.HunkSelection(path=path, digests=digests)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse ``argv``; paths after ``--`` (``diff`` only) land in ``args.paths``."""
    paths: list[str] | None = None
    if "--" in argv:
        cut = argv.index("--")
        argv, paths = argv[:cut], argv[cut + 1 :]
    parser = build_parser()
    args = parser.parse_args(argv)
    if paths is not None and args.command not in ("diff", "restore"):
        parser.error("only diff and restore take paths after '--'")
    if args.command == "restore" and args.hunks is not None:
        if paths is not None or args.patterns is not None:
            parser.error("restore takes paths and --pattern, or --hunks, not both")
        if parse_hunks(args.hunks) is None:
            parser.error(
                "--hunks: expected PATH:DIGEST[,DIGEST...] with the 16-digit digests "
                "'snapd hunks PATH' shows, e.g. src/app.py:40bf57a22974a2d9"
            )
    args.paths = paths
    return args


# -- output: terminal, pipe or pager ---------------------------------------------------------------


def _stdout_is_tty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def pager_command(environ: dict[str, str] | os._Environ[str] | None = None) -> str | None:
    """The pager to use (``$PAGER``, else ``less -FRX``), or None for no pager."""
    env = os.environ if environ is None else environ
    cmd = env.get("PAGER", DEFAULT_PAGER).strip()
    if not cmd or cmd == "cat":
        return None
    try:
        program = shlex.split(cmd)[0]
    except (ValueError, IndexError):
        return cmd
    if "=" in program or shutil.which(program) is not None:
        return cmd
    return None


class _Console(Console):
    """A Console that lets a broken pipe propagate (rich's default exits with status 1)."""

    def on_broken_pipe(self) -> None:
        """Stop writing and raise, so :func:`main` can leave quietly."""
        self.quiet = True
        raise BrokenPipeError


class Output:
    """Where a command prints: ``console`` (stdout, maybe a pager) and ``err`` (stderr)."""

    def __init__(self, color: str = "auto", *, pager: bool = True) -> None:
        self.color = color
        self.use_pager = pager
        self.console = self._console(file=None)
        self.err = self._console(file=None, stderr=True)
        self._pager: subprocess.Popen[bytes] | None = None
        self._pager_stdin: IO[str] | None = None

    def _console(self, file: IO[str] | None, *, stderr: bool = False) -> Console:
        kw: dict[str, Any] = {}
        if self.color == "always":
            kw["force_terminal"] = True
        elif self.color == "never":
            kw["color_system"] = None
        return _Console(
            file=file,
            stderr=stderr,
            soft_wrap=True,
            highlight=False,
            markup=False,
            emoji=False,
            **kw,
        )

    @property
    def paging(self) -> bool:
        """Whether output goes to a pager."""
        return self._pager is not None

    def start_pager(self) -> None:
        """Send stdout through the pager when stdout is a terminal (call once, before output)."""
        if self._pager is not None or not self.use_pager or not _stdout_is_tty():
            return
        cmd = pager_command()
        if cmd is None:
            return
        env = dict(os.environ)
        env.setdefault("LESS", "FRX")
        env.setdefault("LV", "-c")
        colored = self.console.is_terminal and self.color != "never"
        width = self.console.width
        try:
            self._pager = subprocess.Popen(cmd, shell=True, stdin=subprocess.PIPE, env=env)
        except OSError:
            return
        assert self._pager.stdin is not None
        self._pager_stdin = io.TextIOWrapper(
            self._pager.stdin, encoding="utf-8", errors="replace", write_through=True
        )
        self.console = _Console(
            file=self._pager_stdin,
            soft_wrap=True,
            highlight=False,
            markup=False,
            emoji=False,
            force_terminal=colored,
            color_system=self.console.color_system if colored else None,  # type: ignore[arg-type]
            width=width,
        )

    def close(self) -> None:
        """Wait for the pager (if any) to finish."""
        if self._pager is None:
            return
        with contextlib.suppress(OSError, ValueError):
            assert self._pager_stdin is not None
            self._pager_stdin.close()
        with contextlib.suppress(KeyboardInterrupt):
            self._pager.wait()
        self._pager = None

    def print(self, *parts: str | Text | tuple[str, str]) -> None:
        """Print one line assembled from plain strings, ``(text, style)`` pairs or ``Text``."""
        self.console.print(Text.assemble(*parts), end="\n")

    def json(self, obj: Any) -> None:
        """Print a JSON document (always plain)."""
        self.console.file.write(json.dumps(obj, indent=2) + "\n")
        self.console.file.flush()


# -- rendering -----------------------------------------------------------------------------------


def hunk_header(h: protocol.Hunk) -> str:
    """``@@ -a,b +c,d @@`` as ``diff -u`` writes it (the count is left out when it is 1)."""

    def side(start: int, count: int) -> str:
        return f"{start}" if count == 1 else f"{start},{count}"

    return f"@@ -{side(h.old_start, h.old_lines)} +{side(h.new_start, h.new_lines)} @@"


def hunk_lines(h: protocol.Hunk, *, digest: bool = False) -> list[tuple[str, str]]:
    """The lines of a hunk with their styles, and the ``No newline at end of file`` markers.

    With ``digest``, the header ends with the hunk's digest (what ``restore --hunks`` takes),
    where ``diff -u`` puts a function name: patch tools ignore it.
    """
    marks: set[int] = set()
    for flag, prefixes in ((h.no_newline_old, " -"), (h.no_newline_new, " +")):
        if flag:
            idx = [i for i, line in enumerate(h.lines) if line[:1] in prefixes]
            if idx:
                marks.add(idx[-1])
    cut = set(h.cut_lines or ())
    out = [(f"{hunk_header(h)} {h.digest}" if digest else hunk_header(h), "cyan")]
    for i, line in enumerate(h.lines):
        style = {"+": "green", "-": "red"}.get(line[:1], "")
        out.append((safe(line) + (" [cut]" if i in cut else ""), style))
        if i in marks:
            out.append(("\\ No newline at end of file", "dim"))
    return out


def print_hunk(console: Console, h: protocol.Hunk, *, digest: bool = False) -> None:
    """Print one hunk as unified diff text (control characters escaped, never markup)."""
    for text, style in hunk_lines(h, digest=digest):
        console.print(Text(text, style=style), highlight=False, soft_wrap=True)


def skip_note(s: protocol.SkipInfo) -> str:
    """``skipped (new side): reason [rule r; evidence]``."""
    ev = f"; {s.evidence}" if s.evidence else ""
    side = {"old": "old side", "new": "new side", "both": "both sides"}.get(s.side.value, "")
    return f"skipped ({side}): {s.reason} [rule {s.rule}{ev}]"


def file_header(f: protocol.FileChange) -> list[tuple[str, str]]:
    """git-like extended header lines of one changed file."""
    path = safe(f.path)
    out = [(f"diff --snapd a/{path} b/{path}", "bold")]
    if f.status is protocol.ChangeStatus.ADDED:
        out.append((f"new {f.kind}, mode {f.new_mode or 0:o}, {human(f.new_size)}", "dim"))
    elif f.status is protocol.ChangeStatus.DELETED:
        out.append((f"deleted {f.kind}, mode {f.old_mode or 0:o}, {human(f.old_size)}", "dim"))
    else:
        mode = (
            f"mode {f.old_mode or 0:o} -> {f.new_mode or 0:o}, " if f.old_mode != f.new_mode else ""
        )
        out.append((f"modified {f.kind}, {mode}{human(f.old_size)} -> {human(f.new_size)}", "dim"))
    if f.skipped is not None:
        out.append((skip_note(f.skipped), "yellow"))
    elif f.binary:
        out.append((f"Binary files a/{path} and b/{path} differ", ""))
    return out


def wants_hunks(f: protocol.FileChange) -> bool:
    """Whether a change can have hunks (captured, not binary, a file or symlink)."""
    return f.skipped is None and not f.binary and f.kind in ("file", "symlink")


def diff_paths(f: protocol.FileChange) -> list[tuple[str, str]]:
    """The ``---``/``+++`` lines."""
    path = safe(f.path)
    old = "/dev/null" if f.status is protocol.ChangeStatus.ADDED else f"a/{path}"
    new = "/dev/null" if f.status is protocol.ChangeStatus.DELETED else f"b/{path}"
    return [(f"--- {old}", "bold"), (f"+++ {new}", "bold")]


def stat_lines(
    rows: Sequence[tuple[protocol.FileChange, int | None, int | None]], width: int
) -> list[Text]:
    """``git diff --stat``: `` path | N ++--`` per file and a summary line."""
    if not rows:
        return []
    names = [safe(f.path) for f, _, _ in rows]
    name_w = max(len(n) for n in names)
    counts = [(i or 0) + (d or 0) for _, i, d in rows]
    count_w = max(len(str(c)) for c in counts)
    graph_w = max(8, width - name_w - count_w - 6)
    biggest = max(counts)
    out: list[Text] = []
    for (f, ins, dels), name in zip(rows, names, strict=True):
        line = Text(f" {name.ljust(name_w)} | ")
        if f.skipped is not None:
            line.append(f"skipped: {f.skipped.reason} [rule {f.skipped.rule}]", style="yellow")
        elif ins is None or dels is None:
            line.append(f"Bin {human(f.old_size or 0)} -> {human(f.new_size or 0)}")
        else:
            total = ins + dels
            plus, minus = ins, dels
            if biggest > graph_w:
                plus = -(-ins * graph_w // biggest) if ins else 0
                minus = -(-dels * graph_w // biggest) if dels else 0
            line.append(f"{str(total).rjust(count_w)} ")
            line.append("+" * plus, style="green")
            line.append("-" * minus, style="red")
        out.append(line)
    ins_total = sum(i or 0 for _, i, _ in rows)
    del_total = sum(d or 0 for _, _, d in rows)
    summary = f" {plural(len(rows), 'file')} changed"
    if ins_total or not del_total:
        summary += f", {plural(ins_total, 'insertion')}(+)"
    if del_total or not ins_total:
        summary += f", {plural(del_total, 'deletion')}(-)"
    out.append(Text(summary))
    return out


# -- commands ------------------------------------------------------------------------------------


def _progress(out: Output) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TimeElapsedColumn(),
        console=out.err,
        transient=True,
    )


async def cmd_snapshot(client: AsyncClient, args: argparse.Namespace, out: Output) -> None:
    """``snapd snapshot [-m LABEL]``."""
    if out.err.is_terminal:
        with _progress(out) as bar:
            task = bar.add_task("snapshot", total=None)

            def on_progress(value: dict[str, Any]) -> None:
                text = value.get("message") or value.get("title")
                if isinstance(text, str):
                    bar.update(task, description=safe(text))

            snap = await client.snapshot(args.label, on_progress=on_progress)
    else:
        snap = await client.snapshot(args.label)
    if args.json:
        out.json(protocol.converter().unstructure(snap))
        return
    verb = "snapshot" if snap.created else "unchanged, latest snapshot is"
    label = f'  "{safe(snap.label)}"' if snap.label else ""
    out.print((verb, "bold"), " ", (snap.id[:12], "yellow"), label)
    out.print(
        f"  files {snap.files} ({human(snap.bytes)}), changed {snap.changed}, hashed {snap.hashed}"
    )
    if snap.skipped:
        rules = ", ".join(f"{safe(r)} {n}" for r, n in sorted(snap.rules.items()))
        out.print(
            f"  skipped {snap.skipped} ({human(snap.skipped_bytes)})",
            (f": {rules}" if rules else ""),
            ("  (snapd explain PATH says why)", "dim"),
        )


async def cmd_log(client: AsyncClient, args: argparse.Namespace, out: Output) -> None:
    """``snapd log``."""
    conv = protocol.converter()
    items: list[protocol.SnapshotSummary] = []
    warnings: dict[str, None] = {}
    cursor: str | None = None
    while True:
        page = await client.snapshots(cursor=cursor)
        items += page.snapshots
        warnings.update(dict.fromkeys(page.warnings or []))
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    for warning in warnings:  # a damaged ref: the history shown is missing that snapshot
        out.err.print(Text(f"snapd: warning: {safe(warning)}"), highlight=False)
    if args.json:
        out.json([conv.unstructure(s) for s in items])
        return
    out.start_pager()
    for s in items:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.time))
        out.print(
            (s.id[:12], "yellow"),
            f"  {when}  files {s.files} ({human(s.bytes)})  changed {s.changed}  "
            f"skipped {s.skipped} ({human(s.skipped_bytes)})",
            ("  " + safe(s.label), "bold") if s.label else "",
        )


async def cmd_status(client: AsyncClient, args: argparse.Namespace, out: Output) -> None:
    """``snapd status``."""
    st = await client.status()
    if args.json:
        out.json(protocol.converter().unstructure(st))
        return
    out.start_pager()
    rows = [
        ("root", safe(st.root)),
        ("store", f"{safe(st.store)} ({human(st.store_bytes)})"),
        ("head", st.head or "(no snapshot yet)"),
        ("version", f"{st.version} (protocol {st.protocol_version})"),
        ("content limit", human(st.content_limit)),
        ("cached files", str(st.cached_files)),
        ("watcher", st.watcher + (f" ({st.watcher_reason})" if st.watcher_reason else "")),
    ]
    if st.worktree_error:
        rows.append(("worktree", f"NOT SERVED: {st.worktree_error}"))
    if st.store_error:
        rows.append(("store", f"NOT USABLE: {safe(st.store_error)}"))
    for key, value in rows:
        out.print((f"{key:<14}", "bold"), value)


async def cmd_diff(client: AsyncClient, args: argparse.Namespace, out: Output) -> None:
    """``snapd diff [FROM [TO]] [--stat] [-- PATH...]``."""
    conv = protocol.converter()
    files = [f async for f in client.iter_diff(args.from_, args.to, paths=args.paths)]

    async def hunks_of(f: protocol.FileChange) -> list[protocol.Hunk]:
        return [
            h async for h in client.iter_hunks(args.from_, f.path, args.to, context=args.context)
        ]

    if args.stat:
        rows: list[tuple[protocol.FileChange, int | None, int | None]] = []
        for f in files:
            if not wants_hunks(f):
                rows.append((f, None, None))
                continue
            lines = [line for h in await hunks_of(f) for line in h.lines]
            ins = sum(1 for line in lines if line.startswith("+"))
            dels = sum(1 for line in lines if line.startswith("-"))
            rows.append((f, ins, dels))
        if args.json:
            out.json([{**conv.unstructure(f), "insertions": i, "deletions": d} for f, i, d in rows])
            return
        out.start_pager()
        width = out.console.width if out.console.is_terminal else 80
        for line in stat_lines(rows, width):
            out.console.print(line)
        return
    if args.json:
        docs = []
        for f in files:
            doc = conv.unstructure(f)
            if wants_hunks(f):
                doc["hunks"] = [conv.unstructure(h) for h in await hunks_of(f)]
            docs.append(doc)
        out.json(docs)
        return
    out.start_pager()
    for f in files:
        for text, style in file_header(f):
            out.print((text, style))
        if wants_hunks(f):
            hunks = await hunks_of(f)
            if hunks:
                for text, style in diff_paths(f):
                    out.print((text, style))
            for h in hunks:
                print_hunk(out.console, h)


async def cmd_hunks(client: AsyncClient, args: argparse.Namespace, out: Output) -> None:
    """``snapd hunks PATH [--from REF] [--to REF]``."""
    conv = protocol.converter()
    page = await client.hunks(args.from_, args.path, args.to, context=args.context)
    hunks = list(page.hunks)
    if page.next_cursor is not None:
        hunks = [
            h async for h in client.iter_hunks(args.from_, args.path, args.to, context=args.context)
        ]
    if args.json:
        doc = conv.unstructure(page)
        doc["hunks"] = [conv.unstructure(h) for h in hunks]
        doc.pop("nextCursor", None)
        out.json(doc)
        return
    out.start_pager()
    if page.skipped is not None:
        out.print((skip_note(page.skipped), "yellow"))
    if page.binary:
        out.print("binary content: no hunks")
    if page.truncated:
        out.print((f"truncated: {page.truncated_reason}", "yellow"))
    for h in hunks:
        print_hunk(out.console, h, digest=True)


async def cmd_explain(client: AsyncClient, args: argparse.Namespace, out: Output) -> None:
    """``snapd explain PATH``."""
    res = await client.explain(args.path)
    if args.json:
        out.json(protocol.converter().unstructure(res))
        return
    out.start_pager()
    captured = res.outcome is protocol.Outcome.CAPTURED
    out.print(
        (safe(res.path), "bold"), ": ", (res.outcome.value, "green" if captured else "yellow")
    )
    out.print(("  rule      ", "bold"), safe(res.rule))
    out.print(("  reason    ", "bold"), safe(res.reason))
    if res.evidence:
        out.print(("  evidence  ", "bold"), safe(res.evidence))
    if res.exists:
        size = f", {human(res.size)}" if res.size is not None else ""
        binary = ", binary" if res.binary else ""
        out.print(("  exists    ", "bold"), f"yes ({res.kind or '?'}{size}{binary})")
    else:
        out.print(("  exists    ", "bold"), "no (judged by its name)")


def action_line(a: protocol.RestoreAction) -> list[str | tuple[str, str]]:
    """One plan line: ``write   path   1.0 KiB -> 2.0 KiB``, or ``keep  path  (reason)``."""
    style = {"write": "yellow", "create": "green", "delete": "red", "keep": "dim"}
    parts: list[str | tuple[str, str]] = [
        (f"  {a.action.value:<7} ", style.get(a.action.value, "")),
        safe(a.path) + ("/" if a.kind == "dir" else ""),
    ]
    if a.action is protocol.RestoreActionKind.KEEP:
        rule = f" [rule {safe(a.rule)}]" if a.rule else ""
        parts.append((f"  ({safe(a.reason or 'kept')}{rule})", "dim"))
    elif a.action is protocol.RestoreActionKind.DELETE:
        parts.append(f"  {human(a.old_size)}")
    elif a.action is protocol.RestoreActionKind.CREATE:
        parts.append(f"  {human(a.new_size)}")
    else:
        parts.append(f"  {human(a.old_size)} -> {human(a.new_size)}")
    if a.forced:
        parts.append(("  (forced)", "yellow"))
    elif a.reason and a.action is not protocol.RestoreActionKind.KEEP:
        parts.append(("  (uncaptured now: the safety snapshot keeps it)", "dim"))
    return parts


async def cmd_restore(client: AsyncClient, args: argparse.Namespace, out: Output) -> None:
    """``snapd restore [FROM] [--apply] [--force P].. [--pattern P].. [--hunks ..] [-- PATHS]``.

    Paths after ``--`` are sent as literal ``paths``; ``--pattern`` as ``patterns``.
    """
    conv = protocol.converter()
    hunks = parse_hunks(args.hunks) if args.hunks else None
    if hunks is not None:
        hunks.context = args.context
    scope: dict[str, Any] = {
        "paths": args.paths,
        "patterns": args.patterns,
        "hunks": hunks,
        "force": args.force,
    }
    first = await client.restore(args.from_, **scope)
    plan = [a async for a in client.iter_restore_plan(first, args.from_, **scope)]
    result = first
    if args.apply:
        result = await client.restore(
            args.from_, dry_run=False, plan_token=first.plan_token, **scope
        )
    if args.json:
        doc = conv.unstructure(result)
        doc["plan"] = [conv.unstructure(a) for a in plan]
        doc.pop("nextCursor", None)
        out.json(doc)
        return
    what = "restore" if args.apply else "restore plan (dry run)"
    out.print((what, "bold"), " from ", (safe(args.from_), "yellow"))
    for a in plan:
        out.print(*action_line(a))
    out.print(
        f"{plural(first.written, 'path')} to write, {first.deleted} to delete, {first.kept} kept"
    )
    if not args.apply:
        if first.written or first.deleted:
            out.print(("run again with --apply to apply it", "dim"))
        return
    if result.safety_snapshot is None:
        out.print("nothing to do")
        return
    out.print(
        ("restored", "bold"),
        ": safety snapshot ",
        (result.safety_snapshot[:12], "yellow"),
        (f"  (undo: snapd restore {result.safety_snapshot[:12]} --apply)", "dim"),
    )
    if result.cancelled:
        out.print((f"cancelled: {plural(result.remaining, 'path')} not restored", "yellow"))
    if result.conflicted:
        out.print((f"{plural(result.conflicted, 'path')} left alone:", "yellow"))
        for a in result.conflicts or []:
            out.print(*action_line(a))


async def cmd_gc(client: AsyncClient, args: argparse.Namespace, out: Output) -> None:
    """``snapd gc [--dry-run]``."""
    res = await client.gc(dry_run=args.dry_run)
    if args.json:
        out.json(protocol.converter().unstructure(res))
        return
    if args.dry_run:
        out.print(
            ("gc (dry run)", "bold"),
            f": would drop {plural(len(res.dropped), 'snapshot')}, keep {res.kept}",
        )
    else:
        out.print(
            ("gc", "bold"),
            f": dropped {plural(len(res.dropped), 'snapshot')}, kept {res.kept}; "
            f"store {human(res.bytes_before)} -> {human(res.bytes_after)} "
            f"in {res.seconds:.2f} s",
        )
        out.print(
            f"  {plural(res.loose_removed, 'unreachable object')} removed, "
            f"{res.packed} packed, {plural(res.packs_rewritten, 'pack')} rewritten"
        )
    for snapshot_id in res.dropped:
        out.print(("  drop ", "red"), (snapshot_id[:12], "yellow"))
    if res.over_budget:
        out.print(
            (
                "still over storeBudgetBytes: only pinned, labelled and newest snapshots are left",
                "yellow",
            )
        )


def stats_rows(st: protocol.StatsResult) -> list[tuple[str, str]]:
    """The key/value lines of ``snapd stats``."""
    return [
        ("store size", human(st.store_bytes)),
        (
            "objects",
            f"{st.loose_objects} loose, {st.packed_objects} packed in {plural(st.packs, 'pack')}",
        ),
        ("snapshots", f"{st.snapshots} kept, {st.pinned} pinned"),
        ("captured", f"{human(st.captured_bytes)} over all snapshots"),
        ("unique", f"{human(st.unique_bytes)} of distinct content"),
        ("dedup ratio", f"{st.dedup_ratio:.2f}x"),
    ]


async def cmd_stats(client: AsyncClient, args: argparse.Namespace, out: Output) -> None:
    """``snapd stats``."""
    st = await client.stats()
    if args.json:
        out.json(protocol.converter().unstructure(st))
        return
    out.start_pager()
    for key, value in stats_rows(st):
        out.print((f"{key:<14}", "bold"), value)
    if st.largest_paths:
        out.print(("largest paths", "bold"))
        sizes = [human(p.bytes) for p in st.largest_paths]
        versions = [plural(p.versions, "version") for p in st.largest_paths]
        width = max(len(s) for s in sizes)
        v_width = max(len(v) for v in versions)
        for p, size, v in zip(st.largest_paths, sizes, versions, strict=True):
            out.print(f"  {size.rjust(width)}  ", (f"{v.ljust(v_width)}  ", "dim"), safe(p.path))
    if st.skipped_bytes_by_rule:
        out.print(("skipped bytes by rule (newest snapshot)", "bold"))
        rules = sorted(st.skipped_bytes_by_rule.items(), key=lambda kv: (-kv[1], kv[0]))
        width = max(len(human(n)) for _, n in rules)
        for rule, n in rules:
            out.print(f"  {human(n).rjust(width)}  ", safe(rule))


async def cmd_pin(client: AsyncClient, args: argparse.Namespace, out: Output) -> None:
    """``snapd pin ID`` and ``snapd unpin ID``."""
    res = await client.pin(args.id, pinned=args.command == "pin")
    if args.json:
        out.json(protocol.converter().unstructure(res))
        return
    out.print(("pinned" if res.pinned else "unpinned", "bold"), " ", (res.id[:12], "yellow"))


COMMANDS = {
    "snapshot": cmd_snapshot,
    "log": cmd_log,
    "status": cmd_status,
    "diff": cmd_diff,
    "hunks": cmd_hunks,
    "show": cmd_hunks,
    "explain": cmd_explain,
    "restore": cmd_restore,
    "gc": cmd_gc,
    "stats": cmd_stats,
    "pin": cmd_pin,
    "unpin": cmd_pin,
}


def _log_tail(path: Path) -> str | None:
    with contextlib.suppress(OSError):
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
        if lines:
            return lines[-1]
    return None


async def run(args: argparse.Namespace, out: Output) -> int:
    """Run one command against a freshly spawned daemon."""
    with tempfile.TemporaryDirectory(prefix="snapd-cli-") as log_dir:
        log = Path(log_dir) / "snapd.log"
        extra = ["--store", args.store] if args.store else []
        try:
            async with await AsyncClient.spawn(args.root, log_file=log, extra_args=extra) as client:
                await COMMANDS[args.command](client, args, out)
        except TransportClosed as exc:
            tail = _log_tail(log)
            raise TransportClosed(f"{exc}: {tail}" if tail else str(exc)) from exc
    return 0


def error_line(exc: BaseException) -> str:
    """One line describing ``exc`` for ``snapd: <line>``."""
    if isinstance(exc, ResponseError):
        text = exc.message
    elif isinstance(exc, SnapdClientError | OSError):
        text = str(exc) or type(exc).__name__
    else:
        text = f"internal error: {type(exc).__name__}: {exc}"
    return " ".join(safe(part) for part in text.splitlines() if part.strip()) or "error"


def main(argv: list[str]) -> int:
    """Entry point for ``snapd <command>`` (called by ``snapd.cli``)."""
    args = parse_args(argv)
    out = Output(args.color, pager=not args.no_pager)
    try:
        return asyncio.run(run(args, out))
    except KeyboardInterrupt:
        out.close()
        print("snapd: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`snapd log | head`, or q in the pager): not an error.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, sys.stdout.fileno())
            finally:
                os.close(devnull)
        return 0 if out.paging else 141
    except Exception as exc:
        out.close()
        print(f"snapd: {error_line(exc)}", file=sys.stderr)
        return 1
    finally:
        out.close()
