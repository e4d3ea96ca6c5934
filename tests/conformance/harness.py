"""Cases, the per-case context (fresh worktree + store, spawned servers) and the runner."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conformance.lsp import RpcError, Server, ServerGone
from tests.conformance.schema import Schema

DEFAULT_SERVER = [
    sys.executable,
    "-m",
    "snapd",
    "--stdio",
    "--root",
    "{root}",
    "--store",
    "{store}",
    "--log-file",
    "{log}",
]
"""This repository's daemon; ``{root}``, ``{store}`` and ``{log}`` are filled in per case."""

CASE_TIMEOUT = 120.0

LSP_NOTIFICATIONS = frozenset({"$/progress", "window/logMessage", "window/showMessage"})
"""LSP notifications a client may see besides the schema's own."""


class CaseFailed(Exception):
    """A hard failure: the case cannot go on."""


class CaseSkipped(Exception):
    """The case does not apply to this server command."""


@dataclass
class Config:
    """How to run the suite."""

    server: list[str] = field(default_factory=lambda: list(DEFAULT_SERVER))
    schema: Schema = field(default_factory=Schema.load)
    examples: int = 40
    """Hypothesis examples for the hunk round trip."""
    keep: bool = False
    """Keep each case's temporary directory."""
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    """Environment variables set for every server (:func:`run_cases` adds its own)."""

    @staticmethod
    def parse_server(command: str) -> list[str]:
        """Split a ``--server`` command line."""
        return shlex.split(command)


@dataclass
class Case:
    """One conformance case: an async function of a :class:`Ctx`."""

    name: str
    section: str
    fn: Callable[[Ctx], Awaitable[None]]
    doc: str = ""


@dataclass
class Outcome:
    """What a case did."""

    case: Case
    status: str  # "pass", "fail", "skip"
    messages: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


