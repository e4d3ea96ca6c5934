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
        for p in (ROOT / "daemon" / "snapd").rglob("*.py")
        if p.name != "cli.py" and re.search(r"os\.environ[.\[]|os\.getenv\(", p.read_text())
    ]
    assert offenders == []


def test_nothing_prints_to_stdout_in_the_daemon() -> None:
    offenders = [
        p.name
        for p in (ROOT / "daemon" / "snapd").rglob("*.py")
        if re.search(r"^\s*print\(", p.read_text(), re.M)
    ]
    assert offenders == []


def test_client_exports_are_sorted_and_real() -> None:
    assert snapd_client.__all__ == sorted(snapd_client.__all__)
    for name in snapd_client.__all__:
        assert hasattr(snapd_client, name)


DAEMON = ROOT / "daemon" / "snapd"

UPPER = {
    "listener",
    "handlers",
    "server",
    "hub",
    "session",
    "cli",
    "requests",
    "worktree",
    "framing",
}
"""The request layer and what serves it."""

WIRE = {"protocol", "errors"}
"""Wire types and wire errors: only the request layer and above speak them."""

LOWER_MUST_NOT_IMPORT: dict[str, set[str]] = {
    # The vocabulary and the domain failures import nothing of snapd.
    "enums": {"*"},
    "failures": {"*"},
    # Where the shared daemon listens and who may connect (issue 15): sockets and files only.
    "rendezvous": {"*"},
    "protocol": UPPER | {"store", "capture", "diff", "restore", "watch", "paging"},
    "store": UPPER | WIRE | {"capture", "diff", "restore", "watch", "paths", "config"},
    "capture": UPPER | WIRE | {"diff", "restore", "watch"},
    "diff": UPPER | WIRE | {"restore", "watch"},
    "restore": UPPER | WIRE | {"watch"},
    "worktree": UPPER - {"worktree"} | WIRE | {"watch"},
    "requests": {"listener", "handlers", "server", "hub", "session", "cli", "framing", "watch"},
    "listener": {"cli"},
    "handlers": {"listener", "cli"},
    "server": {"handlers", "listener", "cli"},
    "hub": {"listener", "handlers", "server", "cli", "framing"},
    "session": {"listener", "handlers", "server", "hub", "cli", "framing"},
    "watch": UPPER | {"store", "protocol", "diff", "restore"},
    "framing": {"server", "session", "requests", "worktree", "store", "capture"},
    "progress": UPPER | {"store", "capture", "diff", "restore", "watch"},
    "fileswap": UPPER | WIRE | {"store", "capture", "diff", "restore"},
    "paging": UPPER | {"diff", "store", "capture", "restore", "protocol"},
    "gitdir": UPPER | {"capture", "watch", "store"},
}
"""Each layer (a module or a package of snapd) and the layers it must not import."""

ONLY_IMPORTS: dict[str, set[str]] = {
    # How a client finds (or starts) the shared daemon: on every client's fast path (the
    # command line, the forwarder), so the standard library and the rendezvous only.
    "autostart": {"rendezvous"},
    # `snapd --stdio`'s forwarder copies bytes; it serves nothing itself.
    "forward": {"autostart", "rendezvous"},
}
"""Layers that may import only the layers named."""

MAX_LINES = 600
GENERATED = {"protocol/messages.py"}


def snapd_imports(path: Path) -> set[str]:
    """The snapd layers a module imports (``from snapd import x``, ``from snapd.x import y``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "snapd":
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("snapd."):
            names.add((node.module or "").split(".")[1])
        elif isinstance(node, ast.Import):
            names.update(a.name.split(".")[1] for a in node.names if a.name.startswith("snapd."))
    return names


def layer_files(layer: str) -> list[Path]:
    """The files of a layer: a package's modules, or one module."""
    return (
        sorted((DAEMON / layer).glob("*.py"))
        if (DAEMON / layer).is_dir()
        else [DAEMON / f"{layer}.py"]
    )


def layer_imports(layer: str) -> set[str]:
    """The snapd layers a module or package imports (its own layer excluded)."""
    return set().union(*(snapd_imports(p) for p in layer_files(layer))) - {layer}


def test_layers_only_import_downwards() -> None:
    found = {}
    for layer, banned in LOWER_MUST_NOT_IMPORT.items():
        names = layer_imports(layer)
        bad = names if "*" in banned else names & banned
        if bad:
            found[layer] = sorted(bad)
    for layer, allowed in ONLY_IMPORTS.items():
        if bad := layer_imports(layer) - allowed:
            found[layer] = sorted(bad)
    assert found == {}


def test_every_layer_has_a_rule() -> None:
    layers = {p.stem for p in DAEMON.glob("*.py")} | {
        p.name for p in DAEMON.iterdir() if p.is_dir() and (p / "__init__.py").exists()
    }
    exempt = {"__init__", "__main__", "cli", "config", "errors", "paths"}
    assert layers - exempt - set(LOWER_MUST_NOT_IMPORT) - set(ONLY_IMPORTS) == set()


def test_store_layer_knows_nothing_of_json_rpc() -> None:
    for path in layer_files("store"):
        text = path.read_text()
        assert "pygls" not in text and "lsprotocol" not in text, path.name
        assert snapd_imports(path) <= {"store", "enums"}, path.name


def test_the_inotify_reader_asks_only_where_the_git_directory_is() -> None:
    assert snapd_imports(DAEMON / "watch" / "inotify.py") <= {"gitdir"}


def test_capture_policy_knows_nothing_of_the_store() -> None:
    for name in ("decision", "rules", "generated", "attributes", "policy", "listing"):
        assert "store" not in snapd_imports(DAEMON / "capture" / f"{name}.py"), name


def test_no_module_is_over_600_lines() -> None:
    long = {
        str(p.relative_to(DAEMON)): n
        for p in DAEMON.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
        and str(p.relative_to(DAEMON)) not in GENERATED
    }
    assert long == {}


def _module_graph() -> dict[str, set[str]]:
    """snapd module -> the snapd modules it imports at run time (not under TYPE_CHECKING)."""
    modules = {
        ".".join(("snapd", *p.relative_to(DAEMON).with_suffix("").parts)).removesuffix(
            ".__init__"
        ): p
        for p in DAEMON.rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("snapd"):
                base = node.module or ""
                for alias in node.names:
                    child = f"{base}.{alias.name}"
                    deps.add(child if child in modules else base)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name in modules)
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def test_no_import_cycle() -> None:
    graph = _module_graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append([*trail[trail.index(dep) :], dep] if dep in trail else [node, dep])
            elif dep not in state:
                visit(dep, [*trail, dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    # A package's __init__ re-exporting its modules is not a cycle of design.
    real = [
        c
        for c in cycles
        if not any(m.count(".") < 2 and m in ("snapd.protocol", "snapd.requests") for m in c)
    ]
    assert real == []


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
