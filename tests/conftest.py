from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "deterministic",
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "ci",
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("ci" if os.environ.get("CI") else "deterministic")


SHARED_DAEMON_IDLE = "20"
"""Seconds the shared daemons the tests start (through the CLI, forwarders and
``AsyncClient.connect``) wait for another client: long enough for one test's clients to meet,
short enough that a session's daemons do not pile up."""


@pytest.fixture(scope="session")
def runtime_dir() -> Iterator[Path]:
    """The session's private ``XDG_RUNTIME_DIR``: the shared daemons' sockets, the user's untouched.

    Short (a Unix socket path holds about 104 bytes) and ``0700``. At the end, every daemon
    still listening there is stopped and awaited.
    """
    path = Path(tempfile.mkdtemp(prefix="snapd-rt-"))
    yield path
    from tests.helpers import stop_daemons

    stop_daemons(path / "snapd")
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def clean_environ(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory, runtime_dir: Path
):
    """No test sees the user's git config, home, XDG dirs or shared daemons."""
    home = tmp_path_factory.mktemp("home")
    for key in list(os.environ):
        if key.startswith(("GIT_", "XDG_", "SNAPD_")):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime_dir))
    monkeypatch.setenv("SNAPD_IDLE_TIMEOUT", SHARED_DAEMON_IDLE)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    yield


@pytest.fixture(autouse=True)
def close_leftover_services():
    from tests.helpers import OPEN_SERVICES, close_services

    # Only the services this test made: a module fixture's service outlives each test.
    before = len(OPEN_SERVICES)
    yield
    close_services(keep=before)


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    root = tmp_path / "work"
    (root / "src").mkdir(parents=True)
    (root / "src" / "main.txt").write_text("hello\n")
    return root


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # e2e tests spawn daemons: run them last so fast failures show first.
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)


@pytest.fixture
def chdir_tmp(tmp_path: Path) -> Iterator[Path]:
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)
