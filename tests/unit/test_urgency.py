"""Urgency: low waits for working hours (zone-aware, DST), high pages at once, a raised severity makes it high.

The rules are pure (time-travelled here); the page handler runs on moto with Step Functions and SMS stubbed, with
working hours set around the real clock so that "outside" and "inside" hold whenever the test runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import page_contact
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.stub import Stubber

from escalation.incidents.urgency import BadWorkingHours, first_start, parse_hours, raises_urgency, urgency_of
from escalation.platform import wiring
from escalation.platform.wiring import dependencies
from tests.conftest import Aws
from tests.unit.conftest import page_event
from tests.unit.test_alert_events import _post, integration  # noqa: F401 (the fixture)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


LONDON = parse_hours("Mon-Fri 09:00-18:00", "Europe/London")


@pytest.mark.parametrize(
    ("at", "pages_at"),
    [
        (utc(2027, 3, 23, 3, 0), utc(2027, 3, 23, 9, 0)),  # Tuesday 03:00 GMT: 09:00 GMT the same day
        (utc(2027, 3, 23, 10, 0), utc(2027, 3, 23, 10, 0)),  # within hours: at once
        (utc(2027, 3, 26, 18, 30), utc(2027, 3, 29, 8, 0)),  # Friday evening: Monday 09:00, British Summer Time by then
        (utc(2027, 3, 29, 2, 0), utc(2027, 3, 29, 8, 0)),  # Monday 03:00 BST: 09:00 BST is 08:00 UTC
        (utc(2027, 10, 29, 17, 0), utc(2027, 11, 1, 9, 0)),  # Friday 18:00 BST, closed; Monday 09:00 GMT after the change
    ],
)
def test_low_urgency_waits_for_the_start_of_local_working_hours_across_dst(at: datetime, pages_at: datetime) -> None:
    assert LONDON.next_start(at) == pages_at


def test_hours_the_clocks_skip_start_when_pep_495_says_and_overnight_hours_span_midnight() -> None:
    skipped = parse_hours("Sun 01:30-05:00", "Europe/London")  # 2027-03-28: 01:00 GMT jumps to 02:00 BST
    assert skipped.next_start(utc(2027, 3, 27, 12, 0)) == utc(2027, 3, 28, 1, 30)  # 01:30 at the old offset: 02:30 BST
    night = parse_hours("Mon-Sun 22:00-06:00", "America/New_York")
    assert night.contains(utc(2027, 1, 6, 8, 0))  # 03:00 in New York
    assert not night.contains(utc(2027, 1, 6, 12, 0))
    assert night.next_start(utc(2027, 1, 6, 12, 0)) == utc(2027, 1, 7, 3, 0)
    weekend = parse_hours("Fri-Mon 10:00-12:00", "UTC")  # the week wraps
    assert weekend.days == frozenset({4, 5, 6, 0})
    assert first_start([LONDON, weekend], utc(2027, 3, 27, 11, 0)) == utc(2027, 3, 27, 11, 0)  # Saturday: the weekend one


@pytest.mark.parametrize("text", ["weekdays", "Mon-Fri 9-17", "Mon-Fri 09:00-09:00", "Mon-Fri 09:00-24:30", "Xyz 09:00-10:00"])
def test_unreadable_hours_are_refused_saying_the_shape(text: str) -> None:
    with pytest.raises(BadWorkingHours):
        parse_hours(text, "UTC")
    with pytest.raises(BadWorkingHours, match="zone"):
        parse_hours("Mon-Fri 09:00-18:00", "Mars/Olympus")


def test_urgency_comes_from_severity_unless_the_integration_says() -> None:
    assert [urgency_of(s) for s in ("critical", "error", "warning", "info", "", None)] == [
        "high", "high", "low", "low", "high", "high",
    ]  # fmt: skip
    assert urgency_of("critical", "low") == "low" and urgency_of("info", "high") == "high"
    assert raises_urgency("low", "error") and not raises_urgency("high", "warning") and not raises_urgency("low", "info")


def _hours_around_now(*, inside: bool, hours_away: int = 2) -> str:
    """Working hours every day that contain now (inside) or start one hour less than hours_away from now (outside)."""
    now = datetime.now(UTC)
    start = now - timedelta(hours=1) if inside else now + timedelta(hours=hours_away)
    end = now + timedelta(hours=2) if inside else now + timedelta(hours=hours_away + 1)
    return f"Mon-Sun {start:%H}:00-{end:%H}:00"


@pytest.fixture
def low_incident(aws: Aws, started_incident: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Aws:
    aws.incidents.update_item(Key={"incident_id": "123"}, UpdateExpression="SET urgency = :low",
                              ExpressionAttributeValues={":low": "low"})  # fmt: skip
    monkeypatch.setenv("WORKING_HOURS_ZONE", "UTC")
    return aws


def _events(aws: Aws) -> list[str]:
    return [entry["event"] for entry in aws.incident("123")["timeline"]]


def test_a_low_urgency_level_out_of_hours_is_held_then_pages_once_raised_to_high(
    low_incident: Aws, sms_stub: Stubber, sfn_stub: Stubber, lambda_context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKING_HOURS", _hours_around_now(inside=False))
    wiring.reset()
    queued = '{"outcome": "queued", "wait_seconds": 300}'  # it looks again within five minutes
    for token in ("token-0", "token-1"):
        sfn_stub.add_response("send_task_success", {}, expected_params={"taskToken": token, "output": queued})
        result = page_contact.handler(page_event(level=0, token=token), lambda_context)  # no SMS: the Stubber has none
        assert result["outcome"] == "held" and result["wait_seconds"] == 300
    assert _events(low_incident) == ["created", "held"]  # said once, however often it looks
    assert low_incident.incident("123")["timeline"][-1]["until"].endswith(":00:00Z")

    assert dependencies().incidents.raise_urgency("123", severity="critical", at="2026-01-01T00:00:01.000Z")
    sms_stub.add_response("send_text_message", {"MessageId": "msg-1"})
    assert page_contact.handler(page_event(level=0, token="token-2"), lambda_context)["outcome"] == "page"
    assert _events(low_incident) == ["created", "held", "urgency_raised", "paged"]
    sfn_stub.assert_no_pending_responses()


def test_a_low_urgency_level_within_hours_and_a_high_one_outside_page_at_once(
    low_incident: Aws, sms_stub: Stubber, sfn_stub: Stubber, lambda_context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKING_HOURS", _hours_around_now(inside=True))
    wiring.reset()
    sms_stub.add_response("send_text_message", {"MessageId": "msg-1"})
    assert page_contact.handler(page_event(level=0, token="token-0"), lambda_context)["outcome"] == "page"
    monkeypatch.setenv("WORKING_HOURS", _hours_around_now(inside=False))
    wiring.reset()
    low_incident.incidents.update_item(Key={"incident_id": "123"}, UpdateExpression="SET urgency = :high",
                                       ExpressionAttributeValues={":high": "high"})  # fmt: skip
    sms_stub.add_response("send_text_message", {"MessageId": "msg-2"})
    sms_stub.add_response("send_text_message", {"MessageId": "msg-2-notice"})
    assert page_contact.handler(page_event(level=1, token="token-1"), lambda_context)["outcome"] == "page"
    assert "held" not in _events(low_incident)


def test_an_alert_of_severity_warning_opens_low_and_a_critical_repeat_makes_it_high(
    integration: dict[str, str],  # noqa: F811 (the fixture)
    aws: Aws,
    sfn_stub: Stubber,
    lambda_context: LambdaContext,
) -> None:
    body = {"routing_key": integration["routing_key"], "event_action": "trigger", "dedup_key": "disk",
            "payload": {"summary": "Disk 80% full", "source": "db-1", "severity": "warning"}}  # fmt: skip
    assert _post(lambda_context, body)[0] == 202
    (item,) = aws.incidents.scan(ConsistentRead=True)["Items"]
    assert item["urgency"] == "low"
    dependencies().incidents.record_started(str(item["incident_id"]), ["+447700900001"], "arn:exec", "2026-01-01T00:00:00.000Z")
    assert _post(lambda_context, {**body, "payload": {**body["payload"], "severity": "warning"}}, "req-2")[0] == 202
    assert aws.incident(str(item["incident_id"]))["urgency"] == "low"  # the same severity: still low
    assert _post(lambda_context, {**body, "payload": {**body["payload"], "severity": "critical"}}, "req-3")[0] == 202
    raised = aws.incident(str(item["incident_id"]))
    assert (raised["urgency"], raised["severity"], raised["alert_count"]) == ("high", "critical", 3)
    assert [entry["event"] for entry in raised["timeline"]][-1] == "urgency_raised"


def test_a_level_held_far_from_working_hours_looks_again_every_fifteen_minutes(
    low_incident: Aws, sfn_stub: Stubber, lambda_context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKING_HOURS", _hours_around_now(inside=False, hours_away=9))  # 8 to 9 hours away
    wiring.reset()
    queued = '{"outcome": "queued", "wait_seconds": 900}'
    sfn_stub.add_response("send_task_success", {}, expected_params={"taskToken": "token-0", "output": queued})
    assert page_contact.handler(page_event(level=0, token="token-0"), lambda_context)["wait_seconds"] == 900
