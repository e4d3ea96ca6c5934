"""Snapshot names (issue 18): ids, ``latest~N``, labels and prefixes, in that precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from snapd import protocol, requests
from snapd.failures import NoSuchSnapshot
from snapd.store import names
from snapd.worktree import Worktree
from tests.helpers import make_service, write


def take(svc: Worktree, root: Path, i: int, label: str | None = None) -> str:
    write(root, "src/main.txt", f"version {i}\n")
    return requests.snapshot(svc, protocol.SnapshotParams(label=label)).id


@pytest.fixture
def svc(worktree: Path, store_dir: Path) -> Worktree:
    return make_service(worktree, store_dir, watch=False)


def test_latest_and_its_ancestors(svc: Worktree, worktree: Path) -> None:
    with pytest.raises(NoSuchSnapshot, match="no snapshot has been taken yet"):
        svc.resolve("latest~1", "from")
    ids = [take(svc, worktree, i) for i in range(4)]
    assert svc.resolve("latest", "from").id == ids[-1]
    assert svc.resolve("latest~0", "from").id == ids[-1]
    assert svc.resolve("latest~", "from").id == ids[-2]
    assert svc.resolve("latest~3", "to").id == ids[0]
    with pytest.raises(NoSuchSnapshot, match=r"goes back 4 snapshots, but only 4 are retained"):
        svc.resolve("latest~4", "to")
    for other in ("latest~-1", "latest~1~1", "LATEST", "latest^"):
        with pytest.raises(NoSuchSnapshot, match="no snapshot is named") as exc:
            svc.resolve(other, "from")
        assert exc.value.data == {"field": "from", "ref": other}


def test_labels_are_exact_and_win_over_prefixes_but_not_over_ids(
    svc: Worktree, worktree: Path
) -> None:
    first = take(svc, worktree, 0, "turn 1")
    spelled = take(svc, worktree, 1, first[:8])  # a label that spells first's id prefix
    full = take(svc, worktree, 2, first)  # a label that spells first's whole id
    assert svc.resolve("turn 1", "from").id == first
    assert svc.resolve(first[:8], "from").id == spelled
    assert svc.resolve(first[:8].upper(), "from").id == first  # not the label: a prefix
    assert svc.resolve(first[:9], "from").id == first
    assert svc.resolve(first, "from").id == first  # a full id beats a label
    assert svc.resolve(full[:6], "from").id == full
    for near in ("turn", "Turn 1", "turn 1 ", "turn  1"):
        with pytest.raises(NoSuchSnapshot, match="no snapshot is named"):
            svc.resolve(near, "from")


def test_an_ambiguous_label_lists_a_few_candidates_newest_first(
    svc: Worktree, worktree: Path
) -> None:
    ids = [take(svc, worktree, i, "again") for i in range(names.SHOWN + 2)]
    with pytest.raises(NoSuchSnapshot) as exc:
        svc.resolve("again", "to")
    message = exc.value.message
    assert message.startswith("to: 'again' is ambiguous: 7 snapshots have this label: ")
    newest = ids[::-1][: names.SHOWN]
    assert exc.value.data == {"field": "to", "ref": "again", "candidates": newest}
    positions = [message.index(oid[:12]) for oid in newest]
    assert positions == sorted(positions)
    assert ids[0][:12] not in message and "and 2 more" in message
    assert message.count('"again"') == names.SHOWN and " UTC " in message


def test_a_label_with_a_newline_and_a_trailer_inside_names_only_itself(
    svc: Worktree, worktree: Path
) -> None:
    tricky = 'x\nSnapd-Label: "y"'
    one = take(svc, worktree, 0, tricky)
    take(svc, worktree, 1, "y")
    assert svc.resolve(tricky, "from").id == one
    assert svc.resolve("y", "from").id != one


def test_names_work_in_every_request(svc: Worktree, worktree: Path) -> None:
    first = take(svc, worktree, 0, "base")
    take(svc, worktree, 1)
    diff = requests.diff(svc, protocol.DiffParams(from_="base", to="latest"))
    assert [f.path for f in diff.files] == ["src/main.txt"]
    hunks = requests.hunks(
        svc, protocol.HunksParams(from_="latest~1", to="latest", path="src/main.txt")
    )
    assert [h.lines for h in hunks.hunks] == [["-version 0", "+version 1"]]
    assert requests.pin(svc, protocol.PinParams(id="base")).id == first
    plan = requests.restore(svc, protocol.RestoreParams(from_="latest~1"))
    assert [a.path for a in plan.plan] == ["src/main.txt"]
