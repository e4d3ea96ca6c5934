"""The conformance suite as pytest tests, against this repository's ``snapd --stdio``, once
forwarding to a shared daemon and once ``--standalone``.

All cases run once per session (a few at a time, each with its own worktree, store and server
processes); each test then reports one case. ``SNAPD_CONFORMANCE_SERVER`` replaces the server
command (same placeholders as ``--server``).
"""

from __future__ import annotations

import asyncio
import os

import pytest

from tests.conformance.cases import METHOD_SPECS, PAGING_SPECS, all_cases
from tests.conformance.harness import DEFAULT_SERVER, Config, Outcome, run_cases
from tests.conformance.schema import Schema

pytestmark = [pytest.mark.e2e]

SCHEMA = Schema.load()
CASES = all_cases(sorted(SCHEMA.methods), SCHEMA.paged())

KNOWN_VIOLATIONS: dict[str, str] = {}
"""Case name -> why this daemon fails it (strict xfail: remove the entry once it is fixed)."""


MODES = {
    "forwarded": DEFAULT_SERVER,
    "standalone": [*DEFAULT_SERVER, "--standalone"],
}
"""Each way this repository's ``snapd --stdio`` serves: through the worktree's shared daemon
(the default) and in-process."""

_OUTCOMES: dict[str, dict[str, Outcome]] = {}


def outcomes(mode: str) -> dict[str, Outcome]:
    """Every case's outcome in ``mode`` (all cases run, a few at a time, on first use)."""
    if mode not in _OUTCOMES:
        config = Config(
            schema=SCHEMA, examples=int(os.environ.get("SNAPD_CONFORMANCE_EXAMPLES", "30"))
        )
        if os.environ.get("SNAPD_CONFORMANCE_SERVER"):
            config.server = Config.parse_server(os.environ["SNAPD_CONFORMANCE_SERVER"])
        else:
            config.server = list(MODES[mode])
        done = asyncio.run(run_cases(CASES, config, jobs=4))
        _OUTCOMES[mode] = {o.case.name: o for o in done}
    return _OUTCOMES[mode]


def test_every_schema_method_has_a_case() -> None:
    assert set(METHOD_SPECS) == set(SCHEMA.methods), (
        "every method in protocol.schema.json needs an @method case in tests/conformance/cases/"
    )
    assert set(SCHEMA.paged()) <= set(PAGING_SPECS), "every paged method needs a PagingSpec"


def test_case_names_are_unique() -> None:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(
    "mode", ["custom"] if os.environ.get("SNAPD_CONFORMANCE_SERVER") else list(MODES)
)
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
def test_conformance(mode: str, name: str) -> None:
    outcome = outcomes(mode)[name]
    if outcome.status == "skip":
        pytest.skip("; ".join(outcome.notes[:1]))
    assert outcome.status == "pass", f"[{outcome.case.section}] {name} ({mode}):\n" + "\n".join(
        outcome.messages
    )
