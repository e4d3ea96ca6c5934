"""Generated-artifact rules: skip what no one wrote, summarise what a tool wrote, explain both.

Every rule is a small named object plugged into :class:`~snapd.capture.policy.Policy`. They prefer
evidence to blanket globs: an ambiguous directory name (``build/``, ``target/``, ``dist/``) is a
build output only when something inside or beside it says so (``CMakeCache.txt``, a sibling
``Cargo.toml``, ...), and a file is generated only when a tool signed it (a header comment, a
lockfile name, ``.gitattributes``) or when its shape says no person wrote it (minified text, a
source-map trailer). Directories holding files tracked in the user's git index are never
skipped wholesale: a committed file may be hand-edited.
"""

from __future__ import annotations

import fnmatch
import os
import re
from typing import Final

from snapd.capture.attributes import Attributes
from snapd.capture.decision import Candidate, Decision, Kind, skipped
from snapd.enums import Outcome

# -- build and cache directories ------------------------------------------------------------------

ALWAYS_DIRS: Final[dict[str, str]] = {
    "node_modules": "npm packages",
    "__pycache__": "Python bytecode cache",
    ".mypy_cache": "mypy cache",
    ".pytest_cache": "pytest cache",
    ".ruff_cache": "ruff cache",
    ".tox": "tox environments",
    ".nox": "nox environments",
    ".gradle": "Gradle cache",
    ".next": "Next.js build output",
    ".nuxt": "Nuxt build output",
    ".svelte-kit": "SvelteKit build output",
    ".parcel-cache": "Parcel cache",
    ".turbo": "Turborepo cache",
    ".angular": "Angular cache",
    ".dart_tool": "Dart tool cache",
    "CMakeFiles": "CMake internal files",
    ".eggs": "setuptools eggs",
    ".hypothesis": "Hypothesis example database",
}
"""Directory names that are tool output wherever they appear."""

ALWAYS_DIR_GLOBS: Final[dict[str, str]] = {
    "cmake-build-*": "CLion/CMake build directory",
    "bazel-*": "Bazel output link",
    "*.egg-info": "setuptools metadata",
}

INSIDE_EVIDENCE: Final[dict[str, tuple[str, ...]]] = {
    "build": ("CMakeCache.txt", "build.ninja", ".ninja_log", "CMakeFiles", "config.gypi"),
    "out": ("build.ninja", "args.gn", "CMakeCache.txt"),
    "target": (".rustc_info.json", "CACHEDIR.TAG", "maven-status"),
    "coverage": ("lcov.info", "coverage-final.json", "coverage-summary.json", "clover.xml"),
    "htmlcov": ("index.html", "status.json"),
    "vendor": ("modules.txt",),
}
"""Ambiguous names: a build output only if one of these is inside."""

BESIDE_EVIDENCE: Final[dict[str, tuple[str, ...]]] = {
    "build": ("build.gradle", "build.gradle.kts", "setup.py"),
    "target": ("Cargo.toml", "pom.xml", "build.sbt"),
    "dist": ("package.json", "pyproject.toml", "setup.py"),
    "out": ("tsconfig.json",),
}
"""Ambiguous names: a build output only if one of these is beside it (in the parent)."""

CACHEDIR_SIGNATURE: Final = b"Signature: 8a477f597d28d172789f06886806bc55"


def _exists(path: bytes) -> bool:
    try:
        os.lstat(path)
    except OSError:
        return False
    return True


