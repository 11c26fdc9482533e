"""Maintenance windows: held while a window covers the incident, paged when it ends, nothing lost, edges at least once.

DynamoDB, SNS, SQS, Step Functions and EventBridge Scheduler are moto. The start function runs on the stream records
the table would emit (built from the item as it is after each write), as Lambda would deliver them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import operator_actions
import pytest
import start_escalation
from aws_lambda_powertools.utilities.typing import LambdaContext
from boto3.dynamodb.types import TypeSerializer

from escalation.alerts import heartbeat_schedules
from escalation.incidents import maintenance_actions
from escalation.incidents.maintenance import MAX_WINDOW_SECONDS, Window, covering
from escalation.platform import wiring
from escalation.store.maintenance_windows import MaintenanceWindows, hold
from tests.conftest import REGION, Aws
from tests.unit.events import stream_event, stream_record
from tests.unit.test_alert_events import _post, integration  # noqa: F401 (the fixture)

GROUP = "IncidentEscalation-maintenance"
HOUR = 3600


@pytest.fixture
def windows(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[MaintenanceWindows]:
    table = boto3.resource("dynamodb", region_name=REGION).create_table(
        TableName="Oncall",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv("ONCALL_TABLE", "Oncall")
    monkeypatch.setenv("MAINTENANCE_SCHEDULE_GROUP", GROUP)
    monkeypatch.setenv("MAINTENANCE_SCHEDULER_ROLE_ARN", "arn:aws:iam::123456789012:role/maintenance-scheduler")
    wiring.reset()
    heartbeat_schedules.scheduler_client.cache_clear()
    boto3.client("scheduler", region_name=REGION).create_schedule_group(Name=GROUP)
    yield MaintenanceWindows(table)
    heartbeat_schedules.scheduler_client.cache_clear()


def operator(request: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dict(operator_actions.handler(request, context))


def start(context: LambdaContext, *, scope: str = "integration", target: str = "db", request_id: str = "req-1",
          seconds: int = HOUR, starts_in: int = 0) -> dict[str, Any]:  # fmt: skip
    now = int(time.time())
    request = {
        "action": "maintenance_start", "scope": scope, "target": target, "from": now + starts_in,
        "to": now + starts_in + seconds, "reason": "deploy db v2", "by": "cli:dana", "request_id": request_id,
    }  # fmt: skip
    return operator(request, context)


def alert_item(seed_item: dict[str, Any], incident_id: str = "123", source: str = "db") -> dict[str, Any]:
    return {**seed_item, "incident_id": {"S": incident_id}, "integration": {"S": source}}


_SEQUENCE = [1000]


def stream(aws: Aws, context: LambdaContext, incident_id: str, *, event_name: str = "MODIFY") -> None:
    """Deliver the record the table emits for the item as it is now (a new sequence number each time)."""
    _SEQUENCE[0] += 1
    serializer = TypeSerializer()
    image = {key: serializer.serialize(value) for key, value in aws.incident(incident_id).items()}
    result = start_escalation.handler(
        stream_event(stream_record(image, sequence=str(_SEQUENCE[0]), event_name=event_name)), context
    )
    assert result == {"batchItemFailures": []}


def events(aws: Aws, incident_id: str) -> list[str]:
    return [entry["event"] for entry in aws.incident(incident_id)["timeline"]]


def subjects(aws: Aws) -> list[str]:
    return [message["Subject"] for message in aws.ops_messages()]


def test_a_window_holds_a_new_incident_of_its_integration_and_its_end_pages_it(
    aws: Aws, windows: MaintenanceWindows, seed_item: dict[str, Any], lambda_context: LambdaContext
) -> None:
    window = start(lambda_context)
    assert window["ok"] and window["state"] == "active" and window["integration"] == "db"
    assert subjects(aws) == ["Maintenance started: integration db"]
    aws.put_incident(alert_item(seed_item))
    stream(aws, lambda_context, "123", event_name="INSERT")
    item = aws.incident("123")
    assert (item["incident_stat"], item["maintenance_window"]) == ("not_acknowledged", window["id"])
    assert "execution_arn" not in item and aws.executions() == []
    stream(aws, lambda_context, "123")  # the record of the hold itself: nothing more is written
    assert events(aws, "123") == ["maintenance"]
    other = alert_item(seed_item, "124", source="api")  # another integration pages as usual
    aws.put_incident(other)
    stream(aws, lambda_context, "124", event_name="INSERT")
    assert len(aws.executions()) == 1

    ended = operator({"action": "maintenance_end", "window": window["id"], "by": "cli:dana", "request_id": "r2"}, lambda_context)
    assert (ended["ok"], ended["state"], ended["released"]) == (True, "ended", 1)
    assert events(aws, "123") == ["maintenance", "maintenance_ended"]
    stream(aws, lambda_context, "123")  # the release is a MODIFY of a fresh incident: its escalation starts
    assert aws.incident("123")["execution_arn"] in {execution["executionArn"] for execution in aws.executions()}
    assert "maintenance_window" not in aws.incident("123")
    assert subjects(aws) == ["Maintenance ended: integration db"]
    again = operator({"action": "maintenance_end", "window": window["id"], "by": "cli:dana", "request_id": "r3"}, lambda_context)
    assert again["released"] == 0 and subjects(aws) == []  # ended once; ops told once
    due = operator({"action": "maintenance_due", "window": window["id"], "edge": "end"}, lambda_context)  # its schedule
    assert due == {"ok": True, "outcome": "ended", "window": window["id"], "released": 0} and subjects(aws) == []
    assert len(aws.executions()) == 2


def test_an_incident_resolved_during_the_window_is_never_paged(
    aws: Aws, windows: MaintenanceWindows, seed_item: dict[str, Any], lambda_context: LambdaContext
) -> None:
    window = start(lambda_context)
    aws.put_incident(alert_item(seed_item))
    stream(aws, lambda_context, "123", event_name="INSERT")
    assert aws.incident("123").get("maintenance_window") == window["id"]
    resolved = operator({"action": "resolve", "incident_id": "123", "by": "cli:dana", "request_id": "r9"}, lambda_context)
    assert resolved["ok"], resolved
    aws.put_incident(alert_item(seed_item, "125"))  # another, acknowledged by the CLI while held
    stream(aws, lambda_context, "125", event_name="INSERT")
    taken = operator({"action": "acknowledge", "incident_id": "125", "by": "cli:dana", "request_id": "r8"}, lambda_context)
    assert taken["ok"] and aws.incident("125")["incident_stat"] == "acknowledged", taken
    operator({"action": "maintenance_end", "window": window["id"], "by": "cli:dana", "request_id": "r2"}, lambda_context)
    stream(aws, lambda_context, "123")
    stream(aws, lambda_context, "125")
    assert aws.incident("123")["incident_stat"] == "resolved" and aws.executions() == []
    assert aws.incident("125")["incident_stat"] == "acknowledged"


def test_overlapping_windows_hold_until_the_last_ends(
    aws: Aws, windows: MaintenanceWindows, seed_item: dict[str, Any], lambda_context: LambdaContext
) -> None:
    short = start(lambda_context, request_id="short", seconds=HOUR)
    long = start(lambda_context, request_id="long", seconds=2 * HOUR)
    aws.put_incident(alert_item(seed_item))
    stream(aws, lambda_context, "123", event_name="INSERT")
    assert aws.incident("123")["maintenance_window"] == long["id"]  # the one that ends last
    operator({"action": "maintenance_end", "window": long["id"], "by": "cli:dana", "request_id": "e1"}, lambda_context)
    stream(aws, lambda_context, "123")  # released from the long one: the short one still covers it
    assert aws.incident("123")["maintenance_window"] == short["id"] and aws.executions() == []
    operator({"action": "maintenance_end", "window": short["id"], "by": "cli:dana", "request_id": "e2"}, lambda_context)
    stream(aws, lambda_context, "123")
    assert len(aws.executions()) == 1


def test_a_hold_that_lands_after_the_window_ended_releases_the_incident_itself(
    aws: Aws, windows: MaintenanceWindows, seed_item: dict[str, Any], lambda_context: LambdaContext
) -> None:
    created = start(lambda_context)
    active = windows.get(created["id"])
    assert active is not None and active.active(time.time())
    aws.put_incident(alert_item(seed_item))
    operator({"action": "maintenance_end", "window": created["id"], "by": "cli:dana", "request_id": "e1"}, lambda_context)
    # The start function read the window while it was active, and writes its hold only now:
    assert hold(windows, aws.incidents, "123", active)
    assert "maintenance_window" not in aws.incident("123")
    assert events(aws, "123") == ["maintenance", "maintenance_ended"]
    stream(aws, lambda_context, "123")
    assert len(aws.executions()) == 1


def test_a_window_planned_ahead_tells_ops_at_its_start_once_and_holds_nothing_before(
    aws: Aws, windows: MaintenanceWindows, seed_item: dict[str, Any], lambda_context: LambdaContext
) -> None:
    planned = start(lambda_context, starts_in=HOUR)
    assert planned["state"] == "planned" and subjects(aws) == []
    names = {s["Name"] for s in boto3.client("scheduler", region_name=REGION).list_schedules(GroupName=GROUP)["Schedules"]}
    assert names == {f"mw-{planned['id']}-start", f"mw-{planned['id']}-end"}
    aws.put_incident(alert_item(seed_item))
    stream(aws, lambda_context, "123", event_name="INSERT")
    assert len(aws.executions()) == 1  # not in maintenance yet
    due = operator({"action": "maintenance_due", "window": planned["id"], "edge": "start"}, lambda_context)
    assert due["outcome"] == "started" and subjects(aws) == []  # delivered far too early: not started, nothing told
    listed = operator({"action": "maintenance_list"}, lambda_context)
    assert [window["state"] for window in listed["windows"]] == ["planned"]


def test_a_retried_request_makes_one_window_and_a_bad_one_is_refused_naming_the_field(
    aws: Aws, windows: MaintenanceWindows, lambda_context: LambdaContext
) -> None:
    first, retried = start(lambda_context), start(lambda_context)
    assert first["id"] == retried["id"] and len(windows.all()) == 1
    assert subjects(aws) == ["Maintenance started: integration db"]
    too_long = start(lambda_context, request_id="r2", seconds=MAX_WINDOW_SECONDS + 1)
    assert too_long["ok"] is False and too_long["message"].startswith("to: a window lasts at most 7 days")
    nobody = operator({**{"action": "maintenance_start"}, "by": "dana", "request_id": "x"}, lambda_context)
    assert nobody["ok"] is False and nobody["message"].startswith("by: ")
    unknown = operator({"action": "maintenance_end", "window": "nope", "by": "cli:dana", "request_id": "y"}, lambda_context)
    assert unknown == {"ok": False, "error": "refused", "message": "window: no maintenance window 'nope'"}


def test_the_window_that_ends_last_covers(aws: Aws) -> None:
    now = time.time()
    a = Window("a", "integration", "db", int(now) - 10, int(now) + 100)
    b = Window("b", "policy", "primary", int(now) - 10, int(now) + 200)
    ended = Window("c", "integration", "db", int(now) - 10, int(now) + 300, ended_at=int(now) - 1)
    assert covering([a, b, ended], "db", "primary", now) == b
    assert covering([a, b, ended], "db", None, now) == a
    assert covering([a, b, ended], "api", None, now) is None
    assert maintenance_actions.ACTIONS == ("maintenance_start", "maintenance_end", "maintenance_list", "maintenance_due")


def test_a_repeat_during_the_window_dedups_into_the_held_incident(
    aws: Aws,
    windows: MaintenanceWindows,
    integration: dict[str, str],  # noqa: F811 (the fixture: an integration called alertmanager)
    lambda_context: LambdaContext,
) -> None:
    start(lambda_context, target="alertmanager")
    body = {"routing_key": integration["routing_key"], "event_action": "trigger", "dedup_key": "disk",
            "payload": {"summary": "Disk full", "source": "db-1", "severity": "critical"}}  # fmt: skip
    assert _post(lambda_context, body)[0] == 202
    (item,) = aws.incidents.scan(ConsistentRead=True)["Items"]
    incident_id = str(item["incident_id"])
    stream(aws, lambda_context, incident_id, event_name="INSERT")
    assert "maintenance_window" in aws.incident(incident_id)
    status, answer = _post(lambda_context, body, "req-2")  # not a 503 for the whole window: it counts on the held one
    assert (status, answer["dedup_key"]) == (202, "disk")
    stream(aws, lambda_context, incident_id)  # the repeat's own record: still held, nothing written
    held = aws.incident(incident_id)
    assert (held["alert_count"], held["incident_stat"]) == (2, "not_acknowledged")
    assert events(aws, incident_id) == ["maintenance", "alert_repeated"] and aws.executions() == []
