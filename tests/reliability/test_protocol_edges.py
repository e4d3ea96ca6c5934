"""Protocol edge cases with exact expected outcomes: JSON-RPC semantics, huge frames, EOF."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import write
from tests.reliability.harness import MIB, RawDaemon, assert_fsck_clean, frame

pytestmark = [pytest.mark.e2e]

DROP = "drop"
"""No response at all (JSON-RPC: responses and notifications are never answered)."""
RESULT = "result"
"""A normal result."""

# (message, expected outcome: an error code, DROP or RESULT; the id the answer must carry)
JSONRPC_CASES: list[tuple[Any, int | str, Any]] = [
    ({"jsonrpc": "2.0", "id": 7, "method": "initialized", "params": {}}, -32600, 7),
    ({"jsonrpc": "2.0", "id": 8, "method": "$/cancelRequest", "params": {"id": 1}}, -32600, 8),
    ({"jsonrpc": "2.0", "id": 9, "method": "exit"}, -32600, 9),  # refused, and not run
    ({"jsonrpc": "2.0", "id": 10, "method": "snapd/didChange", "params": {}}, -32600, 10),
    ({"jsonrpc": "2.0", "id": 424242, "result": {"x": 1}}, DROP, None),
    ({"jsonrpc": "2.0", "id": "nope", "error": {"code": 1, "message": "m"}}, DROP, None),
    ({"jsonrpc": "2.0", "id": 16}, DROP, None),  # neither request nor response
    ({"jsonrpc": "2.0", "method": "snapd/unknownNotification"}, DROP, None),
    ({"jsonrpc": "2.0", "method": "$/unknown"}, DROP, None),
    ({"jsonrpc": "2.0", "method": "snapd/diff", "params": {"from": 5}}, DROP, None),
    ([], -32600, None),
    ([{"jsonrpc": "2.0", "id": 11, "method": "snapd/status"}], -32600, None),
    (5, -32600, None),
    ("snapd/status", -32600, None),
    (None, -32600, None),
    ({"jsonrpc": "2.0", "id": 12.5, "method": "snapd/status"}, -32600, None),
    ({"jsonrpc": "2.0", "id": [1], "method": "snapd/status"}, -32600, None),
    ({"jsonrpc": "2.0", "id": True, "method": "snapd/status"}, -32600, None),
    ({"jsonrpc": "2.0", "id": None, "method": "snapd/status"}, -32600, None),
    ({"jsonrpc": "2.0", "id": None, "method": "initialized", "params": {}}, -32600, None),
    ({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "m"}}, DROP, None),
    ({"jsonrpc": "1.0", "id": 13, "method": "snapd/status"}, -32600, 13),
    ({"id": 14, "method": "snapd/status"}, -32600, 14),
    ({"jsonrpc": "2.0", "id": 15, "method": 5}, -32600, 15),
    ({"jsonrpc": "2.0", "id": 17, "method": "snapd/status", "params": [1, 2]}, -32602, 17),
    ({"jsonrpc": "2.0", "id": 18, "method": "snapd/diff", "params": "x"}, -32602, 18),
    (
        {"jsonrpc": "2.0", "id": 19, "method": "snapd/explain", "params": {"path": "\ud800"}},
        -31003,
        19,
    ),
    ({"jsonrpc": "2.0", "id": 20, "method": "snapd/nope", "params": {}}, -32601, 20),
    ({"jsonrpc": "2.0", "id": 2**80, "method": "snapd/status"}, RESULT, 2**80),
    ({"jsonrpc": "2.0", "id": "", "method": "snapd/status"}, RESULT, ""),
    (
        {"jsonrpc": "2.0", "id": 21, "method": "snapd/diff", "params": {"from": "latest", "x": 1}},
        RESULT,
        21,
    ),
]


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[RawDaemon]:
    root = tmp_path / "work"
    write(root, "src/main.txt", "hello\n")
    d = RawDaemon.spawn(root, tmp_path / "store", tmp_path / "d.log")
    try:
        assert "result" in d.initialize()
        assert "result" in d.request("snapd/snapshot", {})
        yield d
    finally:
        d.kill()


def replies_before_probe(d: RawDaemon, raw: bytes) -> list[dict[str, Any]]:
    d.send_raw(raw)
    pid = d.next_id()
    d.send({"jsonrpc": "2.0", "id": pid, "method": "snapd/status"})
    got = []
    while (msg := d.receive()).get("id") != pid:
        if "method" not in msg:
            got.append(msg)
    assert "result" in msg, msg
    return got


@pytest.mark.fault(
    "JSON-RPC edge cases: notifications with ids, responses to unknown ids, batches, bad ids",
    trials=len(JSONRPC_CASES),
)
def test_jsonrpc_semantics(daemon: RawDaemon) -> None:
    for message, outcome, rid in JSONRPC_CASES:
        if rid is not None:
            daemon.send(message)
            while (msg := daemon.receive()).get("id") != rid or "method" in msg:
                assert "method" in msg, (message, msg)  # nothing else may arrive meanwhile
            if outcome == RESULT:
                assert "result" in msg, (message, msg)
            else:
                assert msg["error"]["code"] == outcome, (message, msg)
            continue
        # Errors with a null id are sent before the daemon reads the next frame, so before the
        # probe's answer; a dropped message gets nothing before it.
        got = replies_before_probe(daemon, frame(message))
        if outcome == DROP:
            assert got == [], (message, got)
            continue
        assert len(got) == 1 and got[0]["id"] == rid, (message, got)
        assert got[0]["error"]["code"] == outcome, (message, got)


@pytest.mark.fault(
    "frames: truncated headers, wrong Content-Length, junk between frames (resync)", trials=8
)
def test_framing_errors_resynchronise(daemon: RawDaemon) -> None:
    body = b'{"jsonrpc":"2.0","id":77,"method":"snapd/status"}'
    cases = [
        b"Content-Len",  # truncated header, glued to the next frame's header
        b"Content-Length: 40\r",  # truncated header line
        b"Content-Length: 10\r\n\r\n" + body,  # too small: the tail is junk before the probe
        b"Content-Length: %d\r\n\r\n" % (len(body) + 30) + body,  # too large: eats 30 probe bytes
        b"X-Foo: bar\r\n\r\n",  # headers without Content-Length
        b"garbage line\r\nmore garbage\r\n",  # junk lines before a frame
        b"\xff\xfe\x00junk",  # binary junk, no newline
        b"Content-Length: 2\n\n{}",  # bare LFs are tolerated: {} is an invalid request
    ]
    probes: set[int] = set()
    for raw in cases:
        # Send the probe twice: a too-large Content-Length legitimately swallows the first.
        d = daemon
        d.send_raw(raw)
        ids = [d.next_id(), d.next_id()]
        d.send_raw(
            b"".join(frame({"jsonrpc": "2.0", "id": i, "method": "snapd/status"}) for i in ids)
        )
        probes.update(ids)
        answered = set()
        while ids[-1] not in answered:
            msg = d.receive(timeout=20)
            if msg.get("id") in probes:
                assert "result" in msg, msg
                answered.add(msg["id"])
            elif "method" not in msg and msg.get("id") != 77:
                assert msg["id"] is None and msg["error"]["code"] in (-32700, -32600), (raw, msg)


@pytest.mark.fault(
    "gigantic Content-Length: refused unread, daemon keeps serving, memory bounded", trials=4
)
def test_gigantic_content_length_is_never_allocated(daemon: RawDaemon) -> None:
    d = daemon
    before = d.peak_rss_kib()
    # 19+ digits: a malformed header (never parsed into a number), answered at once.
    assert (
        replies_before_probe(d, b"Content-Length: " + b"9" * 40 + b"\r\n\r\n")[0]["error"]["code"]
        == -32700
    )
    # Just over the 16 MiB limit, with the body really sent: discarded in chunks, never held.
    limit = 16 * MIB
    size = limit + MIB
    d.send_raw(b"Content-Length: %d\r\n\r\n" % size)
    err = d.receive()
    assert err["error"]["code"] == -31005 and err["error"]["data"]["limit"] == limit
    chunk = b"x" * MIB
    for _ in range(size // MIB):
        d.send_raw(chunk)
    assert replies_before_probe(d, b"") == []
    # 10**18 - 1 bytes announced: answered before the body; we then stream 64 MiB into the hole
    # and hang up. The daemon must not allocate any of it, and must exit cleanly on EOF.
    d.send_raw(b"Content-Length: %d\r\n\r\n" % (10**18 - 1))
    assert d.receive()["error"]["code"] == -31005
    for _ in range(64):
        d.send_raw(chunk)
    # No pause needed: send_raw returns once the pipe took the bytes, so the daemon has read
    # all but a pipe buffer of them, and VmHWM keeps the peak.
    peak = d.peak_rss_kib()
    assert peak - before < 24 * 1024, (before, peak)
    d.close_stdin()
    assert d.wait(30) == 0


def store_of(d: RawDaemon) -> Path:
    args = d.proc.args
    assert isinstance(args, list)
    return Path(args[args.index("--store") + 1])


EOF_CASES = {
    "mid-header": b"Content-Length: 4",
    "mid-body": b'Content-Length: 100\r\n\r\n{"jsonrpc":',
    "after a snapshot request": frame(
        {"jsonrpc": "2.0", "id": 5, "method": "snapd/snapshot", "params": {}}
    ),
    "idle": b"",
}


@pytest.mark.parametrize("case", sorted(EOF_CASES))
@pytest.mark.fault(
    "EOF on stdin (idle, mid-header, mid-body, during a snapshot): clean exit, fsck clean", trials=1
)
def test_eof_stops_cleanly(tmp_path: Path, case: str) -> None:
    root = tmp_path / "work"
    for i in range(50):
        write(root, f"d/f{i}.txt", f"{i}\n" * 100)
    d = RawDaemon.spawn(root, tmp_path / "store", tmp_path / "d.log")
    try:
        d.initialize()
        assert "result" in d.request("snapd/snapshot", {})
        for i in range(50):
            write(root, f"d/f{i}.txt", f"changed {i}\n" * 100)
        d.send_raw(EOF_CASES[case])
        d.close_stdin()
        assert d.wait(30) == 0
    finally:
        d.kill()
    assert_fsck_clean(store_of(d))
    assert "Traceback" not in (tmp_path / "d.log.stderr").read_text()
