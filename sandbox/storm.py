"""`python -m sandbox.storm [--triggers 200] [--keys 20] [--parts-per-second N]`: an alert storm, measured.

Triggers are posted to the Events API v2 endpoint over one minute, cycling over `--keys` dedup keys, all
to one integration whose chain starts with one person (who never answers); after the minute every key
is resolved, as the storm clears. Printed (``--json``: one object):

* ``incidents_opened`` (expected: one per key) and ``repeats`` (triggers counted on an open incident);
* ``pages``, ``texts`` and ``segments`` sent, ``texts_per_person``;
* ``last_first_page_s``: seconds from the first trigger to the last incident's first page.
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
from .scenario import Scenario, parse_scenario

PERSON = "+447700900001"
BACKUP = "+447700900002"
SERVICES = ("db-cpu", "api-5xx", "disk-full", "queue-lag", "cert-expiry")


def storm_scenario(
    triggers: int = 200, keys: int = 20, *, window_seconds: float = 60.0, parts_per_second: int | None = None
) -> Scenario:
    """Triggers spread evenly over window_seconds, cycling over keys; each key resolved after the window."""
    if not 1 <= keys <= triggers:
        raise ValueError("keys must be between 1 and the number of triggers")
    events = [
        {
            "after_seconds": round(index * window_seconds / triggers, 3),
            "integration": "storm",
            "body": {
                "event_action": "trigger",
                "dedup_key": f"storm-{index % keys:02d}",
                "payload": {
                    "summary": f"{SERVICES[index % keys % len(SERVICES)]} {index % keys:02d} unhealthy",
                    "source": "storm",
                    "severity": "critical",
                },
            },
        }
        for index in range(triggers)
    ]
    events += [
        {
            # In the next rate-limit minute: the storm itself used up its routing key's 120 events per minute.
            "after_seconds": window_seconds + 61,
            "integration": "storm",
            "body": {"event_action": "resolve", "dedup_key": f"storm-{key:02d}"},
        }
        for key in range(keys)
    ]
    settings: dict[str, Any] = {"reminders": 0, "ackTimeoutSeconds": 600}
    if parts_per_second:
        settings["smsPartsPerSecond"] = parts_per_second
    return parse_scenario(
        {
            "name": f"{triggers} triggers over {keys} dedup keys in {window_seconds:g} s to one person",
            "settings": settings,
            "integrations": {"storm": {"contacts": [PERSON, BACKUP]}},
            "events": events,
            "time_limit_seconds": window_seconds + 150,  # executions still waiting on a reply are not waited for
        }
    )


def measure(result: dict[str, Any]) -> dict[str, Any]:
    """The storm figures from a run's result."""
    # A page is a text an incident's timeline records as `paged`: its own page, or a batch listing several.
    sent_at = {message["message_id"]: message["t"] for message in result["sms"]}
    first_page: dict[str, float] = {}
    page_ids: set[str] = set()
    for item in result["incidents"]:
        for entry in item.get("timeline", []):
            if entry.get("event") == "paged" and entry.get("message_id") in sent_at:
                page_ids.add(entry["message_id"])
                first_page.setdefault(str(item["incident_id"]), sent_at[entry["message_id"]])
    pages = [message for message in result["sms"] if message["message_id"] in page_ids]
    statuses = Counter(entry["status"] for entry in result["events"])
    return {
        "completed": result["completed"],
        "incidents_opened": len(result["incidents"]),
        "repeats": sum(int(item.get("alert_count", 1)) - 1 for item in result["incidents"]),
        "event_statuses": dict(sorted(statuses.items())),
        "pages": len(pages),
        "texts": len(result["sms"]),
        "segments": sum(message["segments"] for message in result["sms"]),
        "texts_per_person": dict(Counter(message["to"] for message in result["sms"])),
        "pages_per_person": dict(Counter(message["to"] for message in pages)),
        "last_first_page_s": max(first_page.values()) if first_page else None,
        "incidents_paged": len(first_page),
        "batched_texts": sum(1 for message in pages if " new incidents: " in message["body"]),
        "errors": len(result["errors"]),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the storm and print its figures; 0 when it completed."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.storm", description=__doc__)
    parser.add_argument("--triggers", type=int, default=200)
    parser.add_argument("--keys", type=int, default=20)
    parser.add_argument("--window", type=float, default=60.0, help="seconds over which the triggers arrive")
    parser.add_argument("--parts-per-second", type=int, default=None, help="smsPartsPerSecond (sandbox default 10)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    scenario = storm_scenario(args.triggers, args.keys, window_seconds=args.window, parts_per_second=args.parts_per_second)
    started = time.monotonic()
    with contextlib.redirect_stdout(sys.stderr):  # handlers log to stdout
        result = run_scenario(scenario)
    figures = {**measure(result), "parts_per_second": args.parts_per_second or 10, "run_s": round(time.monotonic() - started, 1)}
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:>18}: {value}")
    return 0 if figures["completed"] else 1


if __name__ == "__main__":
    sys.exit(main())
