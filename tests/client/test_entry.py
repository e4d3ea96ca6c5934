"""The ``snapd`` console script's dispatch, and the daemon starting without the client package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import snapd
import snapd.cli
import snapd_client.cli
from snapd_client import entry


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str]]]:
    seen: list[tuple[str, list[str]]] = []

    def client(argv: list[str]) -> int:
        seen.append(("client", argv))
        return 3

    def daemon(argv: list[str] | None = None) -> int:
        seen.append(("daemon", list(argv or [])))
        return 4

    monkeypatch.setattr(snapd_client.cli, "main", client)
    monkeypatch.setattr(snapd.cli, "main", daemon)
    return seen


@pytest.mark.parametrize(
    ("argv", "side"),
    [
        (["log"], "client"),
        (["--root", "/w", "--json", "diff", "a", "--", "src"], "client"),
        (["pin", "latest"], "client"),
        (["--stdio"], "daemon"),
        (["--stdio", "--root", "/w", "-v"], "daemon"),
        (["-vv", "--stdio", "--log-file", "log"], "daemon"),
        (["--stdio", "--help"], "daemon"),
        (["--listen", "/run/s", "--help"], "daemon"),
        # A socket that happens to be called "log" is still the daemon's.
        (["--listen", "log"], "daemon"),
        (["--listen=log"], "daemon"),
        (["--version"], "daemon"),
        ([], "daemon"),
        # A worktree that happens to be called "log" is still served by the daemon.
        (["--stdio", "--root", "log"], "daemon"),
    ],
)
def test_dispatch(calls: list[tuple[str, list[str]]], argv: list[str], side: str) -> None:
    code = entry.main(list(argv))
    assert calls == [(side, argv)]
    assert code == (3 if side == "client" else 4)


@pytest.mark.parametrize(
    "argv", [["--help"], ["-h"], ["help"], ["help", "log"], ["--root", "/w", "--help"]]
)
def test_help_is_neither_side(
    calls: list[tuple[str, list[str]]], argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # The whole tool's help (snapd_client.cli.help): no daemon and no client command runs.
    assert entry.main(list(argv)) == 0
    assert calls == []
    assert capsys.readouterr().out.startswith("usage: snapd ")


def test_the_real_daemon_side_answers_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        entry.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"snapd {snapd.__version__}\n"


def test_daemon_alone_refuses_client_commands_with_a_hint() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "snapd", "log"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert "unrecognized arguments: log" in proc.stderr
    assert "run by the snapd command" in proc.stderr


# Runs `python -m snapd` in-process (as the daemon's __main__) and reports whether anything
# pulled in the client package on the way.
PROBE = """
import runpy, sys
sys.argv = ["snapd", *sys.argv[1:]]
try:
    runpy.run_module("snapd", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
print(sorted(m for m in sys.modules if m.split(".")[0] == "snapd_client"))
"""


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["log"], ["-v"]])
def test_python_m_snapd_never_imports_the_client(argv: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=False
    )
    assert proc.stdout.splitlines()[-1] == "[]", proc.stderr


def test_python_m_snapd_client_is_the_snapd_command() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "snapd_client", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and proc.stdout == f"snapd {snapd.__version__}\n"
    proc = subprocess.run(
        [sys.executable, "-m", "snapd_client", "log", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and "usage: snapd log" in proc.stdout


def test_console_script_points_at_the_entry() -> None:
    script = Path(sys.executable).parent / "snapd"
    if not script.exists():
        pytest.skip("the snapd console script is not installed next to this interpreter")
    proc = subprocess.run([str(script), "log", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "usage: snapd log" in proc.stdout
    proc = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout == f"snapd {snapd.__version__}\n"
