"""snapd/explain and the walk count the directory budget with one helper, so they agree."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from snapd import protocol, requests
from snapd.store.history import read_snapshot
from tests.helpers import make_service, write


def test_explain_exempts_forced_paths_in_a_skipped_directory_as_the_walk_does(
    worktree: Path, store_dir: Path
) -> None:
    write(worktree, ".gitignore", "build/\n")
    write(worktree, "build/junk.o", "x")
    svc = make_service(
        worktree, store_dir, watch=False, dir_new_file_budget=5, force_include=("build/keep/*.txt",)
    )
    requests.snapshot(svc, protocol.SnapshotParams())
    for i in range(20):
        write(worktree, f"build/keep/f{i:02}.txt", "kept\n")
    ex = requests.explain(svc, protocol.ExplainParams(path="build/keep/f00.txt"))
    second = requests.snapshot(svc, protocol.SnapshotParams())
    assert "new-files-budget" not in second.rules, second.rules  # the walk exempts forced paths
    assert second.files >= 20, second
    assert (ex.outcome.value, ex.rule) == ("captured", "force-include"), ex
    svc.close()


def test_a_snapshot_does_not_stream_an_unchanged_parent_manifest_again(
    worktree: Path, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(worktree, ".gitignore", "*.log\n")
    write(worktree, "debug.log", "skipped: a manifest record\n")
    svc = make_service(worktree, store_dir, watch=False)
    streamed: list[str] = []
    iter_blob = svc.store.iter_blob

    def counting(oid: str) -> Iterator[bytes]:
        streamed.append(oid)
        return iter_blob(oid)

    monkeypatch.setattr(svc.store, "iter_blob", counting)
    manifests = []
    for i in range(3):
        write(worktree, "a.txt", f"version {i}\n")
        requests.snapshot(svc, protocol.SnapshotParams())
        manifests.append(read_snapshot(svc.store, svc.store.refs.head() or "").state.manifest)
    assert manifests[0] == manifests[1] == manifests[2]
    streamed.clear()
    write(worktree, "a.txt", "version 3\n")
    requests.snapshot(svc, protocol.SnapshotParams())
    # Its budget records are known by its id; a walk the directory map made incremental reads
    # it once more, to copy the records of the subtrees it reuses.
    assert streamed.count(manifests[0]) <= 1, streamed
    svc.close()