class BuildDirRule:
    """Build and cache directories by ecosystem, with evidence for ambiguous names."""

    name = "build-dir"

    def __init__(self, root: bytes, tracked_dirs: frozenset[bytes]) -> None:
        self.root = root
        self.tracked_dirs = tracked_dirs

    def _skip(self, cand: Candidate, what: str, evidence: str) -> Decision:
        return skipped(self.name, f"build or cache directory ({what})", evidence)

    def decide(self, cand: Candidate) -> Decision | None:
        """Skip a directory that a build tool or cache owns."""
        if cand.kind is not Kind.DIR or cand.rel in self.tracked_dirs:
            return None
        name = os.fsdecode(cand.rel.rsplit(b"/", 1)[-1])
        full = os.path.join(self.root, cand.rel)
        rel = os.fsdecode(cand.rel)
        if name in ALWAYS_DIRS:
            return self._skip(cand, ALWAYS_DIRS[name], f"directory name {name}")
        for glob, what in ALWAYS_DIR_GLOBS.items():
            if fnmatch.fnmatchcase(name, glob):
                return self._skip(cand, what, f"directory name matches {glob}")
        if _exists(os.path.join(full, b"pyvenv.cfg")):
            return self._skip(cand, "Python virtual environment", f"{rel}/pyvenv.cfg")
        tag = os.path.join(full, b"CACHEDIR.TAG")
        if _exists(tag):
            try:
                with open(tag, "rb") as fh:
                    if fh.read(len(CACHEDIR_SIGNATURE)) == CACHEDIR_SIGNATURE:
                        return self._skip(cand, "cache directory", f"{rel}/CACHEDIR.TAG")
            except OSError:
                pass
        for marker in INSIDE_EVIDENCE.get(name, ()):
            if _exists(os.path.join(full, os.fsencode(marker))):
                return self._skip(cand, f"{name} output", f"{rel}/{marker}")
        parent = os.path.dirname(full)
        for marker in BESIDE_EVIDENCE.get(name, ()):
            if _exists(os.path.join(parent, os.fsencode(marker))):
                beside = os.fsdecode(os.path.join(os.path.dirname(cand.rel), os.fsencode(marker)))
                return self._skip(cand, f"{name} output", beside)
        return None


BUILD_STATE_FILES: Final[dict[str, str]] = {
    ".ninja_log": "Ninja build log",
    ".ninja_deps": "Ninja dependency database",
    "CMakeCache.txt": "CMake cache",
    "cmake_install.cmake": "CMake install script",
    "CTestTestfile.cmake": "CTest script",
    ".coverage": "coverage.py data",
    ".eslintcache": "ESLint cache",
    ".DS_Store": "Finder metadata",
}


class BuildFileRule:
    """Build-system state files: always tool output, never worth a diff."""

    name = "build-file"

    def decide(self, cand: Candidate) -> Decision | None:
        """Skip files such as ``.ninja_log`` and ``CMakeCache.txt``."""
        if cand.kind is not Kind.FILE:
            return None
        name = os.fsdecode(cand.rel.rsplit(b"/", 1)[-1])
        what = BUILD_STATE_FILES.get(name)
        if what is None and name.endswith(".pyc"):
            what = "Python bytecode"
        if what is None:
            return None
        return skipped(self.name, f"build state ({what})", f"file name {name}")


# -- generated but worth keeping ------------------------------------------------------------------

LOCKFILES: Final = frozenset(
    {
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "bun.lockb",
        "Cargo.lock",
        "poetry.lock",
        "uv.lock",
        "Pipfile.lock",
        "pdm.lock",
        "Gemfile.lock",
        "composer.lock",
        "go.sum",
        "flake.lock",
        "packages.lock.json",
        "pubspec.lock",
        "mix.lock",
        "Package.resolved",
    }
)


def generated(rule: str, reason: str, evidence: str) -> Decision:
    """A captured-but-generated decision: content stored, diffs summarised."""
    return Decision(outcome=Outcome.GENERATED, rule=rule, reason=reason, evidence=evidence)


class LockfileRule:
    """Dependency lockfiles: generated, small, and worth keeping (captured, summarised)."""

    name = "lockfile"

    def decide(self, cand: Candidate) -> Decision | None:
        """Mark known lockfile names generated."""
        name = os.fsdecode(cand.rel.rsplit(b"/", 1)[-1])
        if cand.kind is Kind.FILE and name in LOCKFILES:
            return generated(self.name, "dependency lockfile", f"file name {name}")
        return None


class GeneratedNameRule:
    """File names that only tools produce: minified bundles and source maps."""

    name = "generated-name"

    def decide(self, cand: Candidate) -> Decision | None:
        """Mark ``*.min.js``, ``*.min.css`` and ``*.map`` generated."""
        name = os.fsdecode(cand.rel.rsplit(b"/", 1)[-1])
        if cand.kind is Kind.FILE and name.endswith((".min.js", ".min.css", ".js.map", ".css.map")):
            return generated(self.name, "minified bundle or source map", f"file name {name}")
        return None


