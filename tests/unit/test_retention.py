"""Retention and gc: pins and labels survive any budget; the store stays valid and readable."""

from __future__ import annotations

import errno
import itertools
import os
import time
from pathlib import Path

import pytest

from snapd import protocol, requests
from snapd.store.retention import RetentionPolicy, collect, plan
from snapd.worktree import Worktree
from tests.helpers import git, make_service, write


def turn(svc: Worktree, root: Path, i: int, label: str | None = None) -> str:
    write(root, "src/main.txt", f"version {i}\n" * 50)
    write(root, "gen/data.json", "".join(f'{{"row": {i * 1000 + k}}}\n' for k in range(2000)))
    return requests.snapshot(svc, protocol.SnapshotParams(label=label)).id


def make(worktree: Path, store_dir: Path, **options: object) -> Worktree:
    return make_service(
        worktree, store_dir, watch=False, gc_grace_seconds=0.0, retain_latest=3, **options
    )


def restore_equals(svc: Worktree, root: Path, snap: str) -> None:
    dry = requests.restore(svc, protocol.RestoreParams(from_=snap))
    requests.restore(
        svc, protocol.RestoreParams(from_=snap, dry_run=False, plan_token=dry.plan_token)
    )
    blob = git(Path(svc.store_path), "show", f"{snap}:src/main.txt").stdout
    assert (root / "src" / "main.txt").read_text() == blob


def test_pins_and_labels_survive_any_budget(worktree: Path, store_dir: Path) -> None:
    svc = make(worktree, store_dir, retain_count=2, store_budget_bytes=1)
    ids = [turn(svc, worktree, i, label="release" if i == 2 else None) for i in range(12)]
    requests.pin(svc, protocol.PinParams(id=ids[4]))
    report = requests.gc(svc, protocol.GcParams())
    kept = [s.id for s in requests.snapshots(svc, protocol.SnapshotsParams()).snapshots]
    assert ids[2] in kept and ids[4] in kept  # labelled, pinned
    assert ids[-3:] == kept[:3][::-1]  # the newest three
    assert report.over_budget  # a 1-byte budget cannot be met: nothing protected was dropped
    assert set(report.dropped) == set(ids) - set(kept)
    fsck = git(store_dir, "fsck", "--strict", "--no-dangling")
    assert fsck.returncode == 0, fsck.stderr
    assert not list((store_dir / "objects" / "pack").glob("tmp_*"))
    # Every retained snapshot still diffs, pages hunks and restores.
    for a, b in itertools.pairwise(kept):
        files = requests.diff(svc, protocol.DiffParams(from_=b, to=a)).files
        assert {f.path for f in files} <= {"src/main.txt", "gen/data.json"}
        requests.hunks(svc, protocol.HunksParams(from_=b, to=a, path="gen/data.json", limit=1))
    restore_equals(svc, worktree, ids[2])
    restore_equals(svc, worktree, ids[4])
    svc.close()


def test_count_and_age_limits_keep_ids_stable(worktree: Path, store_dir: Path) -> None:
    svc = make(worktree, store_dir, retain_count=4, retain_days=1.0)
    ids = [turn(svc, worktree, i) for i in range(10)]
    history = list(reversed(ids))
    report = requests.gc(svc, protocol.GcParams(dry_run=True))
    assert report.dropped == history[3 + 4 :]  # newest 3 + 4 others kept
    assert len(requests.snapshots(svc, protocol.SnapshotsParams()).snapshots) == 10  # a dry run
    requests.gc(svc, protocol.GcParams())
    kept = [s.id for s in requests.snapshots(svc, protocol.SnapshotsParams()).snapshots]
    assert kept == history[:7]  # same ids as before: nothing was rewritten
    # Age: everything but the protected newest is older than a day two days from now.
    snaps = list(reversed([svc.resolve(i, "from") for i in kept]))
    kept_now, dropped = plan(
        list(reversed(snaps)), set(), svc.retention_policy(), now=time.time() + 2 * 86400
    )
    assert [s.id for s in kept_now] == kept[:3] and len(dropped) == 4
    svc.close()


