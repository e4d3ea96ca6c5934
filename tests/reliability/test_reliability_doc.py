"""docs/reliability.md lists exactly the faults marked in tests/reliability (regenerate it with
``SNAPD_WRITE_RELIABILITY=1 .venv/bin/pytest tests/reliability``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.reliability.conftest import DOC, ROOT

HERE = Path(__file__).resolve().parent


def doc_rows() -> list[dict[str, str]]:
    rows = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if not line.startswith("| ") or line.startswith("| fault |"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").replace("\\|", "\0").split("|")]
        fault, trials, outcome, nodeid = (c.replace("\0", "|") for c in cells)
        rows.append(
            {"fault": fault, "trials": trials, "outcome": outcome, "nodeid": nodeid.strip("`")}
        )
    return rows


def marked_faults(tmp_path: Path) -> list[dict[str, object]]:
    listing = tmp_path / "faults.json"
    env = {**os.environ, "SNAPD_LIST_FAULTS": str(listing)}
    env.pop("SNAPD_WRITE_RELIABILITY", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            str(HERE),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    found: list[dict[str, object]] = json.loads(listing.read_text())
    return found


def test_published_table_matches_the_marked_faults(tmp_path: Path) -> None:
    assert DOC.exists(), "run: SNAPD_WRITE_RELIABILITY=1 .venv/bin/pytest tests/reliability"
    marked = marked_faults(tmp_path)
    rows = doc_rows()
    assert marked, "no @pytest.mark.fault test was collected"
    assert sorted((str(m["fault"]), str(m["nodeid"])) for m in marked) == sorted(
        (r["fault"], r["nodeid"]) for r in rows
    ), "docs/reliability.md is stale: regenerate it with SNAPD_WRITE_RELIABILITY=1"
    declared = {str(m["nodeid"]): int(str(m["trials"])) for m in marked}
    for row in rows:
        assert int(row["trials"]) >= declared[row["nodeid"]], row
        assert row["outcome"] == "passed" or row["outcome"].startswith("skipped: "), row
