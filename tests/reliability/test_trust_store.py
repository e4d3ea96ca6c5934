"""Issue 13 regressions: store damage (#15) and how the clients start the daemon (#18)."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from snapd.errors import StoreFailure
from snapd_client import AsyncClient, TransportClosed
from tests.helpers import git, write
from tests.reliability.harness import (
    MIB,
    RawDaemon,
    assert_fsck_clean,
    assert_snapshots_readable,
    snapshot_ids,
)

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


# -- #15 store damage ----------------------------------------------------------------------------


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[Path, Path, RawDaemon]]:
    wt, store = tmp_path / "wt", tmp_path / "store"
    for name in ("a.txt", "b.txt", "c.txt"):
        write(wt, name, f"{name} as snapshot A has it\n")
    d = RawDaemon.spawn(wt, store, tmp_path / "snapd.log")
    try:
        d.initialize({"autoSnapshot": False, "watch": False})
        yield wt, store, d
    finally:
        d.kill()


def _ok(reply: dict[str, Any]) -> Any:
    assert "result" in reply, reply
    return reply["result"]


def _err(reply: dict[str, Any], code: int = StoreFailure.CODE) -> dict[str, Any]:
    assert "error" in reply, reply
    err: dict[str, Any] = reply["error"]
    assert err["code"] == code, err
    assert "Traceback" not in err["message"] and "Error(" not in err["message"], err
    return err


def _blob(store: Path, commit: str, path: str) -> tuple[str, Path]:
    oid = git(store, "rev-parse", f"{commit}:{path}").stdout.strip()
    assert len(oid) == 40, oid
    loose = store / "objects" / oid[:2] / oid[2:]
    if not loose.exists():  # the first snapshot goes into a pack: loosen it for the test
        raw = git(store, "cat-file", "blob", oid).stdout.encode()
        loose.parent.mkdir(exist_ok=True)
        loose.write_bytes(zlib.compress(b"blob %d\0" % len(raw) + raw))
        for pack in (store / "objects" / "pack").glob("*"):
            pack.unlink()
    return oid, loose


def _damage(loose: Path, data: bytes) -> None:
    loose.chmod(0o644)
    loose.write_bytes(data)


def _second_snapshot(wt: Path, d: RawDaemon, b: bytes | None = None) -> str:
    """A snapshot whose objects are loose (the first one is packed)."""
    write(wt, "seed.txt", "makes A the second snapshot\n")
    _ok(d.request("snapd/snapshot", {"label": "seed"}))
    for name in ("a.txt", "b.txt", "c.txt"):
        write(wt, name, f"{name} as snapshot A has it, take two\n")
    if b is not None:
        write(wt, "b.txt", b)
    result: str = _ok(d.request("snapd/snapshot", {"label": "A"}))["id"]
    return result


@pytest.mark.fault(
    "#15 a same-size loose object whose content does not match its id: restore and hunks "
    "refuse it (-31007 naming the object), nothing of it lands in the worktree",
    trials=1,
)
def test_a_blob_that_does_not_match_its_id_is_never_written(
    daemon: tuple[Path, Path, RawDaemon],
) -> None:
    wt, store, d = daemon
    a = _second_snapshot(wt, d)
    write(wt, "b.txt", "the user's edit\n")
    oid, loose = _blob(store, a, "b.txt")
    good = (wt / "b.txt").read_bytes()
    original = b"b.txt as snapshot A has it, take two\n"
    forged = b"X" * len(original)
    _damage(loose, zlib.compress(b"blob %d\0" % len(forged) + forged))

    err = _err(d.request("snapd/hunks", {"from": a, "path": "b.txt"}))
    assert err["data"]["object"] == oid
    err = _err(d.request("snapd/restore", {"from": a, "dryRun": False}))
    data = err["data"]
    assert data["object"] == oid and data["path"] == "b.txt", data
    assert "b.txt" in err["message"] and "damaged" in err["message"], err
    assert (wt / "b.txt").read_bytes() == good
    assert not [p for p in wt.iterdir() if p.name not in {"a.txt", "b.txt", "c.txt", "seed.txt"}]
    safety = data["safetySnapshot"]
    ids = [s["id"] for s in _ok(d.request("snapd/snapshots"))["snapshots"]]
    assert safety in ids


BIG = b"".join(b"line %06d of a file big enough to stream in chunks\n" % i for i in range(8000))


@pytest.mark.fault(
    "#15 a loose object whose zlib stream breaks halfway through a restore: -31007 naming the "
    "damaged object and path, the safety snapshot and the paths already restored; an object "
    "that is not zlib at all stops the plan before anything is written",
    trials=1,
)
def test_a_broken_object_stops_a_restore_with_what_is_readable(
    daemon: tuple[Path, Path, RawDaemon],
) -> None:
    wt, store, d = daemon
    a = _second_snapshot(wt, d, b=BIG)
    for name in ("a.txt", "b.txt", "c.txt"):
        write(wt, name, f"{name} edited by the agent\n")
    oid, loose = _blob(store, a, "b.txt")
    raw = bytearray(loose.read_bytes())
    assert len(raw) > 4096
    middle = len(raw) // 2
    raw[middle : middle + 64] = bytes(64)  # the header still inflates: the plan is made
    _damage(loose, bytes(raw))

    err = _err(d.request("snapd/hunks", {"from": a, "path": "b.txt"}))
    assert err["data"]["object"] == oid
    err = _err(d.request("snapd/restore", {"from": a, "dryRun": False}))
    data = err["data"]
    assert data["object"] == oid and data["path"] == "b.txt", data
    assert data["written"] == ["a.txt"] and data["writtenCount"] == 1, data
    assert data["safetySnapshot"] in [
        s["id"] for s in _ok(d.request("snapd/snapshots"))["snapshots"]
    ]
    assert "restore snapshot" in err["message"], err
    assert (wt / "a.txt").read_text() == "a.txt as snapshot A has it, take two\n"
    assert (wt / "b.txt").read_text() == "b.txt edited by the agent\n"
    assert (wt / "c.txt").read_text() == "c.txt edited by the agent\n"
    # The safety snapshot holds the agent's version: restoring it undoes the half restore.
    _ok(d.request("snapd/restore", {"from": data["safetySnapshot"], "dryRun": False}))
    assert (wt / "a.txt").read_text() == "a.txt edited by the agent\n"

    _damage(loose, b"this is not zlib data at all\n")
    err = _err(d.request("snapd/restore", {"from": a, "dryRun": False}))
    assert err["data"]["object"] == oid and "nothing was written" in err["message"], err
    assert (wt / "a.txt").read_text() == "a.txt edited by the agent\n"
    err = _err(d.request("snapd/diff", {"from": a}))
    assert err["data"]["object"] == oid


@pytest.mark.fault(
    "#15 one corrupt snapshot ref (garbage, a missing commit, an undecodable file): "
    "snapd/snapshots lists the rest with a warning; snapshots and gc keep working",
    trials=1,
)
@pytest.mark.parametrize(
    "damage", [b"garbage\n", b"1" * 40 + b"\n", b"\xff\xfe\n"], ids=["garbage", "missing", "bytes"]
)
@pytest.mark.parametrize("which", ["newest", "middle"])
def test_a_corrupt_ref_is_skipped_with_a_warning(
    daemon: tuple[Path, Path, RawDaemon], damage: bytes, which: str
) -> None:
    wt, store, d = daemon
    ids = []
    for i in range(3):
        write(wt, "a.txt", f"version {i}\n")
        ids.append(_ok(d.request("snapd/snapshot", {}))["id"])
    refs = sorted((store / "refs" / "snapd" / "snapshots").iterdir())
    victim = refs[-1] if which == "newest" else refs[1]
    victim.write_bytes(damage)
    lost = ids[-1] if which == "newest" else ids[1]

    listed = _ok(d.request("snapd/snapshots"))
    assert [s["id"] for s in listed["snapshots"]] == [i for i in reversed(ids) if i != lost]
    warnings = listed.get("warnings") or []
    assert len(warnings) == 1 and victim.name in warnings[0], warnings
    write(wt, "a.txt", "after the damage\n")
    new = _ok(d.request("snapd/snapshot", {}))
    assert new["created"]
    assert _ok(d.request("snapd/snapshots"))["snapshots"][0]["id"] == new["id"]
    _ok(d.request("snapd/gc", {}))
    assert _ok(d.request("snapd/status"))["head"] == new["id"]


@pytest.mark.fault(
    "#15 the store directory deleted under a running daemon: snapd/status says so "
    "(storeError), snapshots fail with -31007 saying what happened",
    trials=1,
)
def test_a_deleted_store_is_reported(daemon: tuple[Path, Path, RawDaemon]) -> None:
    wt, store, d = daemon
    _ok(d.request("snapd/snapshot", {}))
    shutil.rmtree(store)
    status = _ok(d.request("snapd/status"))
    assert "no longer" in (status.get("storeError") or ""), status
    write(wt, "a.txt", "an edit nobody can record\n")
    for method in ("snapd/snapshot", "snapd/snapshots", "snapd/gc"):
        err = _err(d.request(method, {}))
        assert str(store) in err["message"] and "restart" in err["message"].lower(), (method, err)
    assert not store.exists()  # a store that vanished is not silently re-created


def _unreachable(store: Path) -> list[str]:
    out = git(store, "fsck", "--unreachable", "--no-reflogs", "--no-progress").stdout
    return [line for line in out.splitlines() if line.startswith("unreachable")]


def _fill(directory: Path) -> Path:
    """Fill the file system of ``directory`` to the last byte."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as fh:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    fh.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    return filler