def test_grace_period_protects_live_captures(worktree: Path, store_dir: Path) -> None:
    svc = make_service(worktree, store_dir, watch=False, retain_latest=1)
    first = turn(svc, worktree, 0)
    write(worktree, "src/live1.txt", "not in any snapshot yet\n")
    write(worktree, "src/live2.txt", "nor this\n")
    page = requests.diff(svc, protocol.DiffParams(from_=first, limit=1))  # captures the live tree
    assert page.next_cursor is not None
    requests.gc(svc, protocol.GcParams())  # default grace: the live capture stays
    rest = requests.diff(svc, protocol.DiffParams(from_=first, cursor=page.next_cursor))
    assert [f.path for f in page.files + rest.files] == ["src/live1.txt", "src/live2.txt"]
    svc.close()


def test_stats_and_budget_enforcement(worktree: Path, store_dir: Path) -> None:
    svc = make(worktree, store_dir, retain_count=1000)
    for i in range(15):
        turn(svc, worktree, i)
    before = requests.stats(
        svc,
    )
    assert before.snapshots == 15 and before.loose_objects > 0
    assert before.largest_paths[0].path == "gen/data.json"
    assert before.dedup_ratio >= 1.0
    budget = before.store_bytes // 3
    svc.options = svc.options.with_wire({"storeBudgetBytes": budget})
    report = requests.gc(svc, protocol.GcParams())
    after = requests.stats(
        svc,
    )
    assert after.store_bytes <= budget and not report.over_budget
    assert after.loose_objects == 0 and after.packs >= 1
    assert after.snapshots == 15 - len(report.dropped) >= 3
    svc.close()


def test_collect_is_safe_to_repeat_and_to_interrupt(worktree: Path, store_dir: Path) -> None:
    svc = make(worktree, store_dir, retain_count=2)
    for i in range(8):
        turn(svc, worktree, i)
    policy = RetentionPolicy(
        retain_latest=3, retain_count=2, retain_days=30, budget_bytes=1 << 40, grace_seconds=0
    )
    with svc.writer:
        collect(svc.store, policy)
        again = collect(svc.store, policy)
    assert again.dropped == [] and again.loose_removed == 0
    # A pack left half-written by a killed collection is cleaned up when the store opens.
    svc.close()
    stale = store_dir / "objects" / "pack" / "tmp_pack_deadbeef"
    stale.write_bytes(b"PACK partial")
    svc = make(worktree, store_dir)
    assert not stale.exists()
    assert git(store_dir, "fsck", "--strict").returncode == 0
    svc.close()


def test_pin_unknown_snapshot_is_an_error(worktree: Path, store_dir: Path) -> None:
    from snapd.errors import UnknownSnapshot

    svc = make(worktree, store_dir)
    turn(svc, worktree, 0)
    try:
        requests.pin(svc, protocol.PinParams(id="0123456789abcdef0123456789abcdef01234567"))
    except UnknownSnapshot:
        pass
    else:
        raise AssertionError("pinning an unknown snapshot must fail")
    assert os.path.isdir(store_dir)
    svc.close()


def test_head_moves_off_a_dropped_commit_even_when_packing_finds_the_disk_full(
    worktree: Path, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = make(worktree, store_dir)
    ids = [turn(svc, worktree, i) for i in range(6)]
    # As if the snapshot that followed the oldest one had created its ref but not moved HEAD.
    (store_dir / "refs" / "heads" / "snapshots").write_text(ids[0] + "\n")

    def full(*_args: object) -> str:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(svc.store, "write_pack", full)
    policy = RetentionPolicy(
        retain_latest=3, retain_count=1, retain_days=30, budget_bytes=1 << 40, grace_seconds=0
    )
    with svc.writer:
        report = collect(svc.store, policy)
    assert report.disk_full and ids[0] in report.dropped and report.loose_removed > 0
    head = git(store_dir, "rev-parse", "refs/heads/snapshots").stdout.strip()
    assert head == ids[-1]
    assert git(store_dir, "fsck", "--strict").returncode == 0
    svc.close()
