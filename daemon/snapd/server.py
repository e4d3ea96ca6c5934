"""The JSON-RPC server: pygls with LSP framing and lifecycle, one per connection.

pygls supplies the LSP lifecycle (``initialize``/``initialized``/``shutdown``/``exit``),
``$/cancelRequest`` and ``$/progress``. Two parts are snapd's own:

* :class:`SnapdProtocol` registers snapd's attrs types (so params are never pygls' untyped
  namedtuple fallback), answers requests that arrive before ``initialize`` or after
  ``shutdown`` with an error, and advertises the protocol version in ``initialize``.
* :class:`FrameReader` replaces pygls' stdin loop, which reads any ``Content-Length`` it is
  given (a gigantic one allocates it) and drops a request it cannot parse without answering.
  Here every frame is bounded, and every bad frame gets a JSON-RPC error while the daemon
  keeps serving.

The ``snapd/*`` handlers themselves are registered by :func:`snapd.handlers.build_server`.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Generator
from typing import IO, Any, BinaryIO, Final

import cattrs
from lsprotocol import types as lsp
from pygls.exceptions import (
    FeatureRequestError,
    JsonRpcException,
    JsonRpcInvalidRequest,
    JsonRpcServerNotInitialized,
)
from pygls.io_ import StdoutWriter
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method
from pygls.uris import to_fs_path

from snapd import PROTOCOL_VERSION, __version__, errors, protocol
from snapd.config import Options
from snapd.framing import Frame, FrameReader
from snapd.hub import Hub
from snapd.rendezvous import default_store_path
from snapd.session import Session
from snapd.worktree import Worktree

logger = logging.getLogger(__name__)


LIFECYCLE: Final = frozenset({lsp.INITIALIZE, lsp.SHUTDOWN, lsp.EXIT})

_CONNECTIONS: Final = itertools.count()
"""Ranks the connections of this process in the order they were made."""


def _dropped(method: str) -> Any:
    """A pygls built-in handler for ``method`` that ignores the notification.

    Typed ``Any``: it replaces methods whose parameter types differ (one per notification).
    """

    @lsp_method(method)
    def drop(self: Any, params: Any) -> Generator[Any, Any, None]:
        logger.debug("dropped %s: snapd reads the worktree, not editor buffers", method)
        yield from ()

    return drop


@functools.cache
def shared_converter() -> cattrs.Converter:
    """The converter every connection of this process uses (pygls asks one per server).

    cattrs builds each type's (un)structure function on first use and keeps it in the
    converter: a converter per connection rebuilt them for every client of a shared daemon,
    some 40 ms per ``initialize``. The converter is not changed after it is made.
    """
    return protocol.converter()


class SnapdProtocol(LanguageServerProtocol):
    """pygls' LSP protocol with snapd's methods and lifecycle checks."""

    _server: SnapdServer

    def get_message_type(self, method: str) -> type[Any] | None:  # type: ignore[override]
        """Request types of ``snapd/*`` methods, else lsprotocol's."""
        types = protocol.METHOD_TO_TYPES.get(method)
        if types is not None:
            return types.request
        notification = protocol.NOTIFICATION_TO_TYPES.get(method)
        if notification is not None:
            return notification[0]
        return super().get_message_type(method)

    def get_result_type(self, method: str) -> type[Any] | None:  # type: ignore[override]
        """Response types of ``snapd/*`` methods, else lsprotocol's."""
        types = protocol.METHOD_TO_TYPES.get(method)
        return types.response if types else super().get_result_type(method)

    def handle_message(self, message: Any) -> None:
        """Refuse requests before ``initialize`` and after ``shutdown``; then dispatch."""
        method = getattr(message, "method", None)
        msg_id = getattr(message, "id", None)
        if method is not None and msg_id is not None and method != lsp.EXIT and self._shutdown:
            # pygls drops these silently; LSP wants an answer (a second shutdown included).
            err = JsonRpcInvalidRequest("the server is shut down: only 'exit' is accepted")
            self.send_error(msg_id, err)
            return
        if method == lsp.INITIALIZE and msg_id is not None:
            if self._server.session is not None or self._server.initializing:
                # One worktree per connection: a second initialize would open a second
                # session and leak the first (its store lock and watcher).
                self.send_error(
                    msg_id,
                    JsonRpcInvalidRequest(
                        "the server is already initialized: a connection sends 'initialize' "
                        "once (open another connection for another worktree)"
                    ),
                )
                return
            self._server.initializing = True
        if method is not None and msg_id is not None and method not in LIFECYCLE:
            if self._server.worktree is None:
                self.send_error(msg_id, JsonRpcServerNotInitialized("send 'initialize' first"))
                return
        super().handle_message(message)
        future = self._request_futures.get(msg_id) if msg_id is not None else None
        if isinstance(method, str) and future is not None and not future.done():
            # In progress until answered or cancelled (snapd/daemonStatus lists them).
            running = self._server.running
            running[msg_id] = method
            future.add_done_callback(lambda _: running.pop(msg_id, None))

    def send_error(self, msg_id: Any, exc: JsonRpcException) -> None:
        """Answer a request (``msg_id`` None: a message with no usable id) with an error."""
        self._send_data(
            {
                "jsonrpc": "2.0",
                "id": msg_id,
                "error": self._converter.unstructure(exc.to_response_error()),
            }
        )

    @lsp_method(lsp.INITIALIZE)
    def lsp_initialize(
        self, params: lsp.InitializeParams
    ) -> Generator[Any, Any, lsp.InitializeResult]:
        """Pygls' initialize, plus snapd's protocol version and methods in ``experimental``."""
        result: lsp.InitializeResult = yield from super().lsp_initialize(params)
        # snapd reads the worktree, never editor buffers: a client must not send documents
        # (holding them would make memory grow with file size), nor folder changes (one
        # worktree per daemon), nor commands.
        caps = result.capabilities
        caps.text_document_sync = lsp.TextDocumentSyncKind.None_
        caps.workspace = None
        caps.execute_command_provider = None
        caps.experimental = {
            "snapd": {
                "protocolVersion": PROTOCOL_VERSION,
                "methods": sorted(protocol.METHOD_TO_TYPES),
            }
        }
        return result

    @lsp_method(lsp.EXIT)
    def lsp_exit(self, *args: Any) -> Generator[Any, Any, None]:
        """``exit`` ends the process, or only this connection in a shared daemon."""
        hang_up = self._server.hang_up
        if hang_up is None:
            yield from super().lsp_exit(*args)
            return
        hang_up()
        yield from ()

    # Document and folder notifications are dropped, in case a client sends them anyway:
    # pygls would keep every opened document's text (and apply edits to it) in memory. The
    # names are pygls's own handlers', which these replace.
    lsp_text_document__did_open = _dropped(lsp.TEXT_DOCUMENT_DID_OPEN)
    lsp_text_document__did_change = _dropped(lsp.TEXT_DOCUMENT_DID_CHANGE)
    lsp_text_document__did_close = _dropped(lsp.TEXT_DOCUMENT_DID_CLOSE)
    lsp_notebook_document__did_open = _dropped(lsp.NOTEBOOK_DOCUMENT_DID_OPEN)
    lsp_notebook_document__did_change = _dropped(lsp.NOTEBOOK_DOCUMENT_DID_CHANGE)
    lsp_notebook_document__did_close = _dropped(lsp.NOTEBOOK_DOCUMENT_DID_CLOSE)
    lsp_workspace__did_change_workspace_folders = _dropped(
        lsp.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS
    )


class SnapdServer(LanguageServer):
    """The snapd language server: one worktree, one store, one :class:`Worktree`."""

    def __init__(
        self,
        *,
        root: str | None,
        store: str | None,
        data_home: str,
        home: str | None = None,
        overrides: dict[str, Any] | None = None,
        hub: Hub | None = None,
    ) -> None:
        super().__init__(
            "snapd", __version__, protocol_cls=SnapdProtocol, converter_factory=shared_converter
        )
        self.cli_root = root
        self.cli_store = store
        self.data_home = data_home
        self.home = home
        self.overrides = overrides or {}
        self.options = Options().with_wire(self.overrides, "command line", hidden=True)
        self.hub = hub if hub is not None else Hub()
        """The session this connection shares with the daemon's other clients."""
        self.session: Session | None = None
        self.initializing = False
        """True from an ``initialize`` request until it is answered."""
        self.exit_code = 0
        self.client_name: str | None = None
        """``clientInfo.name`` from ``initialize``: recorded with the snapshots it takes."""
        self.hang_up: Callable[[], None] | None = None
        """Ends this connection (a shared daemon's); None: ``exit`` ends the process."""
        self.connection = next(_CONNECTIONS)
        self.connected_at = time.time()
        """When the client connected (``snapd/daemonStatus`` lists clients in this order)."""
        self.peer_pid: int | None = None
        """The client's pid, from the kernel (a shared daemon's connection); None: unknown."""
        self.running: dict[Any, str] = {}
        """This connection's requests in progress: method by request id, oldest first."""

    @property
    def worktree(self) -> Worktree | None:
        """The served worktree, once initialized."""
        return self.session.worktree if self.session is not None else None

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Log errors (pygls would pop up a window/showMessage instead).

        A wire error answering a request was already sent to the client: debug level only.
        """
        answered = source is FeatureRequestError and isinstance(error, errors.SnapdError)
        level = logging.DEBUG if answered else logging.ERROR
        logger.log(level, "%s: %s", getattr(source, "__name__", source), error)

    # -- lifecycle -----------------------------------------------------------------------------

    async def open_session(self, params: lsp.InitializeParams) -> None:
        """Open the worktree and store named by the CLI or ``initialize``; start watching."""
        asked, field = None, "root"
        if params.root_uri:
            asked, field = to_fs_path(params.root_uri), "rootUri"
        elif params.root_path:
            asked, field = params.root_path, "rootPath"
        elif params.workspace_folders:
            asked, field = to_fs_path(params.workspace_folders[0].uri), "workspaceFolders"
        root = self.cli_root if self.cli_root is not None else asked
        if self.cli_root is not None:
            field = "root"
        if root is None:
            raise errors.NoWorktree(
                "no worktree: start snapd with --root or send rootUri/workspaceFolders"
            )
        try:
            # Precedence: defaults < .snapd.toml < initializationOptions < command line.
            options = (
                Options()
                .with_config_file(root)
                .with_wire(params.initialization_options)
                .with_wire(self.overrides, "command line", hidden=True)
            )
        except ValueError as exc:
            raise errors.InvalidParams(str(exc), field="initializationOptions") from exc
        self._refuse_broad_root(root, field, options)
        store = self.cli_store or default_store_path(self.data_home, root)
        self.client_name = params.client_info.name if params.client_info is not None else None
        self.session = await self.hub.attach(
            self, self.client_name or "", root, store, options, asked=asked
        )
        self.options = options  # page sizes and the frame limit are this connection's own

    def _refuse_broad_root(self, root: str, field: str, options: Options) -> None:
        """Refuse ``/`` and the home directory unless ``allowBroadRoot`` is set.

        Watching either means watching (and snapshotting) a whole system or every project at
        once: almost always a mistake, and costly before anyone notices.
        """
        if options.allow_broad_root:
            return
        real = os.path.realpath(root)
        broad = {os.path.realpath(os.sep)}
        if self.home:
            broad.add(os.path.realpath(self.home))
        if real in broad:
            what = "the filesystem root" if real == os.path.realpath(os.sep) else "your home"
            raise errors.InvalidParams(
                f"refusing to serve {real} ({what} directory) as a worktree: open a project "
                "directory, or set the option allowBroadRoot: true to force it",
                field=field,
                root=real,
            )

    def max_frame_bytes(self) -> int:
        """The frame limit: this connection's options (the command line's before initialize)."""
        return self.options.max_frame_bytes

    def notify(self, method: str, params: Any) -> None:
        """Send a notification to this connection's client."""
        self.protocol.notify(method, params)

    async def close_session(self) -> None:
        """Leave the shared session; the last client out closes it (idempotent)."""
        session, self.session = self.session, None
        if session is not None:
            await self.hub.detach(self)

    # -- stdio ---------------------------------------------------------------------------------

    def serve_stdio(self, stdin: IO[bytes], stdout: BinaryIO) -> int:
        """Serve until ``exit`` or EOF; returns the process exit code."""
        self.protocol.set_writer(StdoutWriter(stdout))
        try:
            asyncio.run(self.serve_frames(stdin))
        except SystemExit as exc:  # pygls' exit handler calls sys.exit(0 or 1)
            self.exit_code = exc.code if isinstance(exc.code, int) else 1
        except BrokenPipeError:
            logger.error("the client closed our stdout; stopping")
            self.exit_code = 1
        except KeyboardInterrupt:  # Ctrl-C: stop quietly, as the forwarder does
            self.exit_code = 130
        finally:
            # Exit without shutdown, or a broken pipe: release the store without the loop.
            session, self.session = self.session, None
            if session is not None:
                session.worktree.close()
        return self.exit_code

    async def serve_frames(self, stdin: IO[bytes]) -> None:
        """Read and dispatch frames until EOF, then leave the session."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Frame | None] = asyncio.Queue(maxsize=64)
        reader = FrameReader(stdin, self.max_frame_bytes)

        def pump() -> None:
            # A daemon thread, so a client that never closes stdin cannot keep us alive.
            try:
                for frame in reader:
                    asyncio.run_coroutine_threadsafe(queue.put(frame), loop).result()
            except OSError as exc:  # a client killed mid-frame resets its connection
                logger.info("the client's connection broke: %s", exc.strerror or exc)
            asyncio.run_coroutine_threadsafe(queue.put(None), loop).result()

        threading.Thread(target=pump, name="snapd-stdin", daemon=True).start()
        while (frame := await queue.get()) is not None:
            self._dispatch(frame)
        logger.info("the client closed its end; leaving the session")
        await self.cancel_requests()
        await self.close_session()

    async def cancel_requests(self) -> None:
        """Cancel this connection's requests still running (its client is gone) and wait.

        Only this client's: a shared daemon's other clients are not touched. A snapshot stops
        at its next file, a restore before its next write (see the handlers).
        """
        # pygls keeps a connection's running requests here (it has no public accessor).
        running = list(self.protocol._request_futures.values())
        for future in running:
            future.cancel()
        # Handlers on the event loop are asyncio futures (wrap_future returns them as they are).
        tasks = [asyncio.wrap_future(f) for f in running if isinstance(f, asyncio.Future)]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _dispatch(self, frame: Frame) -> None:
        proto = self.protocol
        assert isinstance(proto, SnapdProtocol)
        if frame.error is not None:
            proto.send_error(None, frame.error)
            return
        data = frame.data
        if not isinstance(data, dict):
            proto.send_error(
                None, JsonRpcInvalidRequest("batches and non-objects are not supported")
            )
            return
        msg_id = data.get("id")
        valid_id = isinstance(msg_id, int | str) and not isinstance(msg_id, bool)
        if data.get("jsonrpc") != "2.0" or (msg_id is not None and not valid_id):
            proto.send_error(
                msg_id if valid_id else None,
                JsonRpcInvalidRequest("not a JSON-RPC 2.0 message"),
            )
            return
        if "method" in data and not isinstance(data["method"], str):
            proto.send_error(msg_id, JsonRpcInvalidRequest("method must be a string"))
            return
        if "id" in data and msg_id is None and "method" in data:
            # JSON-RPC discourages a null id and LSP forbids it; running it as a notification
            # would leave a client waiting for an answer that never comes.
            proto.send_error(
                None, JsonRpcInvalidRequest("a request id must be an integer or a string, not null")
            )
            return
        method = data.get("method")
        if msg_id is not None and isinstance(method, str) and _is_notification(method):
            # pygls would run it as a notification and never answer: the client, which sent
            # an id, would wait forever. JSON-RPC: a message with an id gets a response.
            proto.send_error(
                msg_id, JsonRpcInvalidRequest(f"{method} is a notification: it takes no id")
            )
            return
        if msg_id is not None and method in protocol.METHOD_TO_TYPES:
            # JSON-RPC allows omitting params; snapd's params are always an object.
            if not isinstance(data.setdefault("params", {}), dict):
                proto.send_error(
                    msg_id, errors.InvalidParams("params must be an object", field="params")
                )
                return
        try:
            message = proto.structure_message(data)
        except JsonRpcException as exc:
            cause = exc.__cause__
            if "method" not in data or msg_id is None:
                logger.warning("dropping a malformed notification or response: %s", cause)
                return
            proto.send_error(msg_id, invalid_params(cause))
            return
        proto.handle_message(message)


def _is_notification(method: str) -> bool:
    """True for a method that is a notification (lsprotocol's have no result type)."""
    if method in protocol.NOTIFICATION_TO_TYPES:
        return True
    types = lsp.METHOD_TO_TYPES.get(method)
    return types is not None and types[1] is None


def invalid_params(cause: BaseException | None) -> errors.InvalidParams:
    """Turn a cattrs validation error into InvalidParams naming the wire field."""
    if isinstance(cause, cattrs.ClassValidationError):
        problems = cattrs.transform_error(cause, path="$")
        fields = [_wire_path(p.rsplit(" @ ", 1)[-1]) for p in problems]
        messages = [
            f"{_wire_path(p.rsplit(' @ ', 1)[-1])}: {p.rsplit(' @ ', 1)[0]}" for p in problems
        ]
        return errors.InvalidParams(
            "invalid params: " + "; ".join(messages),
            field=fields[0] if fields else None,
            errors=messages,
        )
    return errors.InvalidParams(f"invalid params: {cause}")


def _wire_path(path: str) -> str:
    """``$.params.from_`` -> ``from``; ``$.params.max_bytes`` -> ``maxBytes``."""
    parts = path.split(".")
    if parts and parts[0] == "$":
        parts = parts[1:]
    if parts and parts[0] == "params":
        parts = parts[1:]
    return ".".join(protocol.wire_name(p) for p in parts) or "params"


def serve(server: SnapdServer, stdin: IO[bytes] | None = None) -> int:
    """Serve on the process's stdin (or ``stdin``) and stdout."""
    import sys

    if stdin is None:
        stdin = os.fdopen(sys.stdin.fileno(), "rb", buffering=65536, closefd=False)
    return server.serve_stdio(stdin, sys.stdout.buffer)
