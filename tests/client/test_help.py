"""``snapd --help`` lists every command and the daemon's flags; the help path stays lean (issue 15).

The lean-import checks look at ``sys.modules`` in a fresh interpreter, never at the clock: a
heavy module (rich, the attrs/cattrs wire types, lsprotocol, pygls, dulwich) pulled onto the
``--help`` path by a stray import fails them on any machine.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys

import pytest

import snapd.cli
from snapd_client import cli, entry
from snapd_client.cli import help
from snapd_client.cli.parser import ALIASES, COMMAND_HELP


def run_snapd(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "snapd_client", *argv], capture_output=True, text=True, check=False
    )


def test_help_lists_every_command_on_one_line_and_every_daemon_flag() -> None:
    text = help.full_help()
    section = text[text.index("\ncommands:\n") :].split("\n\n")[0].splitlines()[2:]
    rows = {}
    for line in section:
        label, line_help = re.split(r"\s{2,}", line.strip(), maxsplit=1)
        for name in label.split(", "):
            rows[name] = line_help
    assert rows == {
        **{name: COMMAND_HELP[ALIASES.get(name, name)] for name in [*cli.COMMANDS, *cli.MANAGE]},
        "help": help.HELP_LINE,
    }
    assert set(COMMAND_HELP) | set(ALIASES) == set(cli.COMMANDS) | set(cli.MANAGE)
    daemon_flags = {
        flag
        for action in snapd.cli.parser()._actions
        for flag in action.option_strings
        if action.dest != "help" and action.help != argparse.SUPPRESS
    }
    assert {"--stdio", "--log-file", "--version", "--content-limit"} <= daemon_flags
    daemon_part = text[text.index("daemon options") :]
    for flag in daemon_flags:
        assert flag in daemon_part, flag
    assert "--test-restore-delay" not in text  # hidden test-only flags stay hidden
    for flag in ("--root", "--store", "--json", "--no-pager", "--color", "--help"):
        assert flag in text[: text.index("daemon options")], flag
    assert "pin a snapshot (retention never drops it)\n" in text  # not "... a snapshot" twice


def test_snapd_help_and_dash_dash_help_print_the_same(capsys: pytest.CaptureFixture[str]) -> None:
    assert entry.main(["--help"]) == 0
    dash = capsys.readouterr()
    assert entry.main(["help"]) == 0
    word = capsys.readouterr()
    assert dash.err == word.err == ""
    assert dash.out == word.out == help.full_help()
    assert entry.main(["--root", "/w", "-h"]) == 0
    assert capsys.readouterr().out == dash.out
    assert entry.main(["help", "help"]) == 0
    assert capsys.readouterr().out == dash.out


@pytest.mark.parametrize("name", sorted([*cli.COMMANDS, *cli.MANAGE]))
def test_help_command_is_the_commands_own_help(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert entry.main(["help", name]) == 0
    via_help = capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        entry.main([name, "--help"])
    assert exit_.value.code == 0
    via_flag = capsys.readouterr()
    assert via_help.err == via_flag.err == ""
    assert via_help.out == via_flag.out
    assert via_help.out.startswith(f"usage: snapd {ALIASES.get(name, name)} ")


@pytest.mark.parametrize("argv", [["help", "nosuch"], ["help", "log", "diff"]])
def test_help_for_an_unknown_command_is_one_line_and_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert entry.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("snapd: ") and captured.err.count("\n") == 1
    assert "snapd --help" in captured.err


def test_the_stdio_daemon_keeps_its_own_help() -> None:
    proc = run_snapd("--stdio", "--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: snapd [-h] [--stdio]")
    assert "commands:" not in proc.stdout


def test_help_in_a_real_process() -> None:
    proc = run_snapd("--help")
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout == run_snapd("help").stdout
    for name in COMMAND_HELP:
        assert f"   {name}" in proc.stdout
    proc = run_snapd("help", "nosuch")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == "snapd: no such command 'nosuch' (see 'snapd --help')\n"
    assert run_snapd("help", "diff").stdout == run_snapd("diff", "--help").stdout


# Runs the snapd command in-process (as `python -m snapd_client` would) and reports which heavy
# modules were imported on the way.
PROBE = """
import contextlib, io, json, runpy, sys
sys.argv = ["snapd", *sys.argv[1:]]
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        runpy.run_module("snapd_client", run_name="__main__", alter_sys=True)
    except SystemExit:
        pass
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""

HEAVY = {"rich", "cattrs", "attrs", "attr", "lsprotocol", "pygls", "dulwich", "asyncio"}
"""What ``snapd --help`` must not load: output, wire types, the server, the store, the loop."""


def loaded(*argv: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["help"],
        ["help", "diff"],
        ["log", "--help"],
        ["restore", "--help"],
        ["help", "nosuch"],
        ["nosuch-option-only", "--bad"],
    ],
)
def test_help_and_usage_errors_import_nothing_heavy(argv: list[str]) -> None:
    modules = loaded(*argv)
    assert "snapd_client" in modules  # the probe did run the command
    assert modules & HEAVY == set()


@pytest.mark.e2e
def test_the_probe_sees_heavy_imports_when_a_command_runs() -> None:
    # The check above can fail: a command that reaches the client loads the wire types.
    # A store inside the worktree is refused by the private daemon, after the client and its
    # types are loaded. (rich is loaded only for coloured output: see test_lean_commands.py.)
    argv = ("--root", "/", "--store", "/nonexistent/snapd", "--standalone", "status")
    assert {"attrs", "cattrs", "asyncio"} <= loaded(*argv)


def test_importing_the_packages_is_lean() -> None:
    code = (
        "import sys, snapd_client, snapd_client.entry, snapd_client.cli;"
        "print(sorted({m.split('.')[0] for m in sys.modules}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules = set(json.loads(proc.stdout.replace("'", '"')))
    assert modules & HEAVY == set()


def test_command_help_reads_properly_in_a_real_process() -> None:
    """Issue 18 defect 9: ``pin`` says it once, ``--from FROM``, and ``-- PATH`` in usage."""
    pin = run_snapd("pin", "--help").stdout
    assert "\npin a snapshot (retention never drops it)\n" in pin
    assert "a snapshot) a snapshot" not in pin
    hunks = run_snapd("hunks", "--help").stdout
    assert "--from FROM " in hunks and "FROM_" not in hunks
    for name in ("diff", "restore"):
        usage = run_snapd(name, "--help").stdout.split("\n\n")[0]
        assert usage.endswith(" [-- PATH...]"), usage
        assert "FROM_" not in usage
    assert "-- PATH" not in run_snapd("log", "--help").stdout.split("\n\n")[0]
