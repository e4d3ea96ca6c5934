"""The commands on the hot path start lean: no lsprotocol ever, no rich when output is plain.

``snapd log``, ``status``, ``diff --stat`` and ``snapshot -m`` should start in well under
0.15 s (issue 15). Like the ``--help`` checks in ``test_help.py`` these look at ``sys.modules``
in a fresh interpreter, never at the clock. :class:`~snapd_client.cli.output.Output` writes a
plain line itself, without rich; the first tests check that it writes exactly what rich would.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from snapd_client import cli
from snapd_client.cli import output
from tests.helpers import write

Parts = tuple[str | tuple[str, str], ...]

PLAIN: list[Parts] = [
    (),
    ("",),
    ("abc",),
    (("aaaaaaaaaaaa", "yellow"), "  2026-01-01 10:00:00  files 3 (1.0 KiB)", ("  label", "bold")),
    ("x" * 300,),  # longer than any terminal: soft wrap keeps it on one line
    ("trailing   ",),
    ("   leading",),
    ("日本語のファイル名.txt  wide",),
    ("e\u0301 combining, 🙂 emoji, \u200b zero width",),
    ("[bold]not markup[/bold] :smile: http://example.com 1.5 True None",),
    ("two\nlines", ("\nand a blank", "dim")),
    ("ends with a newline\n",),
    ("\n\n",),
    ("\\x1b[31m escaped by safe()",),
    ((" src/a.py | ", ""), "4 ", ("+++", "green"), ("-", "red")),
    (("", "green"), ("", "red")),
]
"""Lines Output writes without rich."""

RICH_CHANGES: list[Parts] = [
    ("a\tb",),
    ("日本\tb\tc",),
    ("bell\x07 backspace\x08 vt\x0b ff\x0c cr\x0d",),
]
"""Lines rich changes (tabs expanded, some controls stripped): left to rich."""

CONTROLS: list[Parts] = [("\x1b[31mred",), ("del\x7f c1\x9b nul\x00",)]
"""Other control characters (safe() escapes them all): left to rich too, to be sure."""


@pytest.fixture(autouse=True)
def plain_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR", "PAGER", "LESS", "COLUMNS"):
        monkeypatch.delenv(key, raising=False)


def through_rich(parts: Parts, capsys: pytest.CaptureFixture[str]) -> str:
    out = cli.Output()
    assert not out.console.is_terminal  # the console is made now: the line goes through rich
    out.print(*parts)
    return capsys.readouterr().out


@pytest.mark.parametrize("parts", PLAIN)
def test_a_plain_line_is_what_rich_writes_without_rich(
    parts: Parts, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = through_rich(parts, capsys)

    def no_rich() -> Any:
        raise AssertionError("a plain line made a rich console")

    with monkeypatch.context() as patch:
        patch.setattr(output, "_console_class", no_rich)
        cli.Output().print(*parts)
    assert capsys.readouterr().out == expected


@pytest.mark.parametrize("parts", RICH_CHANGES)
def test_lines_rich_would_change_go_through_rich(
    parts: Parts, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = through_rich(parts, capsys)
    assert expected != "".join(p if isinstance(p, str) else p[0] for p in parts) + "\n"
    cli.Output().print(*parts)
    assert capsys.readouterr().out == expected


@pytest.mark.parametrize("parts", CONTROLS)
def test_other_controls_go_through_rich(parts: Parts, capsys: pytest.CaptureFixture[str]) -> None:
    expected = through_rich(parts, capsys)
    out = cli.Output()
    out.print(*parts)
    assert capsys.readouterr().out == expected


@pytest.mark.parametrize(
    ("env", "color"),
    [({"FORCE_COLOR": "1"}, "auto"), ({"TTY_COMPATIBLE": "1"}, "auto"), ({}, "always")],
)
def test_forced_colour_still_goes_through_rich(
    env: dict[str, str],
    color: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    out = cli.Output(color)
    out.print(("snapshot", "bold"), " x")
    assert "\x1b[1msnapshot" in capsys.readouterr().out
    assert out.width == out.console.width


def test_a_line_stdout_cannot_encode_fails_as_rich_says(monkeypatch: pytest.MonkeyPatch) -> None:
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    monkeypatch.setattr(sys, "stdout", stdout)
    with pytest.raises(UnicodeEncodeError, match="PYTHONIOENCODING=utf-8"):
        cli.Output().print("caf\u00e9")
    cli.Output().print("cafe")
    stdout.flush()
    assert stdout.buffer.getvalue() == b"cafe\n"


def test_json_and_width_need_no_console(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_rich() -> Any:
        raise AssertionError("made a rich console")

    monkeypatch.setattr(output, "_console_class", no_rich)
    out = cli.Output()
    out.json({"a": [1]})
    assert capsys.readouterr().out == '{\n  "a": [\n    1\n  ]\n}\n'
    assert out.width == 80 and not out.err_is_terminal


# Runs one snapd command in-process (as `python -m snapd_client` would), against a real daemon,
# with stdout and stderr not terminals, and reports its exit status, output and modules.
PROBE = """
import contextlib, io, json, runpy, sys
sys.argv = ["snapd", *sys.argv[1:]]
out, err = io.StringIO(), io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    try:
        runpy.run_module("snapd_client", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = exc.code
modules = sorted({m.split(".")[0] for m in sys.modules} | {m for m in sys.modules if "." in m})
print(json.dumps({"code": code, "out": out.getvalue(), "err": err.getvalue(), "modules": modules}))
"""

NEVER = {"lsprotocol", "pygls", "dulwich", "watchfiles"}
"""What a client command never loads: the daemon's side of the protocol, its store, its watcher."""


def run_probe(*argv: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    assert result["code"] == 0, result["err"]
    return result


@pytest.mark.e2e
def test_the_hot_path_commands_load_neither_lsprotocol_nor_rich(tmp_path: Path) -> None:
    worktree = tmp_path / "w"
    write(worktree, "a.txt", "one\n")
    base = ["--root", str(worktree), "--store", str(tmp_path / "store")]
    first = run_probe(*base, "snapshot", "-m", "x")
    assert first["out"].startswith("snapshot ") and '"x"' in first["out"]
    write(worktree, "a.txt", "one\ntwo\n")
    runs = {
        "log": run_probe(*base, "log"),
        "status": run_probe(*base, "status"),
        "diff --stat": run_probe(*base, "diff", "--stat"),
    }
    assert runs["diff --stat"]["out"].splitlines() == [
        " a.txt | 1 +",
        " 1 file changed, 1 insertion(+)",
    ]
    assert runs["log"]["out"].count("\n") == 1 and "  x\n" in runs["log"]["out"]
    assert runs["status"]["out"].startswith("root ")
    for command, result in {"snapshot -m x": first, **runs}.items():
        modules = set(result["modules"])
        assert "snapd_client" in modules, command  # the probe ran it
        assert modules & (NEVER | {"rich"}) == set(), command
        if command not in ("log", "diff --stat"):
            assert {"cattrs", "asyncio"} <= modules, command
    # `snapd log` and `snapd diff --stat` are on the standard library alone: a blocking
    # session and plain rendering.
    typed = {"asyncio", "attr", "attrs", "cattrs", "snapd.protocol", "snapd_client._client"}
    assert set(runs["log"]["modules"]) & typed == set()
    assert set(runs["diff --stat"]["modules"]) & typed == set()
    # The check can fail: coloured output does load rich.
    assert "rich" in run_probe(*base, "--color", "always", "log")["modules"]
