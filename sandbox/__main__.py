"""`python -m sandbox run SCENARIO.json [--json]`: run a scenario on the local emulated account."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

from .runner import check_expectations, dumps, run_scenario
from .scenario import ScenarioError, load_scenario
from .transcript import render

EXIT_INCOMPLETE = 1
EXIT_EXPECTATIONS = 2
EXIT_BAD_SCENARIO = 3


def main(argv: list[str] | None = None) -> int:
    """Run one scenario; 0 when it completed (and met its expectations, if it has any)."""
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a scenario file")
    run.add_argument("scenario", type=Path)
    run.add_argument("--json", action="store_true", help="print one JSON object instead of the transcript")
    run.add_argument("--logs", action="store_true", help="show the handlers' INFO logs (on stderr)")
    args = parser.parse_args(argv)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "INFO" if args.logs else "WARNING")
    try:
        scenario = load_scenario(args.scenario)
    except (OSError, ScenarioError) as error:
        print(f"Bad scenario: {error}", file=sys.stderr)
        return EXIT_BAD_SCENARIO
    # Handlers log to stdout as on Lambda; here stdout is kept for the transcript or the JSON.
    with contextlib.redirect_stdout(sys.stderr):
        result = run_scenario(scenario)
    problems = check_expectations(result, scenario.expect) if scenario.expect else None
    print(dumps(result) if args.json else render(result, problems))
    if not result["completed"]:
        return EXIT_INCOMPLETE
    return EXIT_EXPECTATIONS if problems else 0


if __name__ == "__main__":
    sys.exit(main())
