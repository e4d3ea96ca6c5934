"""The conformance suite as pytest tests, against this repository's ``snapd --stdio``.

All cases run once per session (a few at a time, each with its own worktree, store and server
processes); each test then reports one case. ``SNAPD_CONFORMANCE_SERVER`` replaces the server
command (same placeholders as ``--server``).
"""

from __future__ import annotations

import asyncio
import os

import pytest

from tests.conformance.cases import METHOD_SPECS, PAGING_SPECS, all_cases
from tests.conformance.harness import Config, Outcome, run_cases
from tests.conformance.schema import Schema

pytestmark = [pytest.mark.e2e]

SCHEMA = Schema.load()
CASES = all_cases(sorted(SCHEMA.methods), SCHEMA.paged())

KNOWN_VIOLATIONS: dict[str, str] = {}
"""Case name -> why this daemon fails it (strict xfail: remove the entry once it is fixed)."""


@pytest.fixture(scope="session")
def outcomes() -> dict[str, Outcome]:
    config = Config(schema=SCHEMA, examples=int(os.environ.get("SNAPD_CONFORMANCE_EXAMPLES", "30")))
    if os.environ.get("SNAPD_CONFORMANCE_SERVER"):
        config.server = Config.parse_server(os.environ["SNAPD_CONFORMANCE_SERVER"])
    done = asyncio.run(run_cases(CASES, config, jobs=4))
    return {o.case.name: o for o in done}


def test_every_schema_method_has_a_case() -> None:
    assert set(METHOD_SPECS) == set(SCHEMA.methods), (
        "every method in protocol.schema.json needs an @method case in tests/conformance/cases/"
    )
    assert set(SCHEMA.paged()) <= set(PAGING_SPECS), "every paged method needs a PagingSpec"


def test_case_names_are_unique() -> None:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            c.name,
            marks=[pytest.mark.xfail(reason=KNOWN_VIOLATIONS[c.name], strict=True)]
            if c.name in KNOWN_VIOLATIONS
            else [],
        )
        for c in CASES
    ],
)
def test_conformance(name: str, outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes[name]
    if outcome.status == "skip":
        pytest.skip("; ".join(outcome.notes[:1]))
    assert outcome.status == "pass", f"[{outcome.case.section}] {name}:\n" + "\n".join(
        outcome.messages
    )
