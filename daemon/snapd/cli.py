"""The ``snapd`` command: argument parsing, logging set-up, and the only reader of ``os.environ``.

``snapd --stdio`` serves JSON-RPC on stdin/stdout. stdout belongs to the protocol: logs go to
stderr or ``--log-file``. The client commands (``snapd snapshot``, ``snapd diff``, ...) belong to
the client package: its ``snapd`` console script (``snapd_client.entry``) sends them there and
everything else here. This module never imports the client (issue 14).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable
from typing import IO, TYPE_CHECKING

from snapd import __version__

if TYPE_CHECKING:
    from snapd.hub import Hub
    from snapd.server import SnapdServer


def _data_home() -> str:
    from snapd.autostart import data_home

    return data_home(os.environ)


def _home() -> str | None:
    home = os.environ.get("HOME") or os.path.expanduser("~")
    return home if home and home != "~" else None


def parser() -> argparse.ArgumentParser:
    """The daemon's argument parser."""
    p = argparse.ArgumentParser(
        prog="snapd",
        description="Worktree snapshot daemon: JSON-RPC (LSP framing) over stdio.",
    )
    p.add_argument("--stdio", action="store_true", help="serve JSON-RPC on stdin/stdout")
    p.add_argument(
        "--listen",
        metavar="SOCKET",
        help="serve many clients on this Unix socket (one shared daemon per worktree)",
    )
    p.add_argument(
        "--standalone",
        action="store_true",
        help="with --stdio: serve in this process instead of through the worktree's shared "
        "daemon (for embedding and tests)",
    )
    p.add_argument(
        "--idle-timeout",
        type=float,
        metavar="SECONDS",
        help="the shared daemon stops after this long with no client connected (default: "
        "$SNAPD_IDLE_TIMEOUT, else idleTimeout in .snapd.toml, else 600)",
    )
    p.add_argument("--root", help="worktree root (default: rootUri from initialize)")
    p.add_argument(
        "--store",
        help="sidecar store directory (default: $XDG_DATA_HOME/snapd/stores/<name>-<hash>)",
    )
    p.add_argument("--log-file", help="write logs here instead of stderr")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    p.add_argument(
        "--content-limit",
        type=float,
        metavar="MIB",
        help="files larger than this (MiB) are recorded as metadata only (default 2)",
    )
    # Test only: a restore sleeps this long after each file, so a test can kill the daemon in
    # the middle of one. Hidden, and never an initializationOptions key.
    p.add_argument("--test-restore-delay", type=float, help=argparse.SUPPRESS)
    # Internal: the file descriptor on which a daemon started by a client says whether it
    # listens (snapd.autostart).
    p.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    p.add_argument("--version", action="version", version=f"snapd {__version__}")
    return p


class _AnsweredErrors(logging.Filter):
    """One INFO line, not an ERROR with a traceback, for wire errors pygls logs after answering.

    An unknown snapshot or a bad cursor is the client's mistake, already reported to it; a
    traceback per such request would bury the log. Unexpected exceptions keep theirs.
    """

    def __init__(self, threshold: int) -> None:
        super().__init__()
        self.threshold = threshold

    def filter(self, record: logging.LogRecord) -> bool:
        from pygls.exceptions import JsonRpcException, JsonRpcInternalError

        exc = record.exc_info[1] if record.exc_info else None
        if (
            record.name.startswith("pygls")
            and isinstance(exc, JsonRpcException)
            and not isinstance(exc, JsonRpcInternalError)
        ):
            record.msg = f"{record.getMessage()}: answered with {exc.code} {exc.message}"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return record.levelno >= self.threshold