class Ctx:
    """One case's world: a temp dir with worktrees and stores, and the servers it spawned."""

    def __init__(self, config: Config, case: Case) -> None:
        self.config = config
        self.schema = config.schema
        self.case = case
        self.tmp = Path(tempfile.mkdtemp(prefix=f"snapd-conf-{safe(case.name)}-"))
        self.failures: list[str] = []
        self.notes: list[str] = []
        self.servers: list[Server] = []
        self.types_seen: set[str] = set()
        self.root, self.store, self.log = self.paths("main")
        self.root.mkdir(parents=True)

    # -- places --------------------------------------------------------------------------------

    def paths(self, name: str) -> tuple[Path, Path, Path]:
        """A worktree, store and log path under the case's temp dir (nothing is created)."""
        return self.tmp / f"{name}-work", self.tmp / f"{name}-store", self.tmp / f"{name}.log"

    def write(self, rel: str | bytes, data: bytes | str, root: Path | None = None) -> Path:
        """Write a file in the worktree (``rel`` may be raw bytes for non-UTF-8 names)."""
        base = os.fsencode(root or self.root)
        path = os.path.join(base, rel if isinstance(rel, bytes) else os.fsencode(rel))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
        return Path(os.fsdecode(path))

    # -- servers -------------------------------------------------------------------------------

    def argv(
        self, root: Path, store: Path, log: Path, template: list[str] | None = None
    ) -> list[str]:
        """The server command with placeholders filled in."""
        subst = {"{root}": str(root), "{store}": str(store), "{log}": str(log)}
        out = []
        for token in template or self.config.server:
            for key, value in subst.items():
                token = token.replace(key, value)
            out.append(token)
        return out

    async def spawn(
        self,
        root: Path | None = None,
        store: Path | None = None,
        log: Path | None = None,
        template: list[str] | None = None,
    ) -> Server:
        """Start a server (not initialized)."""
        argv = self.argv(root or self.root, store or self.store, log or self.log, template)
        server = await Server.spawn(argv, cwd=self.config.cwd, env=self.config.env)
        self.servers.append(server)
        return server

    async def initialize(
        self,
        server: Server,
        root: Path | None = None,
        options: dict[str, Any] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Send ``initialize`` (+ ``initialized``) and return its result."""
        params: dict[str, Any] = {
            "processId": os.getpid(),
            "rootUri": (root or self.root).resolve().as_uri(),
            "capabilities": {},
            **extra,
        }
        if options is not None:
            params["initializationOptions"] = options
        resp = await server.call("initialize", params)
        if "error" in resp:
            raise RpcError(resp["error"], "initialize")
        await server.notify("initialized", {})
        result: dict[str, Any] = resp.get("result") or {}
        return result

    async def start(
        self,
        root: Path | None = None,
        store: Path | None = None,
        options: dict[str, Any] | None = None,
    ) -> Server:
        """Spawn and initialize a server."""
        server = await self.spawn(root, store)
        await self.initialize(server, root, options)
        return server

    # -- requests ------------------------------------------------------------------------------

    async def call(self, server: Server, method: str, params: Any = None) -> Any:
        """A ``snapd/*`` request whose result must validate; raises :class:`RpcError`."""
        resp = await server.call(method, params)
        if "error" in resp:
            self.check_error(method, resp)
            raise RpcError(resp["error"], method)
        if "result" not in resp:
            self.fail(f"{method}: response has neither result nor error")
        result = resp["result"]
        self.validate(method, result)
        return result

    def validate(self, method: str, result: Any) -> None:
        """Check a result against the schema (failures are recorded, not raised)."""
        problems = self.schema.check_result(method, result)
        self.types_seen |= problems.types_seen
        for p in problems.errors:
            self.check(False, p)
        for n in problems.notes:
            n = re.sub(r"\[\d+\]", "[]", n)
            if n not in self.notes:
                self.notes.append(n)

    def check_error(self, method: str, resp: dict[str, Any]) -> None:
        """An error response is well formed and uses a documented code for the method."""
        err = resp.get("error")
        if not isinstance(err, dict):
            self.check(False, f"{method}: error is not an object: {err!r}")
            return
        code = err.get("code")
        self.check(
            isinstance(code, int) and not isinstance(code, bool),
            f"{method}: error code {code!r} is not an integer",
        )
        self.check(isinstance(err.get("message"), str), f"{method}: error without a message")
        if "data" in err:
            self.check(
                err["data"] is None or isinstance(err["data"], dict),
                f"{method}: error data is not an object: {err['data']!r}",
            )
        documented = self.schema.method_errors(method) if method in self.schema.methods else set()
        if documented and isinstance(code, int):
            self.check(
                code in documented,
                f"{method}: error {code} ({err.get('message')!r}) is not among the codes "
                f"protocol.md lists for it {sorted(documented, reverse=True)}",
            )
        elif isinstance(code, int):
            self.check(code in self.schema.error_codes, f"{method}: undocumented error {code}")

    async def expect_error(
        self,
        server: Server,
        method: str,
        params: Any,
        code: int,
        field: str | None = None,
        what: str = "",
    ) -> dict[str, Any] | None:
        """A request that must fail with ``code`` (and ``data.field`` = ``field``)."""
        resp = await server.call(method, params)
        label = f"{method} {what or compact(params)}"
        if "error" not in resp:
            self.check(False, f"{label}: expected error {code}, got a result")
            if "result" in resp:
                self.validate(method, resp["result"])
            return None
        self.check_error(method, resp)
        err: dict[str, Any] = resp["error"]
        self.check(
            err.get("code") == code,
            f"{label}: expected error {code}, got {err.get('code')} ({err.get('message')!r})",
        )
        if field is not None and err.get("code") == code:
            raw = err.get("data")
            got = raw.get("field") if isinstance(raw, dict) else None
            if isinstance(got, str) and got.startswith(field + "."):
                self.note(f"{label}: data.field={got!r} names a part of {field!r}")
            else:
                self.check(
                    got == field,
                    f"{label}: error {code} should have data.field={field!r}, got {got!r}",
                )
        return err

    async def pages(
        self,
        server: Server,
        method: str,
        params: dict[str, Any],
        *,
        limit: int | None = None,
        max_bytes: int | None = None,
    ) -> tuple[list[Any], list[dict[str, Any]]]:
        """Every item of a paged method (and every page), checking each page's shape."""
        key = self.schema.methods[method]["pageItems"]
        items: list[Any] = []
        pages: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            p = dict(params)
            if limit is not None:
                p["limit"] = limit
            if max_bytes is not None:
                p["maxBytes"] = max_bytes
            if cursor is not None:
                p["cursor"] = cursor
            page = await self.call(server, method, p)
            pages.append(page)
            got = page.get(key, [])
            if limit is not None:
                self.check(len(got) <= limit, f"{method}: {len(got)} items with limit {limit}")
            items += got
            cursor = page.get("nextCursor")
            if cursor is None:
                return items, pages
            self.require(isinstance(cursor, str), f"{method}: nextCursor is not a string")
            self.require(bool(got), f"{method}: a non-final page is empty")
            self.require(len(pages) < 10_000, f"{method}: paging does not terminate")

    # -- verdicts ------------------------------------------------------------------------------

    def check(self, cond: Any, message: str) -> bool:
        """Record a failure unless ``cond``; the case goes on."""
        if not cond:
            self.failures.append(message if len(message) <= 600 else message[:597] + "...")
        return bool(cond)

    def require(self, cond: Any, message: str) -> None:
        """Stop the case unless ``cond``."""
        if not cond:
            raise CaseFailed(message)

    def fail(self, message: str) -> None:
        """Stop the case."""
        raise CaseFailed(message)

    def skip(self, message: str) -> None:
        """The case does not apply."""
        raise CaseSkipped(message)

    def note(self, message: str) -> None:
        """Something informational for the report."""
        self.notes.append(message)

    async def close(self) -> None:
        """Kill every server and remove the temp dir."""
        for server in self.servers:
            await server.kill()
            for v in server.violations:
                self.check(False, f"framing on stdout: {v}")
            for n in server.notifications:
                method = n.get("method")
                if method in self.schema.notifications:
                    problems = self.schema.check_notification(method, n.get("params"))
                    self.types_seen |= problems.types_seen
                    for e in problems.errors:
                        self.check(False, e)
                    continue
                note = f"undocumented notification {method!r} (not in protocol.md)"
                if method not in LSP_NOTIFICATIONS and note not in self.notes:
                    self.notes.append(note)
        if not self.config.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


def compact(value: Any) -> str:
    """A short text of a value for messages."""
    text = repr(value)
    return text if len(text) <= 100 else text[:97] + "..."


def safe(name: str) -> str:
    """A name usable in a file name."""
    return "".join(c if c.isalnum() else "-" for c in name)[:40]


async def run_case(case: Case, config: Config) -> Outcome:
    """Run one case in a fresh context."""
    ctx = Ctx(config, case)
    start = time.monotonic()
    status = "pass"
    try:
        await asyncio.wait_for(case.fn(ctx), CASE_TIMEOUT)
    except CaseSkipped as exc:
        status = "skip"
        ctx.notes.insert(0, str(exc))
    except CaseFailed as exc:
        ctx.failures.append(str(exc))
    except RpcError as exc:
        ctx.failures.append(f"unexpected error response: {exc}")
    except TimeoutError as exc:
        ctx.failures.append(f"timed out: {exc or 'case took too long'}")
    except (ServerGone, ConnectionError) as exc:
        ctx.failures.append(f"the server went away: {type(exc).__name__}: {exc}")
    except Exception as exc:
        tb = traceback.format_exception(exc)
        ctx.failures.append(f"{type(exc).__name__}: {exc}\n{''.join(tb[-3:])}")
    finally:
        await ctx.close()
    if ctx.failures and status == "pass":
        status = "fail"
    return Outcome(case, status, ctx.failures, ctx.notes, time.monotonic() - start)


SHARED_IDLE_TIMEOUT = "10"
"""Seconds the shared daemons a forwarding server starts outlive their last case."""


async def run_cases(cases: list[Case], config: Config, jobs: int = 2) -> list[Outcome]:
    """Run cases, ``jobs`` at a time; outcomes in the order of ``cases``.

    A forwarding ``snapd --stdio`` starts one shared daemon per case's store: they get a
    private runtime directory (so the user's own daemons are neither met nor left behind) and
    a short idle timeout, and every one still running at the end is stopped.
    """
    from tests.helpers import stop_daemons

    sem = asyncio.Semaphore(max(1, jobs))
    runtime = Path(tempfile.mkdtemp(prefix="snapd-rt-"))
    config.env = {
        "XDG_RUNTIME_DIR": str(runtime),
        "SNAPD_IDLE_TIMEOUT": SHARED_IDLE_TIMEOUT,
        **config.env,
    }

    async def one(case: Case) -> Outcome:
        async with sem:
            return await run_case(case, config)

    try:
        return list(await asyncio.gather(*(one(c) for c in cases)))
    finally:
        await asyncio.to_thread(stop_daemons, runtime / "snapd")
        shutil.rmtree(runtime, ignore_errors=True)
