"""Protocol robustness: hostile frames and JSON against one live daemon.

Each hypothesis example sends some hostile bytes, then a burst of ``snapd/status`` probes. Every
message the daemon sends back must be a documented error (or a result for a request we sent);
silently dropped input is fine where JSON-RPC says so (responses, notifications); and the last
probe must be answered, i.e. the daemon keeps serving. At the end the daemon's peak RSS is under
a bound, EOF on stdin stops it with exit code 0, and the store passes ``git fsck --strict``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import write
from tests.reliability.conftest import TrialCounter
from tests.reliability.harness import DOCUMENTED_CODES, RawDaemon, assert_fsck_clean, frame

pytestmark = [pytest.mark.e2e]

PROBES = 6
"""Probes per example: enough bytes to fill any body whose Content-Length was <= 200 too large."""

RSS_BOUND_KIB = 160 * 1024
"""Peak RSS bound after fuzzing (an idle daemon is ~50 MiB; no hostile frame may add much)."""

SAFE_METHODS = [
    "snapd/status",
    "snapd/explain",
    "snapd/diff",
    "snapd/hunks",
    "snapd/snapshots",
    "snapd/snapshot",
    "snapd/nope",
    "$/cancelRequest",
    "$/setTrace",
    "initialized",
    "workspace/didChangeConfiguration",
    "textDocument/hover",
    "",
]
"""Methods the fuzzer may call. ``initialize``/``shutdown``/``exit`` are excluded: they end the
session by design; restore is excluded: valid random params could rewrite the worktree."""

LIFECYCLE = {"initialize", "shutdown", "exit", "snapd/restore"}


def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**70), max_value=2**70)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=20)
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )


ids = st.integers(min_value=0, max_value=999_999) | st.text(max_size=8)
methods = st.sampled_from(SAFE_METHODS) | st.text(max_size=12).filter(lambda m: m not in LIFECYCLE)
param_values = st.dictionaries(
    st.sampled_from(
        [
            "from",
            "to",
            "path",
            "paths",
            "cursor",
            "limit",
            "maxBytes",
            "label",
            "context",
            "id",
            "x",
        ]
    ),
    json_values(6)
    | st.sampled_from(["latest", "src/main.txt", "../x", "/etc/passwd", "caf\udce9"]),
    max_size=4,
)


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    msg: dict[str, Any] = {"jsonrpc": "2.0", "method": draw(methods)}
    if draw(st.booleans()):
        msg["id"] = draw(ids)
    if draw(st.booleans()):
        msg["params"] = draw(param_values | json_values(4))
    return msg


@st.composite
def rpcish(draw: st.DrawFn) -> Any:
    """Objects that are almost JSON-RPC: keys from the spec with values of any type."""
    keys = draw(st.sets(st.sampled_from(["jsonrpc", "id", "method", "params", "result", "error"])))
    out: dict[str, Any] = {}
    for key in keys:
        if key == "method":
            out[key] = draw(methods | json_values(3))
        elif key == "jsonrpc":
            out[key] = draw(st.sampled_from(["2.0", "1.0", 2.0, None, ""]))
        else:
            out[key] = draw(json_values(5))
    return out


def body_frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def deep(n: int, kind: str) -> bytes:
    if kind == "list":
        return b"[" * n + b"]" * n
    if kind == "dict":
        return b'{"a":' * n + b"1" + b"}" * n
    inner = b'{"a":' * n + b"1" + b"}" * n  # nested inside a valid request's params
    return b'{"jsonrpc":"2.0","id":7,"method":"snapd/status","params":' + inner + b"}"


VALID = json.dumps({"jsonrpc": "2.0", "id": 42, "method": "snapd/status"}).encode()

hostile_frames = st.one_of(
    # Truncated headers: a prefix of a valid header block, then the next frame arrives.
    st.integers(min_value=1, max_value=len(b"Content-Length: 40\r\n\r")).map(
        lambda n: b"Content-Length: 40\r\n\r\n"[:n]
    ),
    # Wrong Content-Length (too small or up to 200 bytes too large).
    st.builds(
        lambda body, delta: b"Content-Length: %d\r\n\r\n" % max(0, len(body) + delta) + body,
        st.sampled_from([VALID, b'{"jsonrpc":"2.0","method":"initialized"}', b"[1,2,3]"]),
        st.integers(min_value=-60, max_value=200),
    ),
    # Non-numeric, negative, non-ASCII-digit or 19+ digit lengths (the last is never allocated).
    st.builds(
        lambda value: b"Content-Length: " + value + b"\r\n\r\n" + VALID,
        st.sampled_from(
            [
                b"abc",
                b"-5",
                b"1e3",
                b"0x10",
                b"12 3",
                b"",
                b"\xd9\xa1\xd9\xa2",
                b"+12",
                b"9" * 19,
                b"9" * 40,
            ]
        )
        | st.binary(max_size=12).filter(lambda b: b"\n" not in b and b"\r" not in b),
    ),
    # Header junk: unknown headers only, lines without a colon, duplicate lengths, bare LFs.
    st.sampled_from(
        [
            b"X-Foo: bar\r\n\r\n",
            b"X-Nonsense\r\n\r\n",
            b"Content-Type: application/json\r\n\r\n",
            b"Content-Length: 5\r\nContent-Length: 3\r\n\r\n{}",
            b"Content-Length: 2\n\n{}",
            b"\r\n\r\n\r\n",
            b"content-length:2\r\n\r\n{}",
            b"Content-Length: " + b"1" * 9000 + b"\r\n\r\n",
        ]
    ),
    # Deep nesting, as the whole body or inside params.
    st.builds(
        lambda n, kind: body_frame(deep(n, kind)),
        st.sampled_from([100, 900, 1500, 5000, 100_000]),
        st.sampled_from(["list", "dict", "params"]),
    ),
    # Invalid UTF-8 (and other encodings) in a body.
    st.builds(
        lambda junk: body_frame(
            b'{"jsonrpc":"2.0","id":9,"method":"snapd/explain","params":{"path":"' + junk + b'"}}'
        ),
        st.sampled_from([b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"])
        | st.binary(min_size=1, max_size=8),
    ),
    st.binary(max_size=64).map(body_frame),
    st.sampled_from([b"\xef\xbb\xbf" + VALID, VALID.decode().encode("utf-16"), b"\x00" * 10]).map(
        body_frame
    ),
    # Batch arrays and non-object JSON.
    st.lists(requests(), max_size=3).map(lambda msgs: frame(msgs)),
    json_values().filter(lambda v: not isinstance(v, dict)).map(frame),
    # Notifications that carry an id; responses from the client to ids the server never used.
    st.builds(
        lambda method, rid: frame({"jsonrpc": "2.0", "id": rid, "method": method}),
        st.sampled_from(
            ["initialized", "$/cancelRequest", "$/setTrace", "snapd/didChange", "exit!"]
        ),
        ids,
    ),
    st.builds(
        lambda rid, payload: frame({"jsonrpc": "2.0", "id": rid, **payload}),
        ids,
        st.sampled_from(
            [
                {"result": None},
                {"result": {"x": [1]}},
                {"error": {"code": 1, "message": "x"}},
                {"error": "bad"},
            ]
        ),
    ),
    # Requests with random params (type errors must name the field), and almost-JSON-RPC objects.
    requests().map(frame),
    rpcish().map(frame),
    # Random bytes, with or without a newline.
    st.binary(max_size=80),
)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[RawDaemon]:
    root = tmp_path / "work"
    write(root, "src/main.txt", "hello\n")
    write(
        root,
        "caf\udce9.txt".encode("utf-8", "surrogateescape").decode("utf-8", "surrogateescape"),
        "x\n",
    )
    d = RawDaemon.spawn(root, tmp_path / "store", tmp_path / "fuzz.log")
    try:
        assert "result" in d.initialize()
        assert "result" in d.request("snapd/snapshot", {"label": "before fuzzing"})
        yield d
    finally:
        d.kill()


def check_reply(msg: dict[str, Any], sent: set[Any], daemon: RawDaemon) -> None:
    assert msg.get("jsonrpc") == "2.0", msg
    if "method" in msg:
        if "id" in msg:  # a server->client request (progress): accept it
            daemon.send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
        return
    assert ("result" in msg) != ("error" in msg), msg
    if "error" in msg:
        err = msg["error"]
        assert err["code"] in DOCUMENTED_CODES, msg
        assert isinstance(err["message"], str) and err["message"], msg
        assert msg["id"] is None or msg["id"] in sent, msg
    else:
        assert msg["id"] in sent, msg


def probe_after(daemon: RawDaemon, data: bytes, sent: set[Any]) -> None:
    """Send ``data`` and a burst of probes; the last probe must get a status result."""
    daemon.send_raw(data)
    probe_ids = [daemon.next_id() for _ in range(PROBES)]
    sent.update(probe_ids)
    daemon.send_raw(
        b"".join(frame({"jsonrpc": "2.0", "id": i, "method": "snapd/status"}) for i in probe_ids)
    )
    while True:
        msg = daemon.receive(timeout=30)
        check_reply(msg, sent, daemon)
        if msg.get("id") == probe_ids[-1]:
            assert "result" in msg and msg["result"]["head"], msg
            return


def ids_in(data: bytes) -> set[Any]:
    """Request ids the hostile bytes may carry (anything the daemon could echo back)."""
    found: set[Any] = set()

    def visit(value: Any) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("id"), int | str):
                found.add(value["id"])
            for v in value.values():
                visit(v)
        elif isinstance(value, list):
            for v in value:
                visit(v)

    start = data.find(b"\r\n\r\n")
    try:
        visit(json.loads(data[start + 4 :] if start >= 0 else data))
    except (ValueError, RecursionError):
        pass
    return found


@pytest.mark.slow
@pytest.mark.fault("protocol fuzz: hostile frames and JSON-RPC messages (hypothesis)", trials=400)
def test_hostile_frames_get_documented_errors_and_the_daemon_keeps_serving(
    daemon: RawDaemon, fault_trials: TrialCounter
) -> None:
    sent: set[Any] = set()

    @settings(
        max_examples=400,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.data_too_large,
        ],
    )
    @given(st.lists(hostile_frames, min_size=1, max_size=3))
    def run(chunks: list[bytes]) -> None:
        fault_trials.add()
        data = b"".join(chunks)
        for chunk in chunks:
            sent.update(ids_in(chunk))
        probe_after(daemon, data, sent)

    run()
    assert daemon.peak_rss_kib() < RSS_BOUND_KIB
    # EOF on stdin: a clean stop, and a consistent store.
    daemon.close_stdin()
    assert daemon.wait(30) == 0
    assert_fsck_clean(daemon_store(daemon))


def daemon_store(daemon: RawDaemon) -> Path:
    args = daemon.proc.args
    assert isinstance(args, list)
    return Path(args[args.index("--store") + 1])
