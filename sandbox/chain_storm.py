"""`python -m sandbox.chain_storm [--incidents 60]`: a storm on one chain, nobody answering, texts per person counted.

Sixty incidents written within a second, all paging the same two-contact chain, with 20 s acknowledgement
windows and 20 s storm batches; nobody answers, so every incident walks the chain to exhaustion. Printed
(one JSON object): texts (and segments) to each person from the first page to the end, and by kind
(pages, batch texts, notices), so a storm's cost to the people woken is a measured figure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections import Counter
from typing import Any

from .runner import run_scenario
from .runtime import DEFAULT_MAX_WORKERS
from .scenario import Scenario, parse_scenario

FIRST, SECOND = "+447700900001", "+447700900002"


def _incident(index: int) -> dict[str, Any]:
    return {
        "incident_id": {"S": f"storm-{index:03d}"},
        "description": {"S": f"Storm incident {index}: api-{index} 5xx above 5%."},
        "url": {"S": "no url"},
        "contacts": {"L": [{"S": FIRST}, {"S": SECOND}]},
    }


def storm_scenario(count: int = 60, *, window_seconds: int = 20, batch_seconds: int = 20, time_limit: int = 600) -> Scenario:
    """Count incidents for one two-contact chain, written within a second; nobody answers."""
    return parse_scenario(
        {
            "name": f"a storm of {count} incidents on one chain, nobody answering",
            "settings": {"ackTimeoutSeconds": window_seconds, "reminders": 0, "stormBatchSeconds": batch_seconds},
            "incident": _incident(0),
            "writes": [{"after_seconds": index / count, "item": _incident(index)} for index in range(1, count)],
            "time_limit_seconds": time_limit,
        }
    )


def _kind(body: str) -> str:
    if body.startswith("INCIDENT"):
        return "page"
    if "new incidents" in body:
        return "batch"
    if body.startswith("Storm update"):
        return "digest"
    return "notice"


def texts_per_person(result: dict[str, Any]) -> dict[str, Any]:
    """Texts and segments each person got, and by kind."""
    figures: dict[str, Any] = {}
    for person in (FIRST, SECOND):
        sent = [message for message in result["sms"] if message["to"] == person]
        figures[person] = {
            "texts": len(sent),
            "segments": sum(int(message.get("segments", 1)) for message in sent),
            "by_kind": dict(Counter(_kind(str(message["body"])) for message in sent)),
        }
    return figures


def main(argv: list[str] | None = None) -> int:
    """Run the storm and print its figures."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.chain_storm", description=__doc__)
    parser.add_argument("--incidents", type=int, default=60)
    parser.add_argument("--window", type=int, default=20, help="ackTimeoutSeconds (default 20)")
    parser.add_argument("--batch", type=int, default=20, help="stormBatchSeconds (default 20)")
    parser.add_argument("--time-limit", type=int, default=900, help="seconds before the run is cut short (default 900)")
    parser.add_argument(
        "--workers", type=int, default=DEFAULT_MAX_WORKERS, help="processes per function (as Lambda's concurrency)"
    )
    parser.add_argument("--texts", action="store_true", help="also list each person's texts (seconds, first line)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with contextlib.redirect_stdout(sys.stderr):  # handlers log to stdout
        scenario = storm_scenario(
            args.incidents, window_seconds=args.window, batch_seconds=args.batch, time_limit=args.time_limit
        )
        result = run_scenario(scenario, workers=args.workers)
    figures = {
        "incidents": args.incidents,
        "completed": result["completed"],
        "per_person": texts_per_person(result),
        "errors": len(result["errors"]),
        "run_s": round(time.monotonic() - started, 1),
    }
    if args.texts:
        figures["texts"] = {
            person: [
                f"{message['t']:.1f} {str(message['body']).splitlines()[0][:320]}"
                for message in result["sms"]
                if message["to"] == person
            ]
            for person in (FIRST, SECOND)
        }
    print(json.dumps(figures, indent=1))
    return 0 if result["completed"] else 1


if __name__ == "__main__":
    sys.exit(main())
