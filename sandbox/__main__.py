"""`python -m sandbox run SCENARIO.json [--json]`: run a scenario on the local emulated account."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

from .expectations import check_expectations
from .runner import dumps, run_scenario
from .scenario import load_scenario
from .scenario_items import ScenarioError
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
    serve = commands.add_parser("serve", help="keep the emulated account up on a local port (make sandbox)")
    serve.add_argument("--port", type=int, default=4566)
    serve.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a context setting, e.g. ackTimeoutSeconds=60"
    )
    put = commands.add_parser("put-item", help="write an incident item (DynamoDB JSON file) into a running sandbox")
    put.add_argument("item", type=Path)
    put.add_argument("--endpoint", default="http://127.0.0.1:4566")
    answer = commands.add_parser("reply", help="answer as a phone, in a running sandbox")
    answer.add_argument("from_number")
    answer.add_argument("body")
    answer.add_argument("--endpoint", default="http://127.0.0.1:4566")
    args = parser.parse_args(argv)
    verbose = getattr(args, "logs", False)
    # The transcript is the product here: handler logs and metric records only on request.
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "INFO" if verbose else "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "false" if verbose else "true")
    if args.command != "run":
        return _other_command(args)
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


def _other_command(args: argparse.Namespace) -> int:
    """serve, put-item and reply."""
    from . import server  # noqa: PLC0415  (flask and the HTTP server are only needed here)

    if args.command == "serve":
        settings = dict(item.split("=", 1) for item in args.set)
        server.serve_forever(args.port, settings)
        return 0
    if args.command == "put-item":
        table = server.put_item(args.endpoint, json.loads(args.item.read_text()))
        print(f"written to {table}")
        return 0
    payload = server.reply(args.endpoint, args.from_number, args.body)
    print(f"published reply {payload['inboundMessageId']} from {args.from_number}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
