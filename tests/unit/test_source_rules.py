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


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it (lazy imports in functions included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Name) and node.func.id == "__import__")
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
            )
        ):
            names.add(node.args[0].value)
    return names


def test_the_daemon_never_imports_the_client() -> None:
    # Issue 14: the client depends on the daemon's protocol, never the other way round; the
    # `snapd` console script's dispatch lives in snapd_client.entry.
    modules = sorted((ROOT / "daemon" / "snapd").rglob("*.py"))
    assert len(modules) > 10
    offenders = {
        str(p.relative_to(ROOT)): sorted(
            m for m in imported_modules(p) if m.split(".")[0] == "snapd_client"
        )
        for p in modules
    }
    assert {k: v for k, v in offenders.items() if v} == {}
