"""Property: reverting a step leaves exactly the later edits; overlapping edits are conflicts.

For random base files, random step edits and random later edits:

* where the later edits touch other regions than the step (at least one untouched line
  between them), reverting the step gives the base file with only the later edits;
* where they touch the same line, the file is left untouched and listed as a conflict with
  the step's hunk;
* through the real request layer on a real worktree, over several files at once: every file
  is merged or untouched as above, and reverting the step from the revert's safety snapshot
  to a snapshot taken after it gives the live tree back as it was before the revert.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from snapd import protocol, requests
from snapd.restore.merge import revert_step
from tests.helpers import close_services, make_service, write

# Each base line gets a role: untouched, edited by the step, or edited later. An edit is a
# replacement, a deletion, or a line inserted after it.
ROLE = st.sampled_from(["keep", "keep", "step", "later"])
EDIT = st.sampled_from(["replace", "delete", "insert"])


@st.composite
def scenario(draw: st.DrawFn, overlap: bool = False) -> tuple[list[str], list[tuple[str, str]]]:
    """Base lines and a (role, edit) per line, step and later edits never adjacent."""
    n = draw(st.integers(min_value=3, max_value=30))
    roles = [draw(ROLE) for _ in range(n)]
    for i in range(1, n):
        if {roles[i - 1], roles[i]} == {"step", "later"}:
            roles[i] = "keep"  # an untouched line between the step's and the later edits
    if overlap:
        roles[draw(st.integers(min_value=0, max_value=n - 1))] = "both"
    base = [f"base {i}\n" for i in range(n)]
    return base, [(role, draw(EDIT)) for role in roles]


def edited(base: list[str], plan: list[tuple[str, str]], who: tuple[str, ...], both: str) -> str:
    """The base with the edits of the roles in ``who`` (``both`` lines: ``both``'s text)."""
    out: list[str] = []
    for i, (line, (role, edit)) in enumerate(zip(base, plan, strict=True)):
        if role == "both":
            out.append(f"{both} edit {i}\n")
        elif role not in who:
            out.append(line)
        elif edit == "replace":
            out.append(f"{role} {i}\n")
        elif edit == "insert":
            out += [line, f"{role} new after {i}\n"]
    return "".join(out)


def apply(base: list[str], plan: list[tuple[str, str]], who: str) -> str:
    """The base with ``who``'s edits (``both`` lines are edited by each, differently)."""
    return edited(base, plan, (who,), who)


def _both(base: list[str], plan: list[tuple[str, str]]) -> str:
    """The step's edits, then the later ones (on ``both`` lines the later edit wins)."""
    return edited(base, plan, ("step", "later"), "later")


def revert_text(before: str, after: str, live: str) -> tuple[bytes | None, int]:
    done = revert_step(
        before.encode(), after.encode(), live.encode(), timeout=1.0, max_line_chars=1000
    )
    return done.merged, len(done.conflicts)


@given(scenario())
def test_revert_leaves_exactly_the_later_edits(case: tuple[list[str], list[Any]]) -> None:
    base, plan = case
    before = "".join(base)
    after = apply(base, plan, "step")
    live = _both(base, plan)
    merged, conflicts = revert_text(before, after, live)
    assert conflicts == 0
    assert merged == apply(base, plan, "later").encode()


@given(scenario(overlap=True))
def test_overlapping_edits_are_a_conflict(case: tuple[list[str], list[Any]]) -> None:
    base, plan = case
    before = "".join(base)
    after = apply(base, plan, "step")
    live = _both(base, plan)
    merged, conflicts = revert_text(before, after, live)
    assert merged is None and conflicts >= 1


FILES = st.lists(st.tuples(scenario(), st.booleans()), min_size=1, max_size=4)


@settings(max_examples=25)
@given(FILES)
def test_revert_through_the_worktree_and_back(files: list[tuple[Any, bool]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root, store = Path(tmp) / "w", Path(tmp) / "s"
        root.mkdir()
        svc = make_service(root, store)
        try:
            _round_trip(svc, root, files)
        finally:
            close_services()


def _round_trip(svc: Any, root: Path, files: list[tuple[Any, bool]]) -> None:
    cases = []
    for k, ((base, plan), overlap) in enumerate(files):
        if overlap:
            plan = [("both", e) if r == "step" else (r, e) for r, e in plan]
            if all(r != "both" for r, _ in plan):
                overlap = False
        cases.append((f"f{k}.txt", base, plan, overlap))
    for name, base, _plan, _ in cases:
        write(root, name, "".join(base))
    write(root, "other.txt", "untouched by the step\n")
    before = requests.snapshot(svc, protocol.SnapshotParams(label="before")).id
    for name, base, plan, _ in cases:
        write(root, name, apply(base, plan, "step"))
    after = requests.snapshot(svc, protocol.SnapshotParams(label="after")).id
    for name, base, plan, _ in cases:
        write(root, name, _both(base, plan))
    write(root, "other.txt", "a later edit of a file the step did not touch\n")
    live = _tree(root)
    step = protocol.RevertParams(from_=before, to=after, dry_run=False)
    done = requests.revert(svc, step)
    by_path = {a.path: a for a in done.plan}
    for name, base, plan, overlap in cases:
        if apply(base, plan, "step") == "".join(base):
            assert name not in by_path  # the step did not change it
            continue
        if overlap:
            assert by_path[name].action is protocol.RevertActionKind.CONFLICT
            assert by_path[name].hunks
            assert (root / name).read_text() == live[name]
        else:
            assert by_path[name].action in (
                protocol.RevertActionKind.MERGE,
                protocol.RevertActionKind.REVERT,
            )
            assert (root / name).read_text() == apply(base, plan, "later")
    assert "other.txt" not in by_path and (root / "other.txt").read_text() == live["other.txt"]
    if done.safety_snapshot is None:
        assert _tree(root) == live
        return
    # Reverting the revert (the step from its safety snapshot to now) gives the live tree back.
    now = requests.snapshot(svc, protocol.SnapshotParams(label="reverted")).id
    back = protocol.RevertParams(from_=done.safety_snapshot, to=now, dry_run=False)
    again = requests.revert(svc, back)
    assert {a.action for a in again.plan} <= {protocol.RevertActionKind.REVERT}
    assert _tree(root) == live


def _tree(root: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in root.iterdir() if p.is_file()}
