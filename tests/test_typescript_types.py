"""``clients/typescript/src/types.ts`` is generated from ``protocol.schema.json`` and kept fresh."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = ROOT / "scripts" / "gen_typescript.py"
TYPES_TS = ROOT / "clients" / "typescript" / "src" / "types.ts"
SCHEMA = ROOT / "protocol.schema.json"


@pytest.fixture(scope="module")
def gen() -> Any:
    spec = importlib.util.spec_from_file_location("gen_typescript", GENERATOR)
    assert spec is not None and spec.loader is not None
    module: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_types_ts_is_up_to_date() -> None:
    proc = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr


def test_check_mode_fails_on_a_stale_file(gen: Any, tmp_path: Path) -> None:
    stale = tmp_path / "types.ts"
    stale.write_text(
        TYPES_TS.read_text(encoding="utf-8").replace("digest: string;", "digest?: string;")
    )
    assert gen.main(["--check", "--output", str(stale)]) == 1
    assert gen.main(["--output", str(stale)]) == 0
    assert gen.main(["--check", "--output", str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == TYPES_TS.read_text(encoding="utf-8")


def test_a_schema_change_reaches_the_types(gen: Any, tmp_path: Path) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    schema["$defs"]["Hunk"]["properties"]["section"] = {
        "type": "string",
        "description": "The enclosing function's name.",
    }
    changed = tmp_path / "schema.json"
    changed.write_text(json.dumps(schema), encoding="utf-8")
    out = tmp_path / "types.ts"
    assert gen.main(["--schema", str(changed), "--output", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "  /** The enclosing function's name. */\n  section?: string;\n" in text
    assert gen.main(["--check", "--schema", str(changed)]) == 1


def test_every_wire_type_method_and_error_code_is_generated() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    text = TYPES_TS.read_text(encoding="utf-8")
    for name, entry in schema["$defs"].items():
        kind = "type" if "enum" in entry else "interface"
        assert re.search(rf"^export {kind} {name}\b", text, re.M), name
    for method in schema["x-methods"]:
        assert f'  "{method}": {{ params: ' in text, method
    for e in schema["x-errors"]:
        assert f"  {e['name']}: {e['code']},\n" in text, e
    # Doc comments come from the daemon's docstrings (through the schema's descriptions).
    assert "   * What this hunk says" in text or "  /** What this hunk says" in text
