"""`python -m sandbox.burst [--incidents 200]`: many distinct incidents written at once, measured.

Each incident has its own first contact, who answers YES after their first SMS, and its own
second contact, who never answers. The incidents are written into the table at the same instant
(one write per thread). Printed (and with ``--json``, one JSON object):

* ``last_first_page_s``: seconds from the first write to the last first contact's first page;
* ``pages``: page texts sent (``INCIDENT ...``), ``escalations``: incidents whose second contact
  was paged (with a long acknowledgement window, each one is a reply that came too late);
* ``dlq_messages``: records left in the stack's dead-letter queues, ``handler_errors``;
* ``acknowledged``: incidents acknowledged by their first contact.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from typing import Any

from .runner import run_scenario
from .scenario import Scenario, parse_scenario

DLQ_PREFIXES = ("StreamFailures", "ReplyFailures")
MAX_INCIDENTS = 399


def first_contact(index: int) -> str:
    """The first contact's number for incident index (Ofcom's drama range, never a real phone)."""
    return f"+447700900{100 + index:03d}" if index < 400 else f"+447700901{index - 400:03d}"


def second_contact(index: int) -> str:
    """The second contact's number for incident index."""
    return f"+447700900{500 + index:03d}" if index < 400 else f"+447700902{index - 400:03d}"


def _incident(index: int) -> dict[str, Any]:
    return {
        "incident_id": {"S": f"burst-{index:03d}"},
        "incident_stat": {"S": "not_acknowledged"},
        "double_escalation": {"S": "no"},
        "description": {"S": f"Burst incident {index}: disk full on host {index}."},
        "url": {"S": "no url"},
        "first_contact": {"S": first_contact(index)},
        "second_contact": {"S": second_contact(index)},
    }


def burst_scenario(
    count: int = 200, *, ack_timeout_seconds: int = 60, time_limit_seconds: float = 900, parts_per_second: int | None = None
) -> Scenario:
    """Count incidents written at once; every first contact answers YES to their first SMS."""
    if not 1 <= count <= MAX_INCIDENTS:
        raise ValueError(f"count must be between 1 and {MAX_INCIDENTS}")
    return parse_scenario(
        {
            "name": f"{count} incidents at once",
            "settings": {"ackTimeoutSeconds": ack_timeout_seconds, "reminders": 0}
            | ({"smsPartsPerSecond": parts_per_second} if parts_per_second else {}),
            "incident": _incident(0),
            "writes": [{"after_seconds": 0, "item": _incident(index)} for index in range(1, count)],
            "phones": {first_contact(index): [{"on_sms": 1, "reply": "YES"}] for index in range(count)},
            "time_limit_seconds": time_limit_seconds,
        }
    )


def measure(result: dict[str, Any], count: int) -> dict[str, Any]:
    """The burst figures from a run's result (the `--json` object of `python -m sandbox run`)."""
    firsts = {first_contact(index) for index in range(count)}
    seconds = {second_contact(index) for index in range(count)}
    pages = [message for message in result["sms"] if message["body"].startswith("INCIDENT")]
    first_page_at: dict[str, float] = {}
    for message in pages:
        if message["to"] in firsts:
            first_page_at.setdefault(message["to"], message["t"])
    escalated = {message["to"] for message in pages if message["to"] in seconds}
    incidents = result.get("incidents")
    acknowledged = None
    if incidents is not None:
        acknowledged = sum(1 for item in incidents if item.get("incident_stat") == "acknowledged")
    return {
        "incidents": count,
        "completed": result["completed"],
        "first_pages": len(first_page_at),
        "last_first_page_s": max(first_page_at.values()) if first_page_at else None,
        "pages": len(pages),
        "sms": len(result["sms"]),
        "escalations": len(escalated),
        "queued_pages": sum(
            1 for execution in result["executions"] for state in execution["states_entered"] if state == "Wait for send slot"
        ),
        "throttled": sum(1 for error in result["errors"] if "SmsThrottled" in error),
        "acknowledged": acknowledged,
        "dlq_messages": sum(1 for error in result["errors"] if error.startswith(DLQ_PREFIXES)),
        "handler_errors": sum(1 for error in result["errors"] if not error.startswith(DLQ_PREFIXES)),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the burst and print its figures; 0 when every incident got its first page and nothing escalated."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.burst", description=__doc__)
    parser.add_argument("--incidents", type=int, default=200)
    parser.add_argument("--ack-timeout", type=int, default=60, help="ackTimeoutSeconds (default 60)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes per function")
    parser.add_argument(
        "--parts-per-second", type=int, default=None, help="smsPartsPerSecond (default: the sandbox's, 10; deployed default 1)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    scenario = burst_scenario(args.incidents, ack_timeout_seconds=args.ack_timeout, parts_per_second=args.parts_per_second)
    started = time.monotonic()
    with contextlib.redirect_stdout(sys.stderr):  # handlers log to stdout
        result = run_scenario(scenario) if args.workers is None else run_scenario(scenario, workers=args.workers)
    figures = {**measure(result, args.incidents), "run_s": round(time.monotonic() - started, 1)}
    if args.workers is not None:
        figures["workers_per_function"] = args.workers
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:>18}: {value}")
    healthy = figures["first_pages"] == args.incidents and not figures["escalations"] and not figures["dlq_messages"]
    return 0 if figures["completed"] and healthy else 1


if __name__ == "__main__":
    sys.exit(main())
