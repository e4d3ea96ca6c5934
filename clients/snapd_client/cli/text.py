"""Plain text helpers of the command line: terminal-safe strings, sizes and plurals.

The standard library only: the commands on the fast path (:mod:`snapd_client.cli.fast`) use
them without loading the wire types or rich.
"""

from __future__ import annotations

import re

__all__ = ["human", "plural", "safe"]

_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\x1b": "\\x1b"}


def safe(text: str) -> str:
    r"""``text`` made safe for a terminal: control characters and lone surrogates escaped.

    Paths may hold bytes that are not UTF-8 (lone surrogates U+DC80..U+DCFF on the wire): they
    are shown as ``\xNN``, the raw byte. Tabs are kept.
    """

    def one(m: re.Match[str]) -> str:
        ch = m.group()
        code = ord(ch)
        if ch in _NAMED:
            return _NAMED[ch]
        if 0xDC80 <= code <= 0xDCFF:
            return f"\\x{code - 0xDC00:02x}"
        if code >= 0xD800:
            return f"\\u{code:04x}"
        return f"\\x{code:02x}"

    return _UNSAFE.sub(one, text)


def human(n: int | None) -> str:
    """Bytes in human units."""
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def plural(n: int, word: str, words: str | None = None) -> str:
    """``1 file``, ``2 files``."""
    return f"{n} {word if n == 1 else (words or word + 's')}"
