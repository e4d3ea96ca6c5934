"""Command line: run the suite against a server command and print a table per section."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tests.conformance.cases import all_cases
from tests.conformance.harness import DEFAULT_SERVER, Case, Config, Outcome, run_cases
from tests.conformance.schema import Schema

STYLE = {"pass": "green", "fail": "bold red", "skip": "yellow"}


def select(schema: Schema, patterns: list[str] | None) -> list[Case]:
    """The cases whose name or section contains one of ``patterns`` (all when none)."""
    cases = all_cases(sorted(schema.methods), schema.paged())
    if not patterns:
        return cases
    return [c for c in cases if any(p in c.name or p in c.section for p in patterns)]


def report(outcomes: list[Outcome], console: Console, *, details: bool) -> None:
    """A summary table per section, and with ``details`` one table of cases per section."""
    by_section: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_section[o.case.section].append(o)
    if details:
        for section, items in by_section.items():
            table = Table(title=section, title_justify="left", show_lines=False, expand=True)
            table.add_column("case", no_wrap=True)
            table.add_column("result", no_wrap=True)
            table.add_column("s", justify="right", no_wrap=True)
            table.add_column("details", overflow="fold", ratio=1)
            for o in items:
                text = "\n".join(o.messages[:6])
                if len(o.messages) > 6:
                    text += f"\n... and {len(o.messages) - 6} more"
                if o.notes and o.status != "fail":
                    text = "\n".join(f"note: {n}" for n in o.notes[:4])
                table.add_row(
                    o.case.name,
                    f"[{STYLE[o.status]}]{o.status.upper()}[/]",
                    f"{o.seconds:.1f}",
                    text,
                )
            console.print(table)
    summary = Table(title="protocol.md conformance", title_justify="left")
    summary.add_column("section")
    for col in ("pass", "fail", "skip"):
        summary.add_column(col, justify="right")
    summary.add_column("verdict")
    totals = {"pass": 0, "fail": 0, "skip": 0}
    for section, items in by_section.items():
        counts = {k: sum(o.status == k for o in items) for k in totals}
        for k in totals:
            totals[k] += counts[k]
        verdict = "[bold red]FAIL[/]" if counts["fail"] else "[green]PASS[/]"
        summary.add_row(section, *(str(counts[k]) for k in totals), verdict)
    verdict = "[bold red]FAIL[/]" if totals["fail"] else "[green]PASS[/]"
    summary.add_row("[bold]total[/]", *(str(totals[k]) for k in totals), verdict, end_section=True)
    console.print(summary)
    if not details:
        for o in outcomes:
            if o.status == "fail":
                console.print(f"[bold red]FAIL[/] {o.case.name}: " + "; ".join(o.messages[:3]))


def main(argv: list[str] | None = None) -> int:
    """Run the suite; exit 1 when a case fails."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.conformance",
        description="Check that a snapd server speaks protocol.md (over stdio only).",
    )
    parser.add_argument(
        "--server",
        help="server command; {root}, {store} and {log} are replaced per case "
        f"(default: {' '.join(DEFAULT_SERVER[1:])!r} with this Python)",
    )
    parser.add_argument("--schema", type=Path, help="protocol.schema.json to test against")
    parser.add_argument("--report", action="store_true", help="a table of cases per section")
    parser.add_argument("-k", action="append", dest="patterns", help="only cases matching this")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="cases run at once (default 2)")
    parser.add_argument("--examples", type=int, default=40, help="hypothesis examples")
    parser.add_argument("--json", type=Path, help="also write the outcomes as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep each case's temp directory")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    args = parser.parse_args(argv)

    schema = Schema.load(args.schema)
    config = Config(schema=schema, examples=args.examples, keep=args.keep)
    if args.server:
        config.server = Config.parse_server(args.server)
    cases = select(schema, args.patterns)
    console = Console()
    if args.list:
        for c in cases:
            console.print(f"[bold]{c.section}[/] :: {c.name}  [dim]{c.doc}[/]")
        return 0
    console.print(f"protocol {schema.version}: {len(cases)} cases against {config.server!r}")
    outcomes = asyncio.run(run_cases(cases, config, jobs=args.jobs))
    report(outcomes, console, details=args.report)
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    {
                        "case": o.case.name,
                        "section": o.case.section,
                        "status": o.status,
                        "messages": o.messages,
                        "notes": o.notes,
                        "seconds": round(o.seconds, 3),
                    }
                    for o in outcomes
                ],
                indent=2,
            )
        )
    return 1 if any(o.status == "fail" for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
