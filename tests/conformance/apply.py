"""Apply wire hunks to old bytes, as protocol.md describes them (an independent implementation).

* Content is split into lines on ``\\n`` only; a ``\\r`` before it stays part of the line.
* Each hunk line is a tag (``" "``, ``"-"``, ``"+"``) and the line without its terminator;
  bytes that are not UTF-8 travel as lone surrogates U+DC80..U+DCFF.
* ``noNewlineOld``/``noNewlineNew``: the hunk's last old-side/new-side line has no ``\\n``.
* ``oldStart``/``newStart`` are 1-based; when ``oldLines``/``newLines`` is 0 they name the
  line after which the change sits (0 at the start of the file).
* ``digest``: the first 16 hex digits of the SHA-256 of ``"<oldStart> <oldLines> <newLines>
  <noNewlineOld> <noNewlineNew>\\n"`` (flags as 0 or 1), then each line's bytes and ``\\n``.
"""

from __future__ import annotations

import hashlib
from typing import Any


class HunkError(Exception):
    """The hunks do not describe an edit of the old content."""


def split_lines(data: bytes) -> list[bytes]:
    """Lines with their ``\\n`` (the last one may lack it)."""
    if not data:
        return []
    parts = data.split(b"\n")
    out = [p + b"\n" for p in parts[:-1]]
    if parts[-1]:
        out.append(parts[-1])
    return out


def line_bytes(text: str, where: str) -> bytes:
    """A wire line's bytes: UTF-8, lone surrogates U+DC80..U+DCFF standing for raw bytes."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise HunkError(f"{where}: a character that is neither UTF-8 nor U+DC80..U+DCFF") from exc


def hunk_digest(h: dict[str, Any]) -> str:
    """The ``digest`` protocol.md says a wire hunk has."""
    flags = (int(bool(h.get("noNewlineOld"))), int(bool(h.get("noNewlineNew"))))
    head = f"{h['oldStart']} {h['oldLines']} {h['newLines']} {flags[0]} {flags[1]}\n"
    data = head.encode() + b"".join(line_bytes(line, "digest") + b"\n" for line in h["lines"])
    return hashlib.sha256(data).hexdigest()[:16]


def apply_hunks(old: bytes, hunks: list[dict[str, Any]]) -> bytes:
    """The new content, or :class:`HunkError` naming the first inconsistency."""
    a = split_lines(old)
    out: list[bytes] = []
    pos = 0
    for n, h in enumerate(hunks):
        where = f"hunk {n}"
        lines: list[str] = h["lines"]
        for i, line in enumerate(lines):
            if not isinstance(line, str) or line[:1] not in (" ", "-", "+"):
                raise HunkError(f"{where} line {i}: does not start with ' ', '-' or '+'")
            if "\n" in line:
                raise HunkError(f"{where} line {i}: contains a newline")
        if h.get("digest") != hunk_digest(h):
            raise HunkError(f"{where}: digest {h.get('digest')!r}, expected {hunk_digest(h)}")
        old_side = [i for i, line in enumerate(lines) if line[0] in " -"]
        new_side = [i for i, line in enumerate(lines) if line[0] in " +"]
        if len(old_side) != h["oldLines"]:
            raise HunkError(f"{where}: oldLines={h['oldLines']} but {len(old_side)} old lines")
        if len(new_side) != h["newLines"]:
            raise HunkError(f"{where}: newLines={h['newLines']} but {len(new_side)} new lines")
        start = h["oldStart"] - 1 if h["oldLines"] else h["oldStart"]
        if start < pos or start > len(a):
            raise HunkError(f"{where}: oldStart={h['oldStart']} out of order or past the end")
        out.extend(a[pos:start])
        pos = start
        expect_new = len(out) + 1 if h["newLines"] else len(out)
        if h["newStart"] != expect_new:
            raise HunkError(f"{where}: newStart={h['newStart']}, expected {expect_new}")
        last_old = old_side[-1] if old_side and h.get("noNewlineOld", False) else -1
        last_new = new_side[-1] if new_side and h.get("noNewlineNew", False) else -1
        if h.get("noNewlineOld") and not old_side:
            raise HunkError(f"{where}: noNewlineOld without old lines")
        if h.get("noNewlineNew") and not new_side:
            raise HunkError(f"{where}: noNewlineNew without new lines")
        for i, line in enumerate(lines):
            tag, body = line[0], line_bytes(line[1:], f"{where} line {i}")
            if tag in " -":
                expect = body + (b"" if i == last_old else b"\n")
                if pos >= len(a) or a[pos] != expect:
                    raise HunkError(f"{where} line {i}: does not match old line {pos + 1}")
                pos += 1
            if tag in " +":
                out.append(body + (b"" if i == last_new else b"\n"))
    out.extend(a[pos:])
    return b"".join(out)
