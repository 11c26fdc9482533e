"""`incidents maintenance`: the CLI checks the integration or policy and the span, then asks the operator function.

The function's side (holding, releasing, ops notices, schedules) is tested on the handlers on moto
(tests/unit/test_maintenance.py); here a Stubber answers for it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from escalation.alerts.integrations import create_integration
from tests.cli.conftest import Deployed, LambdaStub
from tests.cli.test_incident_commands import ok, refused

WINDOW = {"ok": True, "id": "9456bdfa12", "scope": "integration", "integration": "db", "from": "2026-12-05T10:00:00Z",
          "to": "2026-12-05T12:00:00Z", "state": "active", "reason": "deploy", "by": "cli:dana"}  # fmt: skip


def test_start_for_two_hours_asks_for_a_window_of_the_integration(deployed: Deployed, lambda_stub: LambdaStub) -> None:
    create_integration(deployed.integrations, "db", contacts=["+447700900001"])
    lambda_stub.answer(WINDOW)
    out = ok(deployed.cli("maintenance", "start", "--integration", "db", "--for", "2h", "--reason", "deploy", "--as", "dana"))
    assert out["id"] == "9456bdfa12"
    (request,) = [r["Payload"] for r in lambda_stub.requests]
    assert (request["action"], request["scope"], request["target"], request["by"]) == (
        "maintenance_start", "integration", "db", "cli:dana",
    )  # fmt: skip
    assert request["to"] - request["from"] == 2 * 3600 and request["reason"] == "deploy" and request["request_id"]


def test_a_planned_window_of_a_policy_is_sent_with_its_times(deployed: Deployed, lambda_stub: LambdaStub) -> None:
    lambda_stub.answer({**WINDOW, "scope": "policy", "policy": "payments", "state": "planned"})
    text = ok(deployed.cli("maintenance", "start", "--policy", "payments", "--from", "2030-01-02T22:00",
                           "--to", "2030-01-03T01:00", "--as", "dana", json_output=False))  # fmt: skip
    assert "planned" in text and "payments" in text
    (request,) = [r["Payload"] for r in lambda_stub.requests]
    assert request["from"] == int(datetime(2030, 1, 2, 22, tzinfo=UTC).timestamp())
    assert request["to"] == int(datetime(2030, 1, 3, 1, tzinfo=UTC).timestamp())


def test_what_does_not_exist_or_does_not_add_up_is_refused_before_asking(deployed: Deployed, lambda_stub: LambdaStub) -> None:
    assert "--integration: no integration 'nope'" in refused(
        deployed.cli("maintenance", "start", "--integration", "nope", "--for", "1h")
    )
    assert "--policy: no policy 'nope'" in refused(deployed.cli("maintenance", "start", "--policy", "nope", "--for", "1h"))
    assert "exactly one of" in refused(deployed.cli("maintenance", "start", "--for", "1h"))
    assert "--for DURATION" in refused(deployed.cli("maintenance", "start", "--policy", "payments"))
    assert "--for: " in refused(deployed.cli("maintenance", "start", "--policy", "payments", "--for", "soon"))
    assert lambda_stub.requests == []


def test_the_functions_refusal_is_shown_naming_the_field(deployed: Deployed, lambda_stub: LambdaStub) -> None:
    lambda_stub.answer({"ok": False, "error": "refused", "message": "to: a window lasts at most 7 days, got 240.0 h"})
    message = refused(deployed.cli("maintenance", "start", "--policy", "payments", "--for", "10d", "--as", "dana"))
    assert "to: a window lasts at most 7 days" in message


def test_list_and_end(deployed: Deployed, lambda_stub: LambdaStub) -> None:
    lambda_stub.answer({"ok": True, "windows": [WINDOW]})
    text = ok(deployed.cli("maintenance", "list", json_output=False))
    assert "9456bdfa12" in text and "active" in text
    lambda_stub.answer({**WINDOW, "state": "ended", "released": 3})
    text = ok(deployed.cli("maintenance", "end", "9456bdfa12", "--as", "dana", json_output=False))
    assert "Window 9456bdfa12 ended: 3 held incident(s) page now." in text
    assert [r["Payload"]["action"] for r in lambda_stub.requests] == ["maintenance_list", "maintenance_end"]
    assert lambda_stub.requests[1]["Payload"]["window"] == "9456bdfa12"
