"""Issue 13 regressions in the restore path, against the real daemon over pipes.

A restore brings back what the target snapshot captured even where the live capture skips it
now (items 2 and 13), never loses an edit that lands while it writes (item 5), treats
``paths`` as literal names (item 10), tells a cancelled client what it really did (item 14),
and restores a tree deeper than Python's recursion limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import write
from tests.reliability.harness import RawDaemon

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Any]:
    started: list[RawDaemon] = []

    def start(options: dict[str, Any] | None = None, *extra: str) -> RawDaemon:
        d = RawDaemon.spawn(tmp_path / "work", tmp_path / "store", tmp_path / "d.log", *extra)
        started.append(d)
        assert "result" in d.initialize({"autoSnapshot": False, **(options or {})})
        return d

    (tmp_path / "work").mkdir(exist_ok=True)
    yield start
    for d in started:
        d.kill()
    assert "Traceback" not in (tmp_path / "d.log.stderr").read_text()


def snapshot(d: RawDaemon, label: str | None = None) -> str:
    reply = d.request("snapd/snapshot", {"label": label} if label else {})
    assert "result" in reply, reply
    return str(reply["result"]["id"])


def restore(d: RawDaemon, sid: str, **params: Any) -> dict[str, Any]:
    reply = d.request("snapd/restore", {"from": sid, "dryRun": False, **params})
    assert "result" in reply, reply
    return dict(reply["result"])


# -- item 10: literal paths, separate patterns ----------------------------------------------------


@pytest.mark.fault(
    "#10 restore paths ['app/[id].tsx'] (a Next.js route name): only that file is restored, "
    "app/i.tsx and app/d.tsx are left alone; gitignore patterns go in 'patterns'",
    trials=1,
)
def test_paths_are_literal_and_patterns_are_separate(spawn: Any, tmp_path: Path) -> None:
    root = tmp_path / "work"
    write(root, "app/[id].tsx", "export default 1\n")
    write(root, "docs/a.md", "a\n")
    d = spawn()
    sid = snapshot(d)
    write(root, "app/[id].tsx", "export default 2\n")
    write(root, "app/i.tsx", "the user's own file\n")
    write(root, "app/d.tsx", "another user file\n")
    write(root, "docs/a.md", "edited\n")
    write(root, "docs/b.md", "new\n")

    done = restore(d, sid, paths=["app/[id].tsx"])
    assert (root / "app/[id].tsx").read_text() == "export default 1\n"
    assert (root / "app/i.tsx").read_text() == "the user's own file\n"
    assert (root / "app/d.tsx").read_text() == "another user file\n"
    assert done["written"] == 1 and done["deleted"] == 0, done

    # A pattern is a pattern only in 'patterns'.
    done = restore(d, sid, patterns=["*.md"])
    assert (root / "docs/a.md").read_text() == "a\n"
    assert not (root / "docs/b.md").exists()
    assert (root / "app/i.tsx").exists()
    # A literal '*.md' names a file called '*.md' (there is none): nothing to do.
    write(root, "docs/a.md", "edited again\n")
    done = restore(d, sid, paths=["*.md"])
    assert done["written"] == done["deleted"] == 0, done
    assert (root / "docs/a.md").read_text() == "edited again\n"
    # Empty patterns are refused like empty paths.
    reply = d.request("snapd/restore", {"from": sid, "patterns": []})
    assert reply["error"]["code"] == -32602 and reply["error"]["data"]["field"] == "patterns"
