"""Issue 13 regressions: store damage (#15) and how the clients start the daemon (#18)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from snapd_client import AsyncClient, TransportClosed
from tests.helpers import write

SHADOWS = ("json.py", "typing.py", "logging.py")
"""Modules a project directory commonly has (flask's src/flask has all three)."""


def _shadowing_dir(path: Path) -> Path:
    path.mkdir()
    for name in SHADOWS:
        write(path, name, "raise SystemExit(1)\n")
    return path


@pytest.mark.e2e
@pytest.mark.asyncio
@pytest.mark.fault(
    "#18 json.py/typing.py/logging.py in the current directory: the client's daemon starts "
    "anyway (no directory can shadow a module of the daemon)",
    trials=1,
)
async def test_modules_in_the_current_directory_do_not_shadow_the_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wt, store = tmp_path / "wt", tmp_path / "store"
    write(wt, "a.txt", "a\n")
    here = _shadowing_dir(tmp_path / "project")
    monkeypatch.chdir(here)
    async with await AsyncClient.spawn(
        wt, store=store, log_file=tmp_path / "d.log", options={"watch": False}
    ) as client:
        assert (await client.snapshot()).files == 1


@pytest.mark.e2e
@pytest.mark.fault(
    "#18 `snapd log` run in a directory with json.py/typing.py/logging.py: it works",
    trials=1,
)
def test_the_cli_works_in_a_directory_that_shadows_modules(tmp_path: Path) -> None:
    wt, store = tmp_path / "wt", tmp_path / "store"
    write(wt, "a.txt", "a\n")
    here = _shadowing_dir(tmp_path / "project")
    snapd = Path(sys.executable).with_name("snapd")
    done = subprocess.run(
        [str(snapd), "log", "--root", str(wt), "--store", str(store), "--no-pager"],
        cwd=here,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


@pytest.mark.e2e
@pytest.mark.asyncio
@pytest.mark.fault(
    "#18 a daemon that dies during start-up: the client's error shows the tail of its stderr",
    trials=1,
)
async def test_a_daemon_dying_at_start_up_shows_its_stderr(tmp_path: Path) -> None:
    wt = tmp_path / "wt"
    write(wt, "a.txt", "a\n")
    with pytest.raises(TransportClosed) as info:
        await AsyncClient.spawn(
            wt, store=tmp_path / "store", log_file=tmp_path / "d.log", extra_args=["--no-such"]
        )
    message = str(info.value)
    assert "exited with status 2" in message, message
    assert "unrecognized arguments: --no-such" in message, message
