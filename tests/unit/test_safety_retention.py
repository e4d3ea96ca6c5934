"""Restore safety snapshots (issue 18 defect 7): kept while among the newest, then ordinary."""

from __future__ import annotations

from pathlib import Path

from snapd import protocol, requests
from snapd.store.history import Counts, commit_snapshot, read_snapshot
from snapd.store.retention import RetentionPolicy, plan
from snapd.worktree import Worktree
from tests.helpers import git, make_service, write


def turn(svc: Worktree, root: Path, i: int, label: str | None = None) -> str:
    write(root, "src/main.txt", f"version {i}\n")
    return requests.snapshot(svc, protocol.SnapshotParams(label=label)).id


def restore(svc: Worktree, snap: str) -> str:
    dry = requests.restore(svc, protocol.RestoreParams(from_=snap))
    done = requests.restore(
        svc, protocol.RestoreParams(from_=snap, dry_run=False, plan_token=dry.plan_token)
    )
    assert done.safety_snapshot is not None
    return done.safety_snapshot


def listed(svc: Worktree) -> dict[str, protocol.SnapshotSummary]:
    return {s.id: s for s in requests.snapshots(svc, protocol.SnapshotsParams()).snapshots}


def test_safety_snapshots_age_out_like_unlabelled_ones(worktree: Path, store_dir: Path) -> None:
    svc = make_service(
        worktree, store_dir, watch=False, gc_grace_seconds=0.0, retain_latest=2, retain_count=1
    )
    base = turn(svc, worktree, 0, "release")
    safeties = []
    for i in range(1, 5):
        turn(svc, worktree, i)
        safeties.append(restore(svc, base))
    pinned_safety = safeties[0]
    requests.pin(svc, protocol.PinParams(id=pinned_safety))
    summaries = listed(svc)
    assert all(summaries[s].safety and summaries[s].label for s in safeties)
    assert summaries[pinned_safety].pinned and not summaries[safeties[1]].pinned
    assert not summaries[base].safety and summaries[base].label == "release"
    newest = list(summaries)[:2]  # the newest retainLatest: the last turn and its safety one
    assert safeties[-1] in newest

    report = requests.gc(svc, protocol.GcParams())
    kept = listed(svc)
    assert base in kept  # labelled by a person: kept whatever its age
    assert pinned_safety in kept  # pinned: kept
    assert safeties[-1] in kept  # among the newest retainLatest: kept
    assert safeties[2] in kept  # the newest unprotected one: within retainCount (1)
    assert safeties[1] not in kept and safeties[1] in report.dropped  # aged out
    fsck = git(store_dir, "fsck", "--strict", "--no-dangling")
    assert fsck.returncode == 0, fsck.stderr


def test_the_safety_trailer_and_the_legacy_label(worktree: Path, store_dir: Path) -> None:
    svc = make_service(worktree, store_dir, watch=False)
    first = turn(svc, worktree, 0)
    state = read_snapshot(svc.store, first).state
    marked = commit_snapshot(
        svc.store, state, Counts(), parent=first, label="anything", changed=0, safety=True
    )
    legacy = commit_snapshot(
        svc.store,
        state,
        Counts(),
        parent=first,
        label=f"before restore from {first[:12]}",
        changed=0,
    )
    lookalike = commit_snapshot(
        svc.store, state, Counts(), parent=first, label="before restore from here", changed=0
    )
    assert "Snapd-Safety: true" in svc.store.read_commit(marked).message
    assert read_snapshot(svc.store, marked).safety
    assert read_snapshot(svc.store, legacy).safety
    assert not read_snapshot(svc.store, lookalike).safety
    assert not read_snapshot(svc.store, first).safety
    policy = RetentionPolicy(
        retain_latest=1, retain_count=1, retain_days=30.0, budget_bytes=1 << 40, grace_seconds=0
    )
    history = [read_snapshot(svc.store, oid) for oid in (lookalike, legacy, marked, first)]
    kept, dropped = plan(history, set(), policy, now=history[0].time)
    # lookalike: labelled by a person (and the newest); legacy fills retainCount; the older
    # safety snapshot and the plain one go.
    assert [s.id for s in kept] == [lookalike, legacy]
    assert [s.id for s in dropped] == [marked, first]


def test_a_reverts_safety_snapshot_is_one_too(worktree: Path, store_dir: Path) -> None:
    svc = make_service(worktree, store_dir, watch=False)
    before = turn(svc, worktree, 0)
    turn(svc, worktree, 1)
    done = requests.revert(svc, protocol.RevertParams(from_="latest~1", to="latest", dry_run=False))
    assert done.safety_snapshot is not None
    summary = listed(svc)[done.safety_snapshot]
    assert summary.safety and summary.label and summary.label.startswith("before revert of ")
    assert not listed(svc)[before].safety