class GitAttributesRule:
    """``.gitattributes``: ``filter=lfs`` skipped; ``linguist-generated``/``-diff`` generated."""

    name = "gitattributes"

    def __init__(self, attributes: Attributes) -> None:
        self.attributes = attributes

    def decide(self, cand: Candidate) -> Decision | None:
        """Apply the attributes git would apply to this file."""
        if cand.kind is not Kind.FILE:
            return None
        found = self.attributes.lookup(cand.rel)
        lfs = found.get("filter")
        if lfs is not None and lfs.value == "lfs":
            return skipped(self.name, "managed by Git LFS", lfs.source)
        gen = found.get("linguist-generated")
        if gen is not None and gen.value not in (False, "false"):
            return generated(self.name, "marked linguist-generated", gen.source)
        diff = found.get("diff")
        if diff is not None and diff.value is False:
            return generated(self.name, "marked -diff (git shows no text diff)", diff.source)
        return None


# -- content markers and shape -----------------------------------------------------------------

HEADER_LINES: Final = 12
"""Only comment lines among the first lines of a file are searched for markers."""

COMMENT_LEADERS: Final = (b"//", b"#", b"/*", b"*", b"--", b";", b"<!--", b"'", b"%", b'"""')

MARKERS: Final[tuple[tuple[str, re.Pattern[bytes]], ...]] = (
    ("generated", re.compile(rb"@generated\b")),
    ("go", re.compile(rb"Code generated .* DO NOT EDIT\.")),
    ("protobuf", re.compile(rb"Generated by the protocol buffer compiler")),
    ("grpc", re.compile(rb"Generated by the gRPC .*protoc plugin")),
    ("thrift", re.compile(rb"Autogenerated by Thrift")),
    ("cython", re.compile(rb"Generated by Cython")),
    ("auto-generated", re.compile(rb"<auto-generated")),
    ("cmake", re.compile(rb"CMAKE generated file")),
    ("yarn", re.compile(rb"yarn lockfile v\d")),
    ("pip-compile", re.compile(rb"autogenerated by pip-compile")),
    (
        "do-not-edit",
        re.compile(rb"(?i)(?:auto-?generated|generated) (?:file|code|by)\b.*do not edit"),
    ),
)


class ContentMarkerRule:
    """A tool's signature in a header comment.

    ``@generated``, ``Code generated ... DO NOT EDIT.``, protobuf/gRPC/Thrift/Cython headers,
    ``<auto-generated``, lockfile headers.
    """

    name = "content-marker"

    def decide_content(self, cand: Candidate, prefix: bytes, tail: bytes) -> Decision | None:
        """Look for a marker in the comment lines at the top of the file."""
        for number, line in enumerate(prefix.split(b"\n")[:HEADER_LINES], 1):
            stripped = line.strip()
            if not stripped.startswith(COMMENT_LEADERS) and b"<auto-generated" not in stripped:
                continue
            for kind, pattern in MARKERS:
                if pattern.search(stripped):
                    text = stripped[:120].decode("utf-8", "replace")
                    return generated(
                        self.name, f"generated-file header ({kind})", f"line {number}: {text}"
                    )
        return None


MINIFIED_SUFFIXES: Final = (".js", ".mjs", ".cjs", ".css", ".json")
MINIFIED_AVG_LINE: Final = 110
MINIFIED_MIN_BYTES: Final = 1024


class ShapeRule:
    """Shape heuristics: minified text (very long average lines) and source-map trailers."""

    name = "shape"

    def decide_content(self, cand: Candidate, prefix: bytes, tail: bytes) -> Decision | None:
        """Mark minified JS/CSS/JSON and files ending in a ``sourceMappingURL`` comment."""
        if b"sourceMappingURL=" in tail[-300:]:
            return generated(
                self.name,
                "bundler output (source-map trailer)",
                "sourceMappingURL in the last bytes",
            )
        name = os.fsdecode(cand.rel.rsplit(b"/", 1)[-1])
        if name.endswith(MINIFIED_SUFFIXES) and len(prefix) >= MINIFIED_MIN_BYTES:
            lines = prefix.count(b"\n") + 1
            average = len(prefix) // lines
            if average > MINIFIED_AVG_LINE:
                return generated(
                    self.name,
                    "minified (very long lines)",
                    f"average line {average} chars in the first {len(prefix)} bytes",
                )
        return None
