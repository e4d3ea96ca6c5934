"""The new-files budget: how many new entries one snapshot may add before it skips them."""

from __future__ import annotations

import os
from collections.abc import Container, Iterable
from typing import Final

import attrs

from snapd.capture.decision import Candidate, Decision, skipped
from snapd.capture.listing import sorted_entries
from snapd.capture.policy import Policy
from snapd.paths import join, under
from snapd.store.history import EMPTY_BLOB, ManifestEntry, State, manifest_lines
from snapd.store.repo import Store


def over_budget(count: int, budget: int) -> Decision:
    """The skip decision of a directory that gained ``count`` > ``budget`` new entries."""
    return skipped(
        "new-files-budget",
        "a directory that suddenly gained many files (likely generated)",
        f"{count} new entries since the last snapshot > budget {budget}",
    )


BUDGET_RULES: Final = frozenset({"new-files-budget", "snapshot-budget"})
"""Rules that skip a path only because of what else one snapshot saw: the next one retries."""


@attrs.frozen
class BudgetRecords:
    """A snapshot's records of paths skipped only by a budget (the next snapshot retries them)."""

    dirs: dict[bytes, int] = attrs.Factory(dict)
    """Directories skipped by ``new-files-budget``, with the count of entries it knew of
    (all those not captured by a snapshot)."""
    files: tuple[bytes, ...] = ()
    """Files skipped by ``snapshot-budget``."""

    @classmethod
    def read(cls, store: Store, manifest: str) -> BudgetRecords:
        """Stream a manifest for budget records (other lines are not even parsed).

        The last manifest's records are kept by id: the skipped set rarely changes between
        snapshots, so the next snapshot and ``snapd/explain`` usually ask for the same
        manifest, and an id always names the same content (it was checked when streamed).
        """
        if manifest == EMPTY_BLOB:
            return cls()
        memo = _BUDGET_MEMO.get(manifest)
        if memo is not None:
            return memo
        records = cls._read(store, manifest)
        _BUDGET_MEMO.clear()  # one entry: records can be as many as the manifest's lines
        _BUDGET_MEMO[manifest] = records
        return records

    @classmethod
    def _read(cls, store: Store, manifest: str) -> BudgetRecords:
        dirs: dict[bytes, int] = {}
        files: list[bytes] = []
        for line in manifest_lines(store, manifest):
            if b'-budget"' not in line:
                continue
            rec = ManifestEntry.from_line(line)
            if rec.rule == "new-files-budget":
                dirs[rec.path] = rec.count or 0
            elif rec.rule == "snapshot-budget":
                files.append(rec.path)
        return cls(dirs, tuple(files))

    def paths(self) -> tuple[bytes, ...]:
        """Every budget-skipped path."""
        return (*self.dirs, *self.files)

    def new_entries(
        self, rel: bytes, captured: Iterable[bytes], before: Container[bytes]
    ) -> tuple[int, int] | None:
        """What ``new-files-budget`` counts for directory ``rel`` (the walk and explain share it).

        Args:
            rel: The directory.
            captured: Names of its entries a snapshot captures now.
            before: Names in the snapshot's tree for it (empty when it had none).

        Returns:
            (entries new since the snapshot, entries not in its tree), or None when the
            snapshot knew all of them. A directory it skipped by ``new-files-budget`` was
            known as one record with the count of its uncaptured entries: only entries beyond
            that count are new since. A directory below one was known only as part of that
            record: all of it is known (it was never captured, so without this the budget
            would skip it again, one level deeper per snapshot, or forever).
        """
        known = self.dirs.get(rel, 0)
        if rel not in self.dirs and self.dirs and under(rel, tuple(self.dirs)):
            return None
        unseen = sum(1 for name in captured if name not in before)
        return unseen - known, unseen


def explain_budget(
    store: Store, policy: Policy, parent: State, rel: bytes, *, is_dir: bool
) -> Decision | None:
    """The ``new-files-budget`` skip a snapshot taken now would give ``rel`` or an ancestor.

    The walk's count (:meth:`BudgetRecords.new_entries`) for each directory on the way, with
    the walk's exemption: below a directory that is not captured itself (listed only for
    the forced paths under it), no budget applies. ``snapd/explain`` asks this so it says
    what the next snapshot does.
    """
    off = set(policy.options.disabled_rules)
    if "new-files-budget" in off or not rel:
        return None
    budget = policy.options.dir_new_file_budget
    budgeted = BudgetRecords.read(store, parent.manifest)
    parts = rel.split(b"/")
    # The parent's entries of the directory above the one checked (the root's, first).
    above = {e.name: e for e in store.read_tree(parent.tree)}
    for i in range(1, len(parts) + (1 if is_dir else 0)):
        directory = b"/".join(parts[:i])
        full = os.path.join(policy.root, directory)
        try:
            st = os.lstat(full)
            listed = sorted_entries(full)
        except OSError:
            return None  # policy.explain says why it cannot be listed
        if not policy.decide(Candidate(rel=directory, st=st)).captured:
            return None  # the walk lists it only for the forced paths below: no budget
        before = above.get(parts[i - 1])
        had = (
            {e.name: e for e in store.read_tree(before.id)}
            if before is not None and before.is_tree
            else {}
        )
        above = had
        captured = (
            name
            for name, entry_st in listed
            if policy.decide(Candidate(rel=join(directory, name), st=entry_st)).captured
        )
        counted = budgeted.new_entries(directory, captured, had)
        if counted is None:
            return None  # inside a directory the parent skipped for its budget: all known
        if counted[0] > budget:
            return over_budget(counted[0], budget)
    return None


_BUDGET_MEMO: dict[str, BudgetRecords] = {}
"""The last manifest read by :meth:`BudgetRecords.read`, by id (immutable: never invalidated)."""
