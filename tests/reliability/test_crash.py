"""Crash consistency: kill -9 the daemon at random points during snapshots.

Each trial starts a daemon on the same store (recovery without a manual step: it must open the
store left by the previous kill and take a snapshot), changes the tree, asks for a snapshot and
SIGKILLs the daemon after a random delay spanning the snapshot's duration. After each kill:
``git fsck --strict`` is clean, every snapshot seen before is still listed (its ref, or the
first-parent history in the older layout) and readable (``git rev-list --objects`` over all of
them reads every tree and checks every blob), and new ones are listed with ``git ls-tree -r``.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from tests.helpers import write
from tests.reliability.conftest import TrialCounter
from tests.reliability.harness import (
    RawDaemon,
    assert_fsck_clean,
    assert_snapshots_readable,
    snapshot_ids,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TRIALS = 50


def mutate(root: Path, rng: random.Random, trial: int) -> None:
    for i in rng.sample(range(40), 12):
        write(root, f"src/d{i % 5}/f{i}.txt", f"trial {trial} file {i}\n" * rng.randint(1, 400))
    write(root, f"new/t{trial}.txt", f"added in trial {trial}\n")
    # A file over CHUNK (256 KiB) goes through the streaming blob writer.
    write(root, "big/stream.bin", os.urandom(300 * 1024))
    if trial % 3 == 0:
        (root / f"new/t{trial - 3}.txt").unlink(missing_ok=True)


@pytest.mark.timeout(240)
@pytest.mark.fault("kill -9 at a random point during a snapshot, then restart", trials=TRIALS)
def test_kill_9_during_snapshots_keeps_the_store_consistent(
    tmp_path: Path, fault_trials: TrialCounter
) -> None:
    rng = random.Random(20251125)
    root, store = tmp_path / "work", tmp_path / "store"
    mutate(root, rng, 0)
    seen: list[str] = []
    interrupted = 0
    window = 0.15  # seconds; re-estimated from the completed snapshots
    started = time.monotonic()
    for trial in range(1, TRIALS + 1):
        d = RawDaemon.spawn(root, store, tmp_path / f"d{trial}.log")
        try:
            init = d.initialize()
            assert "result" in init, init  # opens the killed daemon's store by itself
            t0 = time.monotonic()
            snap = d.request("snapd/snapshot", {"label": f"recovered {trial}"})
            assert "result" in snap, snap
            window = 0.7 * window + 0.3 * (time.monotonic() - t0)
            mutate(root, rng, trial)
            d.send({"jsonrpc": "2.0", "id": 99, "method": "snapd/snapshot", "params": {}})
            time.sleep(rng.uniform(0, 1.5 * window))
            d.kill()  # SIGKILL
        finally:
            d.kill()
        fault_trials.add()
        history = snapshot_ids(store)
        assert_fsck_clean(store)
        assert set(seen) <= set(history), "an earlier snapshot is gone"
        new = [oid for oid in history if oid not in set(seen)]
        assert_snapshots_readable(store, history, ls_tree=new)
        interrupted += len(new) == 1  # only the "recovered" one: the kill beat the snapshot
        seen = history
    assert len(seen) >= TRIALS  # at least every "recovered" snapshot
    # The delays must really straddle the snapshots: many kills land before its commit point.
    assert 5 <= interrupted < TRIALS, interrupted
    assert time.monotonic() - started < 150
