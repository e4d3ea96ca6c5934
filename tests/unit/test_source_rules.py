"""House rules that keep the layers honest."""

from __future__ import annotations

import re
from pathlib import Path

import snapd_client

ROOT = Path(__file__).resolve().parents[2]


def test_only_cli_reads_the_environment() -> None:
    offenders = [
        p.relative_to(ROOT)
        for p in (ROOT / "daemon" / "snapd").glob("*.py")
        if p.name != "cli.py" and re.search(r"os\.environ[.\[]|os\.getenv\(", p.read_text())
    ]
    assert offenders == []


def test_nothing_prints_to_stdout_in_the_daemon() -> None:
    offenders = [
        p.name
        for p in (ROOT / "daemon" / "snapd").glob("*.py")
        if re.search(r"^\s*print\(", p.read_text(), re.M)
    ]
    assert offenders == []


def test_store_layer_knows_nothing_of_json_rpc() -> None:
    text = (ROOT / "daemon" / "snapd" / "store.py").read_text()
    assert "pygls" not in text and "from snapd" not in text


def test_client_exports_are_sorted_and_real() -> None:
    assert snapd_client.__all__ == sorted(snapd_client.__all__)
    for name in snapd_client.__all__:
        assert hasattr(snapd_client, name)
