"""The envelope module is what scripts/gen_protocol_messages.py writes from the method table."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import attrs

from snapd import protocol

ROOT = Path(__file__).resolve().parents[1]


def load_generator():
    spec = importlib.util.spec_from_file_location(
        "gen_protocol_messages", ROOT / "scripts" / "gen_protocol_messages.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_protocol_messages", module)
    spec.loader.exec_module(module)
    return module


def test_messages_module_is_up_to_date() -> None:
    gen = load_generator()
    assert gen.TARGET.read_text() == gen.render(), "run scripts/gen_protocol_messages.py"


def test_check_fails_when_the_module_drifts(tmp_path, monkeypatch, capsys) -> None:
    gen = load_generator()
    stale = tmp_path / "messages.py"
    stale.write_text(gen.TARGET.read_text().replace("The request id.", "An id.", 1))
    monkeypatch.setattr(gen, "TARGET", stale)
    monkeypatch.setattr(sys, "argv", ["gen_protocol_messages.py", "--check"])
    assert gen.main() == 1
    assert "out of date" in capsys.readouterr().err


def test_every_method_has_its_envelopes() -> None:
    for method, m in protocol.METHODS.items():
        types = protocol.METHOD_TO_TYPES[method]
        assert (types.params, types.result) == (m.params, m.result)
        request = {f.name: f for f in attrs.fields(types.request)}
        assert request["method"].default == method
        assert request["params"].type in (m.params, m.params.__name__)
    assert set(protocol.NOTIFICATION_TO_TYPES) == set(protocol.NOTIFICATIONS)