@pytest.mark.fault(
    "#15 disk full during a snapshot (real 2 MiB tmpfs): the failed snapshot's objects are "
    "reclaimed at once, gc works on a full disk, git fsck is clean",
    trials=1,
)
def test_a_failed_snapshot_on_a_full_disk_leaves_nothing(tmp_path: Path, tiny_tmpfs: Path) -> None:
    wt, store = tmp_path / "wt", tiny_tmpfs / "store"
    write(wt, "src/a.txt", "a\n")
    d = RawDaemon.spawn(wt, store, tmp_path / "snapd.log")
    try:
        d.initialize({"autoSnapshot": False, "watch": False, "gcGraceSeconds": 3600})
        _ok(d.request("snapd/snapshot", {"label": "fits"}))
        write(wt, "src/a.txt", "b\n")
        second = _ok(d.request("snapd/snapshot", {}))["id"]  # loose objects, for gc to pack
        for i in range(3):  # 2.25 MiB of incompressible content: two fit, the third not
            write(wt, f"blob{i}.bin", os.urandom(3 * MIB // 4))
        err = _err(d.request("snapd/snapshot", {}))
        assert err["data"]["errno"] == errno.ENOSPC, err
        assert _unreachable(store) == []  # the first big blob did not stay behind
        filler = _fill(tiny_tmpfs)
        report = _ok(d.request("snapd/gc", {}))
        assert report["kept"] == 2, report
        filler.unlink()
        for i in range(3):
            (wt / f"blob{i}.bin").unlink()
        write(wt, "src/a.txt", "c\n")
        after = _ok(d.request("snapd/snapshot", {}))
        assert after["created"] and after["parent"] == second
        d.close_stdin()
        assert d.wait() == 0
    finally:
        d.kill()
    assert_fsck_clean(store)
    assert_snapshots_readable(store, snapshot_ids(store))
    assert _unreachable(store) == []


def _tree(store: Path, rev: str) -> tuple[str, Path]:
    """A tree of the store and its loose file (the snapshot must be a loose one)."""
    oid = git(store, "rev-parse", rev).stdout.strip()
    loose = store / "objects" / oid[:2] / oid[2:]
    assert loose.exists(), rev
    return oid, loose


@pytest.mark.fault(
    "#15 the newest snapshot's tree damaged: snapd/explain (which counts the directory "
    "budget against it) fails with -31007 naming the object in a sentence",
    trials=1,
)
def test_explain_reports_a_damaged_tree_as_a_store_failure(
    daemon: tuple[Path, Path, RawDaemon],
) -> None:
    wt, store, d = daemon
    a = _second_snapshot(wt, d)
    oid, loose = _tree(store, f"{a}^{{tree}}")
    _damage(loose, b"this is not zlib data at all\n")
    err = _err(d.request("snapd/explain", {"path": "b.txt"}))
    assert err["data"]["object"] == oid, err
    assert oid in err["message"] and "damaged" in err["message"], err


@pytest.mark.fault(
    "#15 the commit of one snapshot ref damaged: snapd/gc still drops what the policy drops, "
    "deletes nothing that ref might protect, and fails with -31007 naming the ref, the object "
    "and how to delete the ref; once the ref is deleted gc collects again",
    trials=1,
)
def test_gc_with_a_damaged_commit_drops_refs_and_sweeps_nothing(tmp_path: Path) -> None:
    wt, store = tmp_path / "wt", tmp_path / "store"
    write(wt, "a.txt", "version 0\n")
    d = RawDaemon.spawn(wt, store, tmp_path / "snapd.log")
    try:
        d.initialize(
            {
                "autoSnapshot": False,
                "watch": False,
                "autoGc": False,
                "retainLatest": 1,
                "retainCount": 1,
                "gcGraceSeconds": 0,
            }
        )
        ids = []
        for i in range(5):
            write(wt, "a.txt", f"version {i}\n")
            ids.append(_ok(d.request("snapd/snapshot", {}))["id"])
        refs = sorted((store / "refs" / "snapd" / "snapshots").iterdir())
        victim, damaged = refs[3], ids[3]
        only_there, blob = _blob(store, damaged, "a.txt")  # reachable from the damaged ref only
        commit = store / "objects" / damaged[:2] / damaged[2:]
        _damage(commit, b"this is not zlib data at all\n")

        err = _err(d.request("snapd/gc", {}))
        data = err["data"]
        assert data["object"] == damaged and data["ref"] == f"refs/snapd/snapshots/{victim.name}"
        assert sorted(data["dropped"]) == sorted(ids[:2]), data  # the policy's drops happened
        message = err["message"]
        assert victim.name in message and "update-ref -d" in message, message
        assert "nothing was deleted" in message, message
        listed = [s["id"] for s in _ok(d.request("snapd/snapshots"))["snapshots"]]
        assert listed == [ids[4], ids[2]], listed
        assert blob.exists()  # not swept: the damaged commit may still need it

        # What the message says to do works, and then gc collects again.
        assert git(store, "update-ref", "-d", data["ref"]).returncode == 0
        report = _ok(d.request("snapd/gc", {}))
        assert report["looseRemoved"] > 0, report
        assert not blob.exists() and not commit.exists(), only_there
        assert _ok(d.request("snapd/status"))["head"] == ids[4]
        d.close_stdin()
        assert d.wait() == 0
    finally:
        d.kill()
    assert_fsck_clean(store)
