"""``.gitattributes`` as far as capture cares: which paths git itself calls generated or binary.

Read-only and minimal: the root and nested ``.gitattributes`` files and ``.git/info/attributes``,
with git's precedence (deeper files and later lines win, ``info/attributes`` wins over all), and
the attributes ``linguist-generated``, ``diff``, ``binary`` (a macro for ``-diff -merge -text``)
and ``filter``. Patterns use gitignore matching without negation, as in git.
"""

from __future__ import annotations

import os
import stat
from typing import Final

import attrs
import pathspec

from snapd.gitdir import git_info_dir

ATTR_FILE_MAX: Final = 1024 * 1024
"""An attributes file larger than this is not read."""


@attrs.frozen
class Attr:
    """The value of one attribute for a path, and where it came from."""

    value: str | bool
    """True (set), False (unset, ``-attr``) or a string value (``attr=value``)."""

    source: str
    """``file:line: text`` of the line that decided it."""


@attrs.frozen
class _Line:
    spec: pathspec.GitIgnoreSpec
    attrs: dict[str, str | bool]
    source: str


def _parse_attrs(tokens: list[str]) -> dict[str, str | bool]:
    out: dict[str, str | bool] = {}
    for tok in tokens:
        if tok.startswith("-"):
            out[tok[1:]] = False
        elif tok.startswith("!"):
            out.pop(tok[1:], None)
        elif "=" in tok:
            name, _, value = tok.partition("=")
            out[name] = value
        else:
            out[tok] = True
        if tok == "binary":
            out.update({"diff": False, "merge": False, "text": False})
    return out


class Attributes:
    """Lazy, cached ``.gitattributes`` lookup for one worktree."""

    def __init__(self, root: bytes) -> None:
        self.root = root
        self._files: dict[bytes, list[_Line]] = {}
        self._layer_cache: dict[bytes, list[tuple[bytes, list[_Line]]]] = {}
        self._info = self._load(os.path.join(git_info_dir(root), b"attributes"), b"")

    def _load(self, full: bytes, base: bytes) -> list[_Line]:
        try:
            st = os.lstat(full)
            if not stat.S_ISREG(st.st_mode) or st.st_size > ATTR_FILE_MAX:
                return []
            with open(full, "rb") as fh:
                text = fh.read(ATTR_FILE_MAX).decode("utf-8", "surrogateescape")
        except OSError:
            return []
        label = os.fsdecode(os.path.relpath(full, self.root))
        lines: list[_Line] = []
        for number, raw in enumerate(text.splitlines(), 1):
            parts = raw.split()
            if not parts or parts[0].startswith("#") or parts[0].startswith("[attr]"):
                continue
            pattern = parts[0]
            # A pattern with a slash is relative to the attributes file's directory.
            if base and "/" in pattern.strip("/"):
                pattern = "/" + pattern.lstrip("/")
            spec = pathspec.GitIgnoreSpec.from_lines([pattern])
            lines.append(_Line(spec, _parse_attrs(parts[1:]), f"{label}:{number}: {raw.strip()}"))
        return lines

    def read(self, directory: bytes) -> bool:
        """Read ``directory``'s ``.gitattributes`` now (kept); True if it has any line."""
        return bool(self._for_dir(directory))

    @property
    def has_info(self) -> bool:
        """True if ``info/attributes`` has any line."""
        return bool(self._info)

    def _for_dir(self, directory: bytes) -> list[_Line]:
        if directory not in self._files:
            full = (
                os.path.join(self.root, directory, b".gitattributes")
                if directory
                else (os.path.join(self.root, b".gitattributes"))
            )
            self._files[directory] = self._load(full, directory)
        return self._files[directory]

    def _layers(self, directory: bytes) -> list[tuple[bytes, list[_Line]]]:
        """Attribute files that apply in ``directory``, lowest precedence first (cached)."""
        layers = self._layer_cache.get(directory)
        if layers is not None:
            return layers
        # Iterative, not recursive: a worktree may be nested deeper than Python's recursion
        # limit. Climb to the nearest cached ancestor, then build the layers back down.
        missing = [directory]
        below: list[tuple[bytes, list[_Line]]] = []  # the ancestor's layers without info
        while missing[-1]:
            up = missing[-1].rpartition(b"/")[0]
            if (cached := self._layer_cache.get(up)) is not None:
                below = cached[:-1]
                break
            missing.append(up)
        for current in reversed(missing):
            own = self._for_dir(current)
            if own:
                below = [*below, (current, own)]
            layers = [*below, (b"", self._info)]
            self._layer_cache[current] = layers
        assert layers is not None
        return layers

    def lookup(self, rel: bytes) -> dict[str, Attr]:
        """The attributes that apply to file ``rel``."""
        found: dict[str, Attr] = {}
        for base, lines in self._layers(rel.rpartition(b"/")[0]):
            sub = os.fsdecode(rel[len(base) + 1 :] if base else rel)
            for line in lines:
                if line.spec.match_file(sub):
                    for name, value in line.attrs.items():
                        found[name] = Attr(value, line.source)
        return found
