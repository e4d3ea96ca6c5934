"""The ``snapd <command>`` CLI: rendering helpers, commands over a fake daemon, and end to end."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from snapd import protocol
from snapd_client import AsyncClient, UnknownSnapshot, cli, entry
from tests.client.fakes import FakeDaemon
from tests.client.test_client_unit import SNAPSHOT_RESULT
from tests.helpers import git, write

ANSI = re.compile(r"\x1b\[")


@pytest.fixture(autouse=True)
def plain_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR", "PAGER", "LESS", "COLUMNS"):
        monkeypatch.delenv(key, raising=False)


def hunk(lines: list[str], **kw: Any) -> protocol.Hunk:
    return protocol.Hunk(
        old_start=1, old_lines=1, new_start=1, new_lines=1, lines=lines, digest="0" * 16, **kw
    )


# -- helpers ---------------------------------------------------------------------------------------


def test_human_sizes() -> None:
    assert [cli.human(n) for n in (None, 0, 1023, 1024, 5 * 1024 * 1024, 3 << 40)] == [
        "-",
        "0 B",
        "1023 B",
        "1.0 KiB",
        "5.0 MiB",
        "3072.0 GiB",
    ]


def test_safe_escapes_control_characters_and_raw_bytes() -> None:
    assert cli.safe("a\tb") == "a\tb"
    assert cli.safe("\x1b[31mred") == "\\x1b[31mred"
    assert cli.safe("line\r") == "line\\r"
    assert cli.safe("caf\udcc3") == "caf\\xc3"  # a non-UTF-8 byte from the wire
    assert cli.safe("\x07\x7f\x9b") == "\\x07\\x7f\\x9b"


def test_hunk_lines_mark_missing_final_newlines() -> None:
    h = hunk([" a", "-b", "+c"], no_newline_old=True, no_newline_new=True, cut_lines=[2])
    assert cli.hunk_lines(h) == [
        ("@@ -1 +1 @@", "cyan"),
        (" a", ""),
        ("-b", "red"),
        ("\\ No newline at end of file", "dim"),
        ("+c [cut]", "green"),
        ("\\ No newline at end of file", "dim"),
    ]
    wide = protocol.Hunk(
        old_start=0, old_lines=0, new_start=1, new_lines=2, lines=["+a", "+b"], digest="0" * 16
    )
    assert cli.hunk_header(wide) == "@@ -0,0 +1,2 @@"


def test_print_hunk_never_reads_markup() -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=40)
    cli.print_hunk(console, hunk(["+[bold red]not markup[/] \x1b[2J" + "x" * 80]))
    text = buf.getvalue()
    plain = ANSI.sub("", re.sub(r"\x1b\[[0-9;]*m", "", text))
    assert "[bold red]not markup[/] \\x1b[2J" in plain
    assert "\x1b[2J" not in text
    assert plain.count("\n") == 2  # soft wrap: a long line is not broken


def test_stat_lines_like_git() -> None:
    rows: list[tuple[protocol.FileChange, int | None, int | None]] = [
        (protocol.FileChange(path="src/a.py", status=protocol.ChangeStatus.MODIFIED), 3, 1),
        (protocol.FileChange(path="b", status=protocol.ChangeStatus.ADDED), 1, 0),
        (
            protocol.FileChange(
                path="logo.png", status=protocol.ChangeStatus.ADDED, new_size=2048, binary=True
            ),
            None,
            None,
        ),
        (
            protocol.FileChange(
                path="big.dat",
                status=protocol.ChangeStatus.ADDED,
                skipped=protocol.SkipInfo(
                    reason="larger than the content limit", rule="size-limit"
                ),
            ),
            None,
            None,
        ),
    ]

    def plain(parts: list[str | tuple[str, str]]) -> str:
        return "".join(p if isinstance(p, str) else p[0] for p in parts)

    def raw(
        rows: Sequence[tuple[protocol.FileChange, int | None, int | None]],
    ) -> list[tuple[dict[str, Any], int | None, int | None]]:
        conv = protocol.wire_converter()  # the renderer takes the wire's objects
        return [(conv.unstructure(f), i, d) for f, i, d in rows]

    assert [plain(parts) for parts in cli.stat_lines(raw(rows), 80)] == [
        " src/a.py | 4 +++-",
        " b        | 1 +",
        " logo.png | Bin 0 B -> 2.0 KiB",
        " big.dat  | skipped: larger than the content limit [rule size-limit]",
        " 4 files changed, 4 insertions(+), 1 deletion(-)",
    ]
    many = [(protocol.FileChange(path="x", status=protocol.ChangeStatus.MODIFIED), 500, 500)]
    line = plain(cli.stat_lines(raw(many), 40)[0])
    assert len(line) <= 40 and line.startswith(" x | 1000 +")
    assert cli.stat_lines([], 80) == []


def test_pager_command(monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli.pager_command({"PAGER": "cat"}) is None
    assert cli.pager_command({"PAGER": ""}) is None
    assert cli.pager_command({"PAGER": "no-such-pager-xyz"}) is None
    assert cli.pager_command({"PAGER": "more -s"}) in ("more -s", None)
    if shutil.which("less"):
        assert cli.pager_command({}) == "less -FRX"


def test_options_after_the_command_and_paths_after_dashdash() -> None:
    args = cli.parse_args(["diff", "abcd", "--stat", "--json", "--store", "/s", "--", "src", "x"])
    assert (args.command, args.from_, args.to, args.stat, args.json, args.store) == (
        "diff",
        "abcd",
        None,
        True,
        True,
        "/s",
    )
    assert args.paths == ["src", "x"]
    args = cli.parse_args(["--json", "--root", "/w", "log"])
    assert args.json and args.root == "/w" and args.paths is None and not args.no_pager
    with pytest.raises(SystemExit):
        cli.parse_args(["log", "--", "x"])


def test_error_line_is_one_line() -> None:
    assert cli.error_line(UnknownSnapshot("from: no such snapshot", -31001)) == (
        "from: no such snapshot"
    )
    assert cli.error_line(OSError("disk\nfull")) == "disk full"
    assert cli.error_line(KeyError("x")).startswith("internal error: KeyError")


def test_interrupt_and_unexpected_errors_are_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def interrupted(args: argparse.Namespace, out: cli.Output) -> int:
        raise KeyboardInterrupt

    async def broken(args: argparse.Namespace, out: cli.Output) -> int:
        raise ValueError("bad\nthing")

    monkeypatch.setattr(cli, "run", interrupted)
    assert cli.main(["status"]) == 130
    assert capsys.readouterr().err == "snapd: interrupted\n"
    monkeypatch.setattr(cli, "run", broken)
    assert cli.main(["status"]) == 1
    assert capsys.readouterr().err == "snapd: internal error: ValueError: bad thing\n"


def test_the_fast_path_reports_interrupts_and_errors_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from snapd_client.cli import fast

    def interrupted(args: argparse.Namespace, out: cli.Output) -> int:
        raise KeyboardInterrupt

    def broken(args: argparse.Namespace, out: cli.Output) -> int:
        raise ValueError("bad\nthing")

    monkeypatch.setattr(fast, "run_fast", interrupted)
    assert cli.main(["log"]) == 130
    assert capsys.readouterr().err == "snapd: interrupted\n"
    monkeypatch.setattr(fast, "run_fast", broken)
    assert cli.main(["log"]) == 1
    assert capsys.readouterr().err == "snapd: internal error: ValueError: bad thing\n"


# -- commands over a fake daemon ----------------------------------------------------------------


def ns(**kw: Any) -> argparse.Namespace:
    base = {
        "json": False,
        "label": None,
        "paths": None,
        "patterns": None,
        "prefix": "",
        "to": None,
        "from_": "latest",
        "session": None,
    }
    return argparse.Namespace(**{**base, **kw})


@pytest.mark.asyncio
async def test_snapshot_shows_progress_only_on_a_terminal() -> None:
    fake = FakeDaemon()

    def snapshot(params: Any) -> Any:
        token = params.get("workDoneToken")
        if token is not None:
            for value in (
                {"kind": "begin", "title": "snapshot"},
                {"kind": "report", "message": "500 paths: src/\x1b[31m.py"},
                {"kind": "end", "message": "done"},
            ):
                fake.notify("$/progress", {"token": token, "value": value})
        return {**SNAPSHOT_RESULT, "skipped": 2, "skippedBytes": 4096, "rules": {"size-limit": 2}}

    fake.handlers["snapd/snapshot"] = snapshot
    client = AsyncClient(fake)
    out = cli.Output()
    out.console = Console(file=io.StringIO(), soft_wrap=True)
    await cli.cmd_snapshot(client, ns(label="x"), out)
    assert "workDoneToken" not in fake.requests("snapd/snapshot")[-1]["params"]
    text = out.console.file.getvalue()  # type: ignore[attr-defined]
    assert "snapshot aaaaaaaaaaaa" in text and "skipped 2 (4.0 KiB): size-limit 2" in text

    err = io.StringIO()
    out.err = Console(file=err, force_terminal=True, width=80)
    await cli.cmd_snapshot(client, ns(label="x"), out)
    assert "workDoneToken" in fake.requests("snapd/snapshot")[-1]["params"]
    assert "\x1b[31m.py" not in err.getvalue()
    await client.close()


@pytest.mark.asyncio
async def test_diff_json_includes_hunks() -> None:
    files = [
        {"path": "a.txt", "status": "modified", "oldSize": 2, "newSize": 4},
        {"path": "b.bin", "status": "added", "newSize": 9, "binary": True},
    ]
    hunks = [
        {
            "oldStart": 1,
            "oldLines": 1,
            "newStart": 1,
            "newLines": 1,
            "lines": ["-a", "+b"],
            "digest": "0" * 16,
        }
    ]
    fake = FakeDaemon(
        {"snapd/diff": lambda p: {"files": files}, "snapd/hunks": lambda p: {"hunks": hunks}}
    )
    client = AsyncClient(fake)
    out = cli.Output()
    out.console = Console(file=io.StringIO())
    await cli.cmd_diff(client, ns(json=True, stat=False, context=3), out)
    doc = json.loads(out.console.file.getvalue())  # type: ignore[attr-defined]
    assert doc[0]["hunks"] == hunks and "hunks" not in doc[1]
    assert [r["params"]["path"] for r in fake.requests("snapd/hunks")] == ["a.txt"]
    await client.close()


# -- end to end: a real daemon per command ------------------------------------------------------


@pytest.fixture
def repo(worktree: Path, tmp_path: Path) -> dict[str, Any]:
    write(worktree, ".gitignore", "*.log\n")
    write(worktree, "debug.log", "noise\n")
    write(worktree, "src/markup.txt", "[bold]x[/bold]\n")
    store = tmp_path / "store"
    return {
        "root": worktree,
        "store": store,
        "base": ["--root", str(worktree), "--store", str(store)],
    }


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.e2e
def test_snapshot_log_diff_stat_explain(repo: dict[str, Any], capsys) -> None:
    base = repo["base"]
    code, out, err = run_cli(capsys, *base, "snapshot", "-m", "start")
    assert code == 0, err
    assert out.startswith("snapshot ") and '"start"' in out and "ignore-file 1" in out
    assert not ANSI.search(out + err)

    write(repo["root"], "src/main.txt", "hello\nworld\n")
    write(repo["root"], "src/markup.txt", "[bold]x[/bold]\n[red]y\n")
    code, out, err = run_cli(capsys, *base, "diff")
    assert code == 0, err
    assert not ANSI.search(out)
    assert "diff --snapd a/src/main.txt b/src/main.txt" in out
    assert "--- a/src/main.txt\n+++ b/src/main.txt\n@@ -1 +1,2 @@\n hello\n+world\n" in out
    assert " [bold]x[/bold]\n+[red]y\n" in out  # file content is never markup

    code, out, err = run_cli(capsys, *base, "diff", "--stat")
    assert code == 0, err
    assert out.splitlines() == [
        " src/main.txt   | 1 +",
        " src/markup.txt | 1 +",
        " 2 files changed, 2 insertions(+)",
    ]

    code, out, _ = run_cli(capsys, *base, "diff", "--", "src/main.txt")
    assert "src/markup.txt" not in out and "+world" in out

    code, out, err = run_cli(capsys, *base, "snapshot", "--json")
    second = json.loads(out)
    assert code == 0 and second["created"] and second["changed"] == 2

    code, out, err = run_cli(capsys, *base, "log")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 2
    assert lines[0].startswith(second["id"][:12]) and lines[1].endswith("start")

    code, out, err = run_cli(capsys, *base, "explain", "debug.log")
    assert code == 0
    assert out.splitlines()[0] == "debug.log: skipped"
    assert "rule      ignore-file" in out and ".gitignore:1: *.log" in out

    code, out, err = run_cli(capsys, *base, "hunks", "src/main.txt", "--from", "latest")
    assert code == 0 and out == ""  # nothing changed since the last snapshot


@pytest.mark.e2e
def test_json_on_every_command(repo: dict[str, Any], capsys) -> None:
    base = repo["base"]
    assert run_cli(capsys, *base, "snapshot", "--json")[0] == 0
    write(repo["root"], "src/main.txt", "bye\n")
    for argv in (
        ["log"],
        ["status"],
        ["diff"],
        ["diff", "--stat"],
        ["hunks", "src/main.txt"],
        ["explain", "debug.log"],
        ["snapshot"],
    ):
        code, out, err = run_cli(capsys, *base, "--json", *argv)
        assert code == 0, (argv, err)
        doc = json.loads(out)
        assert doc is not None, argv
    code, out, _ = run_cli(capsys, *base, "diff", "latest", "--json")
    assert json.loads(out) == []  # the last snapshot is the live worktree


@pytest.mark.e2e
def test_pager_gets_the_output_when_stdout_is_a_terminal(
    repo: dict[str, Any], capsys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    base = repo["base"]
    assert run_cli(capsys, *base, "snapshot")[0] == 0
    paged = tmp_path / "paged.txt"
    monkeypatch.setattr(cli.output, "_stdout_is_tty", lambda: True)
    monkeypatch.setenv("PAGER", f"cat > {paged}")
    code, out, err = run_cli(capsys, *base, "--color", "always", "log")
    assert code == 0, err
    assert out == "" and ANSI.search(paged.read_text())
    code, out, err = run_cli(capsys, *base, "log", "--no-pager")
    assert code == 0 and out.count("\n") == 1


@pytest.mark.e2e
def test_unknown_snapshot_is_one_line_and_exit_1(repo: dict[str, Any], capsys) -> None:
    code, out, err = run_cli(capsys, *repo["base"], "diff", "zzzz")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("snapd: ") and "Traceback" not in err


@pytest.mark.e2e
def test_subprocess_errors_without_traceback(repo: dict[str, Any]) -> None:
    cmd = [sys.executable, "-m", "snapd_client", *repo["base"]]
    proc = subprocess.run([*cmd, "diff", "deadbeef"], capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("snapd: ") and proc.stderr.count("\n") == 1
    missing = [sys.executable, "-m", "snapd_client", "--root", str(repo["root"] / "nope"), "log"]
    proc = subprocess.run(missing, capture_output=True, text=True, check=False)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


@pytest.mark.e2e
def test_subprocess_plain_diff_has_no_ansi(repo: dict[str, Any]) -> None:
    cmd = [sys.executable, "-m", "snapd_client", *repo["base"]]
    env = {**os.environ, "TERM": "xterm-256color"}
    subprocess.run([*cmd, "snapshot"], check=True, capture_output=True, env=env)
    write(repo["root"], "src/main.txt", "hello\n\x1b[31mred\n")
    proc = subprocess.run([*cmd, "diff"], capture_output=True, text=True, check=False, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout
    assert "+\\x1b[31mred" in proc.stdout


# -- gc, stats, pin, unpin -----------------------------------------------------------------------

STATS_RESULT = {
    "storeBytes": 118784,
    "looseObjects": 3,
    "packedObjects": 140,
    "packs": 1,
    "snapshots": 17,
    "pinned": 1,
    "capturedBytes": 5 * 1024 * 1024,
    "uniqueBytes": 2 * 1024 * 1024,
    "dedupRatio": 2.5,
    "largestPaths": [
        {"path": "big.txt", "bytes": 2040000, "versions": 17},
        {"path": "src/\x1b[31m.py", "bytes": 900, "versions": 1},
    ],
    "skippedBytesByRule": {"ignore-file": 2048, "size-limit": 234881024},
}


def fake_output() -> cli.Output:
    out = cli.Output()
    out.console = Console(file=io.StringIO(), soft_wrap=True)
    return out


def text_of(out: cli.Output) -> str:
    return out.console.file.getvalue()  # type: ignore[attr-defined,no-any-return]


def test_parse_gc_stats_pin_unpin() -> None:
    args = cli.parse_args(["gc", "--dry-run", "--json"])
    assert (args.command, args.dry_run, args.json) == ("gc", True, True)
    assert cli.parse_args(["gc"]).dry_run is False
    assert cli.parse_args(["stats"]).command == "stats"
    args = cli.parse_args(["pin", "abcd"])
    assert (args.command, args.id) == ("pin", "abcd")
    args = cli.parse_args(["--json", "unpin", "latest"])
    assert (args.command, args.id, args.json) == ("unpin", "latest", True)
    with pytest.raises(SystemExit):
        cli.parse_args(["pin"])
    with pytest.raises(SystemExit):
        cli.parse_args(["stats", "--", "x"])


def test_cli_modules_stay_small() -> None:
    # Issue 14: the 900-line cli.py became a package; keep each module reviewable.
    sizes = {
        p.name: len(p.read_text().splitlines()) for p in Path(cli.__file__).parent.glob("*.py")
    }
    assert {"__init__.py", "commands.py", "output.py", "parser.py", "render.py"} <= set(sizes)
    assert {name: n for name, n in sizes.items() if n > 600} == {}


def test_entry_knows_every_client_command() -> None:
    assert set(cli.COMMANDS) | set(cli.MANAGE) == entry.CLIENT_COMMANDS
    assert {"gc", "stats", "pin", "unpin"} <= entry.CLIENT_COMMANDS


@pytest.mark.asyncio
async def test_stats_table_in_human_units() -> None:
    fake = FakeDaemon({"snapd/stats": lambda p: STATS_RESULT})
    client = AsyncClient(fake)
    out = fake_output()
    await cli.cmd_stats(client, ns(), out)
    assert fake.requests("snapd/stats")[0]["params"] == {}
    lines = text_of(out).splitlines()
    assert lines[:6] == [
        "store size    116.0 KiB",
        "objects       3 loose, 140 packed in 1 pack",
        "snapshots     17 kept, 1 pinned",
        "captured      5.0 MiB over all snapshots",
        "unique        2.0 MiB of distinct content",
        "dedup ratio   2.50x",
    ]
    assert lines[6:] == [
        "largest paths",
        "  1.9 MiB  17 versions  big.txt",
        "    900 B  1 version    src/\\x1b[31m.py",  # control characters escaped
        "skipped bytes by rule (newest snapshot)",
        "  224.0 MiB  size-limit",
        "    2.0 KiB  ignore-file",
    ]

    out = fake_output()
    await cli.cmd_stats(client, ns(json=True), out)
    assert json.loads(text_of(out)) == STATS_RESULT

    empty = {**STATS_RESULT, "largestPaths": [], "skippedBytesByRule": {}}
    fake.handlers["snapd/stats"] = lambda p: empty
    out = fake_output()
    await cli.cmd_stats(client, ns(), out)
    assert len(text_of(out).splitlines()) == 6
    await client.close()


@pytest.mark.asyncio
async def test_gc_dry_run_and_real_run() -> None:
    dropped = ["0c82595cc9ab2eb7907d876c98dba6a07d51d04b"]

    def gc(params: Any) -> Any:
        if params.get("dryRun"):
            return {"dropped": dropped, "kept": 17}
        return {
            "dropped": dropped,
            "kept": 17,
            "looseRemoved": 104,
            "packed": 140,
            "bytesBefore": 1146880,
            "bytesAfter": 118784,
            "seconds": 0.096,
            "overBudget": True,
        }

    fake = FakeDaemon({"snapd/gc": gc})
    client = AsyncClient(fake)
    out = fake_output()
    await cli.cmd_gc(client, ns(dry_run=True), out)
    assert fake.requests("snapd/gc")[-1]["params"] == {"dryRun": True}
    assert text_of(out).splitlines() == [
        "gc (dry run): would drop 1 snapshot, keep 17",
        "  drop 0c82595cc9ab",
    ]

    out = fake_output()
    await cli.cmd_gc(client, ns(dry_run=False), out)
    assert fake.requests("snapd/gc")[-1]["params"].get("dryRun", False) is False
    lines = text_of(out).splitlines()
    assert lines[0] == "gc: dropped 1 snapshot, kept 17; store 1.1 MiB -> 116.0 KiB in 0.10 s"
    assert lines[1] == "  104 unreachable objects removed, 140 packed, 0 packs rewritten"
    assert lines[2] == "  drop 0c82595cc9ab"
    assert lines[3].startswith("still over storeBudgetBytes")

    out = fake_output()
    await cli.cmd_gc(client, ns(dry_run=False, json=True), out)
    doc = json.loads(text_of(out))
    assert doc["dropped"] == dropped and doc["bytesAfter"] == 118784 and doc["overBudget"]
    await client.close()


@pytest.mark.asyncio
async def test_pin_and_unpin_send_pinned() -> None:
    full = "4306f93f99aa11821b25a62c13ae4ac2edd0b3be"
    fake = FakeDaemon({"snapd/pin": lambda p: {"id": full, "pinned": p.get("pinned", True)}})
    client = AsyncClient(fake)
    out = fake_output()
    await cli.cmd_pin(client, ns(command="pin", id="4306f93f"), out)
    await cli.cmd_pin(client, ns(command="unpin", id="4306f93f"), out)
    sent = [r["params"] for r in fake.requests("snapd/pin")]
    assert [(p["id"], p.get("pinned", True)) for p in sent] == [
        ("4306f93f", True),
        ("4306f93f", False),
    ]
    assert text_of(out).splitlines() == ["pinned 4306f93f99aa", "unpinned 4306f93f99aa"]
    out = fake_output()
    await cli.cmd_pin(client, ns(command="pin", id="latest", json=True), out)
    assert json.loads(text_of(out)) == {"id": full, "pinned": True}
    await client.close()


# -- restore --apply over a fake daemon ---------------------------------------------------------


@pytest.mark.asyncio
async def test_restore_apply_sends_the_dry_runs_plan_token() -> None:
    plan = [
        {"path": "a.txt", "action": "write", "oldSize": 10, "newSize": 4},
        {"path": "b.txt", "action": "delete", "oldSize": 2048},
    ]

    def restore(params: Any) -> Any:
        doc: dict[str, Any] = {
            "plan": plan,
            "planToken": "tok-1",
            "applied": False,
            "written": 1,
            "deleted": 1,
            "kept": 0,
        }
        if params.get("dryRun") is False:
            conflict = {"path": "b.txt", "action": "keep", "reason": "it changed meanwhile"}
            doc.update(applied=True, safetySnapshot="f" * 40, conflicted=1, conflicts=[conflict])
        return doc

    fake = FakeDaemon({"snapd/restore": restore})
    client = AsyncClient(fake)
    out = fake_output()
    args = ns(
        apply=True, paths=["a.txt", "b.txt"], patterns=["*.md"], hunks=None, force=None, context=3
    )
    await cli.cmd_restore(client, args, out)
    dry, applied = [r["params"] for r in fake.requests("snapd/restore")]
    assert dry.get("dryRun", True) is True and "planToken" not in dry
    assert applied["dryRun"] is False and applied["planToken"] == "tok-1"
    assert applied["paths"] == dry["paths"] == ["a.txt", "b.txt"]
    assert applied["patterns"] == dry["patterns"] == ["*.md"]
    lines = text_of(out).splitlines()
    assert lines[0] == "restore from latest"
    assert "  write   a.txt  10 B -> 4 B" in lines and "  delete  b.txt  2.0 KiB" in lines
    assert "restored: safety snapshot ffffffffffff" in text_of(out)
    assert "(undo: snapd restore ffffffffffff --apply)" in text_of(out)
    assert lines[-2:] == ["1 path left alone:", "  keep    b.txt  (it changed meanwhile)"]

    out = fake_output()
    await cli.cmd_restore(client, argparse.Namespace(**{**vars(args), "json": True}), out)
    doc = json.loads(text_of(out))
    assert doc["applied"] is True and doc["safetySnapshot"] == "f" * 40
    assert [a["path"] for a in doc["plan"]] == ["a.txt", "b.txt"] and "nextCursor" not in doc
    await client.close()


def test_restore_paths_are_literal_and_patterns_are_flagged() -> None:
    args = cli.parse_args(["restore", "--pattern", "*.py", "--pattern", "docs/", "--", "a/[id].ts"])
    assert args.paths == ["a/[id].ts"] and args.patterns == ["*.py", "docs/"]
    assert cli.parse_args(["restore"]).patterns is None
    with pytest.raises(SystemExit):
        cli.parse_args(["restore", "--pattern", "*.py", "--hunks", "a.py:40bf57a22974a2d9"])


@pytest.mark.e2e
def test_restore_apply_end_to_end(repo: dict[str, Any], capsys) -> None:
    base = repo["base"]
    write(repo["root"], "src/main.txt", "hello\n")
    assert run_cli(capsys, *base, "snapshot", "-m", "base")[0] == 0
    write(repo["root"], "src/main.txt", "edited\n")
    code, out, err = run_cli(capsys, *base, "--json", "restore", "--apply", "--", "src/main.txt")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["applied"] is True and re.fullmatch("[0-9a-f]{40}", doc["safetySnapshot"])
    assert [(a["path"], a["action"]) for a in doc["plan"]] == [("src/main.txt", "write")]
    assert (repo["root"] / "src/main.txt").read_text() == "hello\n"
    code, out, err = run_cli(capsys, *base, "restore", doc["safetySnapshot"], "--apply")
    assert code == 0, err
    assert (repo["root"] / "src/main.txt").read_text() == "edited\n"


@pytest.mark.e2e
def test_pin_gc_stats_end_to_end(repo: dict[str, Any], capsys) -> None:
    base = repo["base"]
    write(
        repo["root"],
        ".snapd.toml",
        "retainLatest = 1\nretainCount = 1\ngcGraceSeconds = 0\nautoGc = false\n"
        "autoSnapshot = false\n",
    )
    ids = []
    for i in range(4):
        write(repo["root"], "src/main.txt", f"version {i}\n")
        code, out, err = run_cli(capsys, *base, "--json", "snapshot")
        assert code == 0, err
        ids.append(json.loads(out)["id"])

    code, out, err = run_cli(capsys, *base, "pin", ids[0][:8])
    assert code == 0, err
    assert out == f"pinned {ids[0][:12]}\n"

    code, out, err = run_cli(capsys, *base, "gc", "--dry-run")
    assert code == 0, err
    assert out.splitlines() == [
        "gc (dry run): would drop 1 snapshot, keep 3",
        f"  drop {ids[1][:12]}",
    ]
    code, out, err = run_cli(capsys, *base, "--json", "gc")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["dropped"] == [ids[1]] and doc["kept"] == 3

    code, out, err = run_cli(capsys, *base, "--json", "log")
    assert [s["id"] for s in json.loads(out)] == [ids[3], ids[2], ids[0]]

    code, out, err = run_cli(capsys, *base, "stats")
    assert code == 0, err
    assert not ANSI.search(out)
    lines = out.splitlines()
    assert lines[0].startswith("store size    ") and lines[0].endswith(("B", "KiB", "MiB"))
    assert "snapshots     3 kept, 1 pinned" in lines
    assert "largest paths" in lines
    assert any(line.endswith(" src/main.txt") for line in lines)
    assert "skipped bytes by rule (newest snapshot)" in lines
    assert any(line.endswith(" ignore-file") for line in lines)  # debug.log
    code, out, err = run_cli(capsys, *base, "--json", "stats")
    stats = json.loads(out)
    assert stats["snapshots"] == 3 and stats["pinned"] == 1

    code, out, err = run_cli(capsys, *base, "--json", "unpin", ids[0])
    assert code == 0 and json.loads(out) == {"id": ids[0], "pinned": False}
    code, out, err = run_cli(capsys, *base, "pin", "zzzz")
    assert code == 1 and out == "" and err.startswith("snapd: ") and err.count("\n") == 1


@pytest.mark.e2e
def test_subprocess_dispatches_stats_and_gc(repo: dict[str, Any]) -> None:
    cmd = [sys.executable, "-m", "snapd_client", *repo["base"]]
    subprocess.run([*cmd, "snapshot"], check=True, capture_output=True)
    for argv in (["stats", "--json"], ["gc", "--dry-run", "--json"], ["pin", "latest", "--json"]):
        proc = subprocess.run([*cmd, *argv], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, (argv, proc.stderr)
        assert isinstance(json.loads(proc.stdout), dict)


def test_snapshots_taken_from_the_command_line_name_the_cli(
    repo: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run_cli(capsys, *repo["base"], "snapshot", "-m", "from the terminal")
    assert code == 0, err
    message = git(repo["store"], "log", "-1", "--format=%B", "refs/heads/snapshots").stdout
    assert 'Snapd-Client: "cli"' in message.splitlines()
