"""Trigger an alert, or resolve one with PagerDuty's official Python client (`pip install pagerduty`).

    ROUTING_KEY=... EVENTS_BASE_URL=https://<api-id>.execute-api.<region>.amazonaws.com python pagerduty_python.py
        ... python pagerduty_python.py --resolve DEDUP_KEY

The client takes the *base* URL and adds /v2/enqueue itself; it refuses any URL that is not https. Against the
sandbox, trust its certificate with SSL_CERT_FILE (docs/sandbox.md prints the path).
"""

import os
import sys

import pagerduty

client = pagerduty.EventsApiV2Client(os.environ["ROUTING_KEY"], base_url=os.environ["EVENTS_BASE_URL"])
if len(sys.argv) == 3 and sys.argv[1] == "--resolve":
    client.resolve(sys.argv[2])
    print(f"resolved {sys.argv[2]}")
    sys.exit(0)
dedup_key = client.trigger(
    "Disk 95% full on db-1",
    "db-1",
    severity="critical",
    custom_details={"mount": "/var/lib/postgresql", "used": "95%"},
    links=[{"href": "https://runbooks.example.com/disk-full", "text": "Runbook"}],
)
print(f"triggered {dedup_key}")
