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
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from snapd import protocol
from snapd_client import AsyncClient, UnknownSnapshot, cli
from tests.client.fakes import FakeDaemon
from tests.client.test_client_unit import SNAPSHOT_RESULT
from tests.helpers import write

ANSI = re.compile(r"\x1b\[")


@pytest.fixture(autouse=True)
def plain_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR", "PAGER", "LESS", "COLUMNS"):
        monkeypatch.delenv(key, raising=False)


def hunk(lines: list[str], **kw: Any) -> protocol.Hunk:
    return protocol.Hunk(old_start=1, old_lines=1, new_start=1, new_lines=1, lines=lines, **kw)


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
    wide = protocol.Hunk(old_start=0, old_lines=0, new_start=1, new_lines=2, lines=["+a", "+b"])
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
    assert [t.plain for t in cli.stat_lines(rows, 80)] == [
        " src/a.py | 4 +++-",
        " b        | 1 +",
        " logo.png | Bin 0 B -> 2.0 KiB",
        " big.dat  | skipped: larger than the content limit [rule size-limit]",
        " 4 files changed, 4 insertions(+), 1 deletion(-)",
    ]
    many = [(protocol.FileChange(path="x", status=protocol.ChangeStatus.MODIFIED), 500, 500)]
    line = cli.stat_lines(many, 40)[0].plain
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
    assert cli.main(["log"]) == 130
    assert capsys.readouterr().err == "snapd: interrupted\n"
    monkeypatch.setattr(cli, "run", broken)
    assert cli.main(["log"]) == 1
    assert capsys.readouterr().err == "snapd: internal error: ValueError: bad thing\n"


# -- commands over a fake daemon ----------------------------------------------------------------


def ns(**kw: Any) -> argparse.Namespace:
    base = {"json": False, "label": None, "paths": None, "to": None, "from_": "latest"}
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
    hunks = [{"oldStart": 1, "oldLines": 1, "newStart": 1, "newLines": 1, "lines": ["-a", "+b"]}]
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
    monkeypatch.setattr(cli, "_stdout_is_tty", lambda: True)
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
    cmd = [sys.executable, "-m", "snapd", *repo["base"]]
    proc = subprocess.run([*cmd, "diff", "deadbeef"], capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("snapd: ") and proc.stderr.count("\n") == 1
    missing = [sys.executable, "-m", "snapd", "--root", str(repo["root"] / "nope"), "log"]
    proc = subprocess.run(missing, capture_output=True, text=True, check=False)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


@pytest.mark.e2e
def test_subprocess_plain_diff_has_no_ansi(repo: dict[str, Any]) -> None:
    cmd = [sys.executable, "-m", "snapd", *repo["base"]]
    env = {**os.environ, "TERM": "xterm-256color"}
    subprocess.run([*cmd, "snapshot"], check=True, capture_output=True, env=env)
    write(repo["root"], "src/main.txt", "hello\n\x1b[31mred\n")
    proc = subprocess.run([*cmd, "diff"], capture_output=True, text=True, check=False, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout
    assert "+\\x1b[31mred" in proc.stdout