def setup_logging(verbosity: int, log_file: str | None) -> None:
    """Send logs to ``log_file`` or stderr, never stdout."""
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbosity, 2)]
    handler: logging.Handler = (
        logging.FileHandler(log_file, encoding="utf-8")
        if log_file
        else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_AnsweredErrors(level))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # pygls logs every frame at INFO; keep that for -vv.
    logging.getLogger("pygls").setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the daemon (``python -m snapd``; the ``snapd`` command's daemon side)."""
    args_in = sys.argv[1:] if argv is None else argv
    args, unknown = parser().parse_known_args(args_in)
    if unknown:
        hint = ""
        if any(not arg.startswith("-") for arg in unknown):
            # `python -m snapd log`: the client commands are not the daemon's to run.
            hint = " (client commands such as 'snapd log' are run by the snapd command)"
        parser().error(f"unrecognized arguments: {' '.join(unknown)}{hint}")
    if not args.stdio and not args.listen:
        parser().error(
            "nothing to do: pass --stdio or --listen SOCKET to serve, or a client command "
            "(snapd --help)"
        )
    if args.stdio and args.listen:
        parser().error("--stdio and --listen: choose one")
    if args.idle_timeout is None and os.environ.get("SNAPD_IDLE_TIMEOUT"):
        try:
            args.idle_timeout = float(os.environ["SNAPD_IDLE_TIMEOUT"])
        except ValueError:
            parser().error("SNAPD_IDLE_TIMEOUT must be a number of seconds")
    if args.idle_timeout is not None and not args.idle_timeout > 0:
        parser().error("the idle timeout must be a positive number of seconds")
    setup_logging(args.verbose, args.log_file)
    overrides: dict[str, object] = {}
    if args.content_limit is not None:
        overrides["contentLimit"] = max(1, int(args.content_limit * 1024 * 1024))
    if args.test_restore_delay is not None:
        overrides["testRestoreDelay"] = args.test_restore_delay

    def make_server(hub: Hub | None = None) -> SnapdServer:
        # Imported here: a forwarder that finds its daemon never loads pygls, dulwich & co.
        from snapd.handlers import build_server

        return build_server(
            root=args.root,
            store=args.store,
            data_home=_data_home(),
            home=_home(),
            overrides=overrides,
            hub=hub,
        )

    def serve(stdin: IO[bytes] | None = None) -> int:
        from snapd.server import serve

        return serve(make_server(), stdin)

    if args.listen:
        return _listen(args, make_server)
    if args.standalone:
        return serve()
    return _forward(args, overrides, serve)


def _listen(args: argparse.Namespace, make_server: Callable[[Hub], SnapdServer]) -> int:
    """``--listen SOCKET``: the shared daemon; tells ``--ready-fd`` whether it listens."""
    from pathlib import Path

    from snapd.autostart import ERROR, READY, SERVED
    from snapd.listener import serve_socket
    from snapd.rendezvous import AlreadyServed, RendezvousError, listen

    def tell(word: str) -> None:
        if args.ready_fd is not None:
            with contextlib.suppress(OSError):
                os.write(args.ready_fd, f"{word}\n".encode())
                os.close(args.ready_fd)

    try:
        sock = listen(Path(args.listen))
    except AlreadyServed as exc:
        # Lost a start-up race: the winner serves; the client that started us connects to it.
        sys.stderr.write(f"snapd: {exc}\n")
        tell(SERVED)
        return 0 if args.ready_fd is not None else 1
    except (RendezvousError, OSError) as exc:
        text = str(exc) if isinstance(exc, RendezvousError) else _os_error_text(exc)
        sys.stderr.write(f"snapd: {text}\n")
        tell(f"{ERROR} {text}")
        return 1
    tell(READY)
    return serve_socket(sock, make_server, args.idle_timeout)


def _os_error_text(exc: OSError) -> str:
    return f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc.strerror or exc)


def _forward(
    args: argparse.Namespace,
    overrides: dict[str, object],
    standalone: Callable[[IO[bytes]], int],
) -> int:
    """``--stdio``: forward to the worktree's shared daemon (started if none runs)."""
    import tempfile

    from snapd.forward import forward

    # The command line's options go to the daemon in initializationOptions (it checks them
    # against the policy its other clients share); the test-only ones on its command line.
    options = {k: v for k, v in overrides.items() if k != "testRestoreDelay"}
    daemon_args = ["-v"] * args.verbose
    if args.idle_timeout is not None:
        daemon_args += ["--idle-timeout", str(args.idle_timeout)]
    if args.test_restore_delay is not None:
        daemon_args += ["--test-restore-delay", str(args.test_restore_delay)]
    try:
        return forward(
            root=args.root,
            store=args.store,
            options=options,
            daemon_args=daemon_args,
            data_home=_data_home(),
            runtime=os.environ.get("XDG_RUNTIME_DIR"),
            tmp=tempfile.gettempdir(),
            uid=os.getuid(),
            env=os.environ,
            standalone=standalone,
        )
    except KeyboardInterrupt:
        return 130
