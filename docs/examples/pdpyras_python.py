"""Trigger an alert, or resolve one with pdpyras (`pip install pdpyras`), the official client's predecessor.

    ROUTING_KEY=... EVENTS_BASE_URL=https://<api-id>.execute-api.<region>.amazonaws.com python pdpyras_python.py
        ... python pdpyras_python.py --resolve DEDUP_KEY

pdpyras takes the *base* URL (set as the session's `url`) and adds /v2/enqueue itself. Against the sandbox over
https, trust its certificate with REQUESTS_CA_BUNDLE (docs/sandbox.md prints the path); plain http works too.
"""

import os
import sys

import pdpyras

session = pdpyras.EventsAPISession(os.environ["ROUTING_KEY"])
session.url = os.environ["EVENTS_BASE_URL"]
if len(sys.argv) == 3 and sys.argv[1] == "--resolve":
    session.resolve(sys.argv[2])
    print(f"resolved {sys.argv[2]}")
    sys.exit(0)
dedup_key = session.trigger(
    "Disk 95% full on db-1",
    "db-1",
    severity="critical",
    custom_details={"mount": "/var/lib/postgresql", "used": "95%"},
    links=[{"href": "https://runbooks.example.com/disk-full", "text": "Runbook"}],
)
print(f"triggered {dedup_key}")
