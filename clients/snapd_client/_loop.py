"""A private event loop in a background thread: what the generated sync :class:`Client` runs on.

:class:`~snapd_client.AsyncClient` needs a running loop (its reader task routes responses and
notifications), so a blocking client cannot be a token-for-token rewrite of it. Instead every
blocking call submits the async method's coroutine to this loop with
:func:`asyncio.run_coroutine_threadsafe` and waits for the result.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Generator
from typing import Any, ParamSpec, TypeVar

T = TypeVar("T")
P = ParamSpec("P")


class LoopThread:
    """An asyncio loop running forever in a daemon thread, until :meth:`stop`."""

    def __init__(self, name: str = "snapd-client-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        try:
            self.loop.run_forever()
        finally:
            try:
                tasks = asyncio.all_tasks(self.loop)
                for task in tasks:
                    task.cancel()
                if tasks:
                    self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            finally:
                self.loop.close()

    @property
    def running(self) -> bool:
        """Whether the loop still accepts work."""
        return self._thread.is_alive() and not self.loop.is_closed()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and block until it finishes; its exception is re-raised.

        If the waiting thread is interrupted (e.g. ``KeyboardInterrupt``) the coroutine is
        cancelled.
        """
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("a blocking Client call from its own loop thread would deadlock")
        if not self.running:
            coro.close()
            raise RuntimeError("the client is closed")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Call a plain function on the loop thread (for state the loop thread owns)."""

        async def call() -> T:
            return fn(*args, **kwargs)

        return self.run(call())

    def iterate(self, aiter: AsyncIterator[T]) -> Generator[T, None, None]:
        """A blocking iterator over an async iterator that lives on the loop."""

        async def step() -> tuple[T] | None:
            # StopAsyncIteration must not cross the thread boundary as an exception.
            try:
                return (await aiter.__anext__(),)
            except StopAsyncIteration:
                return None

        async def aclose() -> None:
            close = getattr(aiter, "aclose", None)
            if close is not None:
                await close()

        def gen() -> Generator[T, None, None]:
            try:
                while True:
                    got = self.run(step())
                    if got is None:
                        return
                    yield got[0]
            finally:
                if self.running:
                    self.run(aclose())

        return gen()

    def stop(self) -> None:
        """Stop the loop (cancelling what still runs on it) and join the thread."""
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            if threading.current_thread() is not self._thread:
                self._thread.join()
