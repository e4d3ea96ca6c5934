"""``$/progress`` reports of a long request, sent from its worker thread."""

from __future__ import annotations

import asyncio
import time
from typing import Final

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer

from snapd import protocol

PROGRESS_INTERVAL: Final = 0.2
"""Seconds between ``$/progress`` reports of one snapshot."""


class ProgressReporter:
    """Throttled ``$/progress`` reports from a worker thread, none after the ``end``.

    A cancelled snapshot's ``end`` is sent at once while its thread runs on to its next
    check, so reports still in flight are dropped on the event loop once :meth:`end` ran.
    """

    def __init__(
        self, ls: LanguageServer, token: protocol.ProgressToken, loop: asyncio.AbstractEventLoop
    ) -> None:
        self._ls = ls
        self._token = token
        self._loop = loop
        self._last = 0.0
        self._ended = False
        ls.work_done_progress.begin(
            token, lsp.WorkDoneProgressBegin(title="snapshot", cancellable=True)
        )

    def __call__(self, seen: int, path: str) -> None:
        """Report from the worker thread (at most every ``PROGRESS_INTERVAL`` seconds)."""
        now = time.monotonic()
        if now - self._last < PROGRESS_INTERVAL:
            return
        self._last = now
        value = lsp.WorkDoneProgressReport(message=f"{seen} paths: {path}")
        self._loop.call_soon_threadsafe(self._send, value)

    def _send(self, value: lsp.WorkDoneProgressReport) -> None:
        if not self._ended:
            self._ls.work_done_progress.report(self._token, value)

    def end(self) -> None:
        """Send the ``end`` once (on the event loop); later reports are dropped."""
        if self._ended:
            return
        self._ended = True
        self._ls.work_done_progress.end(self._token, lsp.WorkDoneProgressEnd(message="done"))
