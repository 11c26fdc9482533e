"""`python -m sandbox.costs [SCENARIO.json ...]`: what each scenario costs the people paged and the account.

Runs each scenario (every bundled one by default) and prints one Markdown table: texts and segments sent, calls
placed, and the cost the incidents recorded from their delivery receipts (the sandbox prices a text part at
$0.00581 and an answered call at $0.013, unless a scenario's `delivery` says otherwise). A measurement, not a
test: the suite checks each scenario's own expectations.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from .runner import run_scenario
from .scenario import bundled_scenarios, load_scenario


def figures(result: dict[str, Any]) -> dict[str, Any]:
    """Texts, segments, calls and the incidents' summed cost (US dollars) of one run."""
    cost = sum((Decimal(str(incident.get("cost") or 0)) for incident in result["incidents"]), Decimal(0))
    return {
        "texts": len(result["sms"]),
        "segments": sum(int(message.get("segments", 1)) for message in result["sms"]),
        "calls": len(result.get("calls", [])),
        "cost_usd": cost,
        "completed": bool(result["completed"]),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the scenarios and print the table; 1 when any did not complete."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.costs", description=__doc__)
    parser.add_argument("scenarios", nargs="*", type=Path, help="scenario files (default: every bundled one)")
    args = parser.parse_args(argv)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    paths = args.scenarios or bundled_scenarios()
    print("| Scenario | Texts | Segments | Calls | Cost (USD) |\n|---|---|---|---|---|")
    failed = 0
    for path in paths:
        with contextlib.redirect_stdout(sys.stderr):  # handlers log to stdout
            row = figures(run_scenario(load_scenario(path)))
        failed += not row["completed"]
        mark = "" if row["completed"] else " (did not complete)"
        print(f"| {path.stem}{mark} | {row['texts']} | {row['segments']} | {row['calls']} | {row['cost_usd']:.5f} |", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
