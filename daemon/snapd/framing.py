"""Reading LSP frames (``Content-Length`` headers and a JSON body) with a size guard.

A frame over the limit is skipped without being read into memory and answered with
:class:`~snapd.errors.RequestTooLarge`; a body that is not JSON is a parse error. The reader
runs in a thread and hands frames to the server's event loop.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from typing import IO, Any, Final

from pygls.exceptions import (
    JsonRpcException,
    JsonRpcParseError,
)

from snapd import errors

MAX_HEADER_LINE: Final = 8192
"""A header line longer than this is a framing error."""


class Frame:
    """One frame read from stdin: parsed JSON, or the error to answer it with."""

    __slots__ = ("data", "error")

    def __init__(self, data: Any = None, error: JsonRpcException | None = None) -> None:
        self.data = data
        self.error = error


class FrameReader:
    """Reads LSP frames from a binary stream, bounding every allocation.

    Headers are read line by line, each at most :data:`MAX_HEADER_LINE` bytes. A body larger
    than ``max_body`` is skipped in chunks (never allocated) and reported as
    :class:`~snapd.errors.RequestTooLarge`; a body that is not JSON as a parse error.
    """

    def __init__(self, stream: IO[bytes], max_body: Callable[[], int]) -> None:
        self.stream = stream
        self._max_body = max_body

    @property
    def max_body(self) -> int:
        """The current limit (it can change at ``initialize``)."""
        return self._max_body()

    def __iter__(self) -> Generator[Frame, None, None]:
        while True:
            length: int | None = None
            bad_header: str | None = None
            seen = False  # a well-formed header line was read for this frame
            junk = False  # inside a run of junk lines before any header (reported once)
            while True:
                line = self.stream.readline(MAX_HEADER_LINE)
                if not line:
                    return
                if not line.endswith(b"\n"):
                    bad_header = "header line too long"
                    self._skip_line()
                    continue
                text = line.strip()
                at = text.lower().find(b"content-length:")
                if at > 0:
                    # Resynchronise: junk, then a header on the same line is what is left of a
                    # body whose Content-Length was too small (or of a truncated header), glued
                    # to the next frame. Report the junk, then start that frame at its header.
                    junk_text = text[:at][:40]
                    yield Frame(error=JsonRpcParseError(f"junk before a header: {junk_text!r}"))
                    length, bad_header, seen, junk = None, None, False, False
                    text = text[at:]
                if not text:
                    if not seen and bad_header is None:
                        continue  # stray blank line between frames
                    break
                name, sep, value = text.partition(b":")
                if not sep and not seen:
                    # Junk before any header (a too-long body's tail): one error per run, then
                    # keep looking for the next frame's headers.
                    if not junk:
                        junk = True
                        yield Frame(error=JsonRpcParseError(f"malformed header {text[:80]!r}"))
                    continue
                seen = True
                if not sep:
                    bad_header = f"malformed header line {text[:80]!r}"
                elif name.strip().lower() == b"content-length":
                    value = value.strip()
                    if not value.isdigit() or len(value) > 18:
                        bad_header = f"bad Content-Length {value[:40]!r}"
                    else:
                        length = int(value)
            if bad_header is not None or length is None:
                yield Frame(error=JsonRpcParseError(bad_header or "missing Content-Length"))
                continue
            if length > self.max_body:
                # Answer first: the client may be waiting before it sends the (huge) body.
                # Then discard exactly the announced bytes in chunks, never allocating them.
                yield Frame(
                    error=errors.RequestTooLarge(
                        f"Content-Length {length} exceeds the limit of {self.max_body} bytes",
                        limit=self.max_body,
                    )
                )
                if not self._skip(length):
                    return
                continue
            body = self._read(length)
            if body is None:
                return
            try:
                data = json.loads(body)
            except (ValueError, RecursionError) as exc:
                yield Frame(error=JsonRpcParseError(f"parse error: {exc}"))
                continue
            yield Frame(data=data)

    def _read(self, n: int) -> bytes | None:
        chunks: list[bytes] = []
        while n > 0:
            chunk = self.stream.read(min(n, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def _skip(self, n: int) -> bool:
        while n > 0:
            chunk = self.stream.read(min(n, 1 << 20))
            if not chunk:
                return False
            n -= len(chunk)
        return True

    def _skip_line(self) -> None:
        while (rest := self.stream.readline(MAX_HEADER_LINE)) and not rest.endswith(b"\n"):
            pass
