"""``_errors.py`` is generated from protocol.md's Errors table: up to date, complete, exported."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import snapd_client
from snapd_client._errors import CODE_TO_ERROR, ResponseError, error_for

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "scripts" / "gen_client_errors.py"
NEW_ROW = "| -31010 | SnapshotGone | The snapshot went away; `data.id` names it. |\n"


@pytest.fixture
def gen(monkeypatch: pytest.MonkeyPatch) -> Any:
    spec = importlib.util.spec_from_file_location("gen_client_errors", GENERATOR)
    assert spec is not None and spec.loader is not None
    module: Any = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "gen_client_errors", module)
    spec.loader.exec_module(module)
    return module


def doc_with_new_code() -> str:
    doc = (ROOT / "protocol.md").read_text(encoding="utf-8")
    last = doc.index("| -31009 |")
    end = doc.index("\n", last) + 1
    return doc[:end] + NEW_ROW + doc[end:]


def test_generated_errors_are_up_to_date() -> None:
    proc = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr


def test_a_new_documented_code_makes_the_check_fail(
    gen: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = tmp_path / "protocol.md"
    doc.write_text(doc_with_new_code(), encoding="utf-8")
    target = tmp_path / "_errors.py"
    target.write_text(gen.TARGET.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(gen, "DOC", doc)
    monkeypatch.setattr(gen, "TARGET", target)
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    assert gen.main(["--check"]) == 1
    assert gen.main([]) == 0
    assert gen.main(["--check"]) == 0
    text = target.read_text(encoding="utf-8")
    assert "class SnapshotGone(ResponseError):" in text
    assert "    -31010: SnapshotGone,\n" in text
    assert "The snapshot went away; ``data.id`` names it." in text

    namespace: dict[str, Any] = {}
    exec(compile(text, str(target), "exec"), namespace)
    exc = namespace["error_for"](-31010, "gone", {"id": "abc"})
    assert type(exc).__name__ == "SnapshotGone" and exc.code == -31010


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("| -31010 | Bad Name | x |\n", "cannot be a class name"),
        ("| -31010 | ResponseError | x |\n", "cannot be a class name"),
        ("| -31009 | Another | x |\n", "repeats a code"),
        ("| -31010 | PlanStale | x |\n", "repeats a name"),
        ("| x | Thing | x |\n", "bad Errors row"),
    ],
)
def test_a_table_that_cannot_become_classes_is_refused(gen: Any, row: str, problem: str) -> None:
    doc = doc_with_new_code().replace(NEW_ROW, row)
    with pytest.raises(gen.DocError, match=problem):
        gen.generate(doc)


def test_every_error_class_is_exported() -> None:
    for cls in CODE_TO_ERROR.values():
        assert getattr(snapd_client, cls.__name__) is cls
        assert cls.__name__ in snapd_client.__all__


def test_error_for_picks_the_class_or_the_base() -> None:
    for code, cls in CODE_TO_ERROR.items():
        exc = error_for(code, "m", {"field": "from"})
        assert type(exc) is cls and exc.code == code and exc.field == "from"
    unknown = error_for(-31099, "later", None)
    assert type(unknown) is ResponseError and unknown.field is None
