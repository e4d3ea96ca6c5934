"""House rules that keep the layers honest."""

from __future__ import annotations

import ast
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
    for path in (ROOT / "daemon" / "snapd" / "store").glob("*.py"):
        text = path.read_text()
        assert "pygls" not in text, path.name
        assert snapd_imports(path) <= {"store"}, path.name


def test_client_exports_are_sorted_and_real() -> None:
    assert snapd_client.__all__ == sorted(snapd_client.__all__)
    for name in snapd_client.__all__:
        assert hasattr(snapd_client, name)


LOWER_MUST_NOT_IMPORT = {
    "store": {"capture", "diff", "hunks", "service", "server", "session", "protocol"},
    "capture": {"diff", "service", "server", "session", "protocol", "restore"},
    "diff": {"service", "server", "session", "protocol"},
    "restore": {"service", "server", "session", "protocol"},
    "watch": {"service", "server", "session", "store", "protocol"},
    "inotify": {"watch", "capture", "service", "server", "session", "store"},
    "service": {"server", "session"},
    "session": {"server"},
    "fileswap": {"store", "capture", "diff", "restore", "service", "protocol"},
    "paging": {"hunks", "diff", "bigdiff", "store", "capture", "service", "protocol"},
    "gitdir": {"capture", "inotify", "watch", "store", "service"},
}


def snapd_imports(path: Path) -> set[str]:
    """The snapd modules a module imports (``from snapd import x``, ``from snapd.x import y``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "snapd":
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("snapd."):
            names.add((node.module or "").split(".")[1])
        elif isinstance(node, ast.Import):
            names.update(a.name.split(".")[1] for a in node.names if a.name.startswith("snapd."))
    return names


def layer_imports(layer: str) -> set[str]:
    """The snapd layers a module or package imports (its own layer excluded)."""
    base = ROOT / "daemon" / "snapd"
    paths = (
        sorted((base / layer).glob("*.py")) if (base / layer).is_dir() else [base / f"{layer}.py"]
    )
    return set().union(*(snapd_imports(p) for p in paths)) - {layer}


def test_capture_policy_knows_nothing_of_the_store() -> None:
    base = ROOT / "daemon" / "snapd" / "capture"
    for name in ("decision", "rules", "generated", "attributes", "policy", "listing"):
        assert "store" not in snapd_imports(base / f"{name}.py"), name


def test_layers_only_import_downwards() -> None:
    found = {}
    for module, banned in LOWER_MUST_NOT_IMPORT.items():
        names = layer_imports(module)
        if names & banned:
            found[module] = sorted(names & banned)
    assert found == {}
