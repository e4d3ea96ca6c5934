"""snapd/explain and the walk count the directory budget with one helper, so they agree."""

from __future__ import annotations

from pathlib import Path

from snapd import protocol
from tests.helpers import make_service, write


def test_explain_exempts_forced_paths_in_a_skipped_directory_as_the_walk_does(
    worktree: Path, store_dir: Path
) -> None:
    write(worktree, ".gitignore", "build/\n")
    write(worktree, "build/junk.o", "x")
    svc = make_service(
        worktree, store_dir, watch=False, dir_new_file_budget=5, force_include=("build/keep/*.txt",)
    )
    svc.snapshot(protocol.SnapshotParams())
    for i in range(20):
        write(worktree, f"build/keep/f{i:02}.txt", "kept\n")
    ex = svc.explain(protocol.ExplainParams(path="build/keep/f00.txt"))
    second = svc.snapshot(protocol.SnapshotParams())
    assert "new-files-budget" not in second.rules, second.rules  # the walk exempts forced paths
    assert second.files >= 20, second
    assert (ex.outcome.value, ex.rule) == ("captured", "force-include"), ex
    svc.close()
