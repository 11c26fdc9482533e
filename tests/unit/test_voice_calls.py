"""Voice calls: the page schedules the call, the call is placed once while the page is unanswered, within its limits.

Real handlers on moto (tables, Scheduler, the ops topic); the voice API through botocore's Stubber, which checks
every SendVoiceMessage against the service model.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import delivery_receipts
import page_contact
import place_call
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.stub import ANY, Stubber

from escalation.alerts import heartbeat_schedules
from escalation.platform import wiring
from escalation.voice.limits import CALLS_PER_DAY, DAY_SECONDS
from tests.conftest import ACCOUNT_ID, ORIGINATION_IDENTITY, REGION, Aws
from tests.unit.conftest import EXECUTION_ARN, FIRST, page_event, run_page
from tests.unit.events import sns_event
from tests.unit.test_escalation_pages_metric import _counts
from tests.unit.test_urgency import _hours_around_now

GROUP = "IncidentEscalation-calls"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:IncidentEscalation-PlaceCall"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/calls-scheduler"
AFTER = 120


@pytest.fixture
def calls_on(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A deployment that calls a chain's numbers AFTER seconds after their page; the Scheduler client on moto."""
    for name, value in {
        "VOICE_AFTER_SECONDS": str(AFTER), "VOICE_FUNCTION_ARN": FUNCTION_ARN, "VOICE_SCHEDULE_GROUP": GROUP,
        "VOICE_SCHEDULER_ROLE_ARN": ROLE_ARN,
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    wiring.reset()
    heartbeat_schedules.scheduler_client.cache_clear()
    scheduler = boto3.client("scheduler", region_name=REGION)
    scheduler.create_schedule_group(Name=GROUP)
    yield scheduler
    heartbeat_schedules.scheduler_client.cache_clear()
    wiring.reset()


def schedules(scheduler: Any) -> list[dict[str, Any]]:
    listed = scheduler.list_schedules(GroupName=GROUP)["Schedules"]
    return [scheduler.get_schedule(GroupName=GROUP, Name=summary["Name"]) for summary in listed]


def events_of(aws: Aws, *kinds: str, incident_id: str = "123") -> list[dict[str, Any]]:
    return [entry for entry in aws.incident(incident_id).get("timeline", []) if entry["event"] in kinds]


def due_now(**changes: Any) -> dict[str, Any]:
    """The input of the call schedule of the sample incident's first level, due now."""
    return {"incident_id": "123", "execution": EXECUTION_ARN, "level": 0, "number": FIRST, "due": time.time(), **changes}


def expect_call(sms_stub: Stubber, message_id: str = "call-1", to: str = FIRST, **more: str) -> None:
    sms_stub.add_response(
        "send_voice_message",
        {"MessageId": message_id},
        expected_params={
            "DestinationPhoneNumber": to, "OriginationIdentity": ORIGINATION_IDENTITY, "MessageBody": ANY,
            "MessageBodyTextType": "SSML", "VoiceId": "MATTHEW", "Context": {"incident_id": "123"}, "TimeToLive": 120,
            **more,
        },
    )  # fmt: skip


@pytest.fixture
def scheduled(calls_on: Any, sms_stub: Stubber, started_incident: dict[str, Any], lambda_context: LambdaContext) -> Any:
    """The sample incident's first contact texted, and their call scheduled."""
    run_page(sms_stub, lambda_context, level=0, token="token-0", message_id="msg-1")
    return calls_on


def test_the_page_schedules_the_call_for_the_minute_before_it_is_due_once(
    scheduled: Any, aws: Aws, sms_stub: Stubber, lambda_context: LambdaContext
) -> None:
    paged_at = time.time()
    page_contact.handler(page_event(level=0, token="token-0"), lambda_context)  # the same page again: nothing sent

    (schedule,) = schedules(scheduled)
    payload = json.loads(schedule["Target"]["Input"])
    assert (payload["incident_id"], payload["execution"], payload["level"], payload["number"]) == ("123", EXECUTION_ARN, 0, FIRST)
    assert paged_at - 60 + AFTER <= payload["due"] <= paged_at + AFTER
    minute = time.strftime("%Y-%m-%dT%H:%M:00", time.gmtime(payload["due"] - 60))  # Scheduler fires within it: never late
    assert schedule["ScheduleExpression"] == f"at({minute})" and schedule["ActionAfterCompletion"] == "DELETE"
    assert (schedule["Target"]["Arn"], schedule["Target"]["RoleArn"]) == (FUNCTION_ARN, ROLE_ARN)
    (entry,) = events_of(aws, "call_scheduled")
    assert entry["phone"] == "+44********01" and entry["level"] == 0


def test_a_low_urgency_page_schedules_no_call(
    calls_on: Any,
    aws: Aws,
    sms_stub: Stubber,
    started_incident: dict[str, Any],
    lambda_context: LambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WORKING_HOURS", _hours_around_now(inside=True))  # within hours: the page goes
    monkeypatch.setenv("WORKING_HOURS_ZONE", "UTC")
    wiring.reset()
    aws.incidents.update_item(Key={"incident_id": "123"}, UpdateExpression="SET urgency = :low",
                              ExpressionAttributeValues={":low": "low"})  # fmt: skip
    run_page(sms_stub, lambda_context, level=0, token="token-0", message_id="msg-1")
    assert schedules(calls_on) == [] and events_of(aws, "call_scheduled") == []  # low urgency never calls


def test_a_reminder_schedules_no_call(scheduled: Any, sms_stub: Stubber, lambda_context: LambdaContext) -> None:
    run_page(sms_stub, lambda_context, level=0, token="token-0b", message_id="msg-2", attempt=1)
    assert len(schedules(scheduled)) == 1


def test_the_due_call_is_placed_once_however_often_its_schedule_comes(
    scheduled: Any, aws: Aws, sms_stub: Stubber, lambda_context: LambdaContext
) -> None:
    expect_call(sms_stub)
    first = place_call.handler(due_now(), lambda_context)
    again = place_call.handler(due_now(), lambda_context)  # Scheduler and Lambda deliver at least once

    assert first == {"result": "called", "message_id": "call-1", "open_incidents": 1}
    assert again == {"result": "duplicate"}
    (called,) = events_of(aws, "called")
    assert called["message_id"] == "call-1" and called["open_incidents"] == 1
    (row,) = [row for row in aws.sent_messages() if row["kind"] == "call"]
    assert (row["message_id"], row["contact"], row["execution"]) == ("call-1", FIRST, EXECUTION_ARN)
    assert aws.incident("123")["incident_stat"] == "not_acknowledged"  # a call never ends the level


def test_two_deliveries_at_the_same_instant_place_one_call(
    scheduled: Any, aws: Aws, sms_stub: Stubber, lambda_context: LambdaContext, atomic_moto: None
) -> None:
    expect_call(sms_stub)
    results: list[dict[str, Any]] = []
    threads = [threading.Thread(target=lambda: results.append(place_call.handler(due_now(), lambda_context))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(result["result"] for result in results) == ["called", "duplicate"]
    assert len(events_of(aws, "called")) == 1


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"incident_stat": "acknowledged"}, "the incident is acknowledged"),
        ({"incident_stat": "resolved"}, "the incident is resolved"),
        ({"escalation_level": 1}, "the escalation moved on from this level"),
        ({"execution_arn": EXECUTION_ARN + "-new"}, "a new pass or a new incident with this id replaced this one"),
    ],
)
def test_a_yes_or_anything_that_ended_the_level_stops_the_call(
    scheduled: Any, aws: Aws, lambda_context: LambdaContext, change: dict[str, Any], reason: str
) -> None:
    names = {f"#{key}": key for key in change}
    aws.incidents.update_item(
        Key={"incident_id": "123"}, UpdateExpression="SET " + ", ".join(f"#{key} = :{key}" for key in change),
        ExpressionAttributeNames=names, ExpressionAttributeValues={f":{key}": value for key, value in change.items()},
    )  # fmt: skip
    assert place_call.handler(due_now(), lambda_context) == {"result": "not_needed", "reason": reason}  # no send stubbed
    assert events_of(aws, "called", "call_not_made") == []


def seed_budget(aws: Aws, *ages: float, number: str = FIRST) -> None:
    """Calls to number placed ages seconds ago (the last 24 hours count)."""
    now = time.time()
    calls = {f"call#earlier-{index}": int(now - age) for index, age in enumerate(ages)}
    aws.messages.put_item(Item={"message_id": f"voice-budget#{number}", "calls": calls, "version": 1})


def test_past_the_daily_budget_the_person_is_texted_only_and_ops_are_told(
    scheduled: Any, aws: Aws, lambda_context: LambdaContext
) -> None:
    seed_budget(aws, *[60.0] * CALLS_PER_DAY)

    result = place_call.handler(due_now(), lambda_context)

    assert result["result"] == "not_made" and "daily limit" in result["reason"]
    (entry,) = events_of(aws, "call_not_made")
    assert "5 in 24 hours" in entry["reason"]
    (note,) = aws.ops_messages()
    assert note["Subject"] == "Incident 123: call not made" and "daily limit" in note["Message"]
    assert aws.incident("123")["incident_stat"] == "not_acknowledged"  # the text stands; the level goes on


def test_the_last_call_of_the_day_is_kept_for_a_critical_incident(
    scheduled: Any, aws: Aws, sms_stub: Stubber, lambda_context: LambdaContext
) -> None:
    seed_budget(aws, *[60.0] * (CALLS_PER_DAY - 1))
    aws.incidents.update_item(  # an incident with no severity counts as the highest: this one is a warning
        Key={"incident_id": "123"}, UpdateExpression="SET severity = :warning", ExpressionAttributeValues={":warning": "warning"}
    )
    assert "kept for a critical" in place_call.handler(due_now(), lambda_context)["reason"]

    aws.incidents.update_item(
        Key={"incident_id": "123"},
        UpdateExpression="SET severity = :critical",
        ExpressionAttributeValues={":critical": "critical"},
    )
    aws.messages.delete_item(Key={"message_id": f"call#{EXECUTION_ARN}#0#{FIRST}"})  # a new schedule of the same call
    expect_call(sms_stub)
    assert place_call.handler(due_now(), lambda_context)["result"] == "called"


def test_calls_older_than_a_day_do_not_count(scheduled: Any, aws: Aws, sms_stub: Stubber, lambda_context: LambdaContext) -> None:
    seed_budget(aws, *[DAY_SECONDS + 60.0] * CALLS_PER_DAY)
    expect_call(sms_stub)
    assert place_call.handler(due_now(), lambda_context)["result"] == "called"
    budget = aws.messages.get_item(Key={"message_id": f"voice-budget#{FIRST}"})["Item"]
    assert list(budget["calls"]) == [f"call#{EXECUTION_ARN}#0#{FIRST}"]  # the old ones are dropped when it is written


def test_a_storm_is_one_call_that_counts_the_open_incidents(
    scheduled: Any, aws: Aws, sms_stub: Stubber, started_incident: dict[str, Any], lambda_context: LambdaContext
) -> None:
    other_execution = EXECUTION_ARN.replace("incident-123", "incident-124")
    aws.put_incident({**started_incident, "incident_id": {"S": "124"}, "execution_arn": {"S": other_execution}})
    run_page(sms_stub, lambda_context, level=0, token="token-124", message_id="msg-124", incident_id="124",
             execution=other_execution)  # fmt: skip
    sms_stub.add_response("send_voice_message", {"MessageId": "call-1"})

    first = place_call.handler(due_now(), lambda_context)
    second = place_call.handler(due_now(incident_id="124", execution=other_execution), lambda_context)

    assert first["result"] == "called" and first["open_incidents"] == 2
    assert second["result"] == "covered"
    (covered,) = events_of(aws, "call_covered", incident_id="124")
    assert covered["covered_by"].endswith("Z")
    # One call for both: a second SendVoiceMessage would find no stubbed response and fail.


def test_a_call_that_cannot_be_made_is_recorded_told_to_ops_and_gives_its_budget_back(
    scheduled: Any, aws: Aws, sms_stub: Stubber, lambda_context: LambdaContext
) -> None:
    sms_stub.add_client_error(
        "send_voice_message", service_error_code="ValidationException", service_message="no voice",
        http_status_code=400, response_meta={}, modeled_fields={"Reason": "VOICE_CAPABILITY_NOT_AVAILABLE"},
    )  # fmt: skip

    result = place_call.handler(due_now(), lambda_context)

    assert result["result"] == "not_made" and "ValidationException" in result["error"]
    (entry,) = events_of(aws, "call_not_made")
    assert entry["reason"] == "the call could not be placed" and "VOICE_CAPABILITY_NOT_AVAILABLE" in entry["error"]
    assert len(aws.ops_messages()) == 1
    assert aws.messages.get_item(Key={"message_id": f"voice-budget#{FIRST}"})["Item"]["calls"] == {}
    assert aws.incident("123")["incident_stat"] == "not_acknowledged"


def test_throttling_is_retried_and_the_retry_places_one_call_counted_once(
    scheduled: Any, aws: Aws, sms_stub: Stubber, lambda_context: LambdaContext
) -> None:
    sms_stub.add_client_error("send_voice_message", service_error_code="ThrottlingException", http_status_code=400)
    with pytest.raises(Exception, match="ThrottlingException"):
        place_call.handler(due_now(), lambda_context)
    expect_call(sms_stub)
    assert place_call.handler(due_now(), lambda_context)["result"] == "called"  # Lambda's retry
    budget = aws.messages.get_item(Key={"message_id": f"voice-budget#{FIRST}"})["Item"]
    assert len(budget["calls"]) == 1


def test_a_malformed_schedule_input_is_refused_naming_the_field(aws: Aws, lambda_context: LambdaContext) -> None:
    assert place_call.handler(due_now(level="one"), lambda_context) == {
        "result": "rejected", "error": "level: must be a non-negative number"
    }  # fmt: skip
    assert place_call.handler(due_now(number=""), lambda_context)["error"] == "number: must be a non-empty string"


def voice_event(message_id: str, event_type: str, *, after: float = 20.0, price: float | None = None) -> str:
    sent = int(time.time() * 1000)
    priced = {} if price is None else {"totalMessagePrice": price}
    return json.dumps({
        "eventType": event_type, "eventVersion": "1.0", "eventTimestamp": sent + int(after * 1000),
        "isFinal": event_type not in ("VOICE_INITIATED", "VOICE_RINGING", "VOICE_ANSWERED"), "messageId": message_id,
        "messageRequestTimestamp": sent, "messageStatus": event_type.removeprefix("VOICE_"),
        "destinationPhoneNumber": FIRST, "context": {"incident_id": "123"}, **priced,
    })  # fmt: skip


@pytest.mark.parametrize("event_type", ["VOICE_NO_ANSWER", "VOICE_BUSY", "VOICE_FAILED", "VOICE_TTL_EXPIRED"])
def test_an_unanswered_call_is_on_the_timeline_and_ends_nothing(
    scheduled: Any, aws: Aws, sms_stub: Stubber, lambda_context: LambdaContext, event_type: str
) -> None:
    expect_call(sms_stub)
    place_call.handler(due_now(), lambda_context)
    for message in (voice_event("call-1", "VOICE_RINGING"), voice_event("call-1", event_type), voice_event("call-1", event_type)):
        delivery_receipts.handler(sns_event(message), lambda_context)  # at least once: the final event twice

    (entry,) = events_of(aws, "call_unanswered")
    assert entry["status"] == event_type.removeprefix("VOICE_").lower() and entry["message_id"] == "call-1"
    item = aws.incident("123")
    assert item["incident_stat"] == "not_acknowledged" and item["task_token"] == "token-0"  # the level goes on


def test_an_answered_call_is_recorded_once_in_any_order(
    scheduled: Any, aws: Aws, sms_stub: Stubber, lambda_context: LambdaContext
) -> None:
    expect_call(sms_stub)
    place_call.handler(due_now(), lambda_context)
    for message in (voice_event("call-1", "VOICE_COMPLETED", after=40), voice_event("call-1", "VOICE_ANSWERED", after=10)):
        delivery_receipts.handler(sns_event(message), lambda_context)
    (entry,) = events_of(aws, "call_answered", "call_unanswered")
    assert entry["event"] == "call_answered"


@pytest.fixture
def policy_rules(calls_on: Any, aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Deployed definitions in which alice asks for a call with her text, bob for none; chains are not called."""
    from escalation.oncall.definitions import Definitions  # noqa: PLC0415
    from escalation.oncall.store import definitions_item  # noqa: PLC0415
    from tests.unit.test_policy_paging import ALICE, BOB, ONCALL_TABLE, _definitions  # noqa: PLC0415

    data = _definitions().model_dump(mode="json")
    data["people"]["alice"]["notify"] = [{"sms": 0}, {"voice": 0}]
    table = boto3.resource("dynamodb", region_name=REGION).create_table(
        TableName=ONCALL_TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    table.put_item(Item=definitions_item(Definitions.model_validate(data)))
    monkeypatch.setenv("ONCALL_TABLE", ONCALL_TABLE)
    monkeypatch.setenv("VOICE_AFTER_SECONDS", "0")
    wiring.reset()
    return calls_on, ALICE, BOB


def test_a_policy_level_calls_each_person_by_their_own_rules(
    policy_rules: Any, aws: Aws, sms_stub: Stubber, lambda_context: LambdaContext
) -> None:
    from tests.unit.test_policy_paging import _page, _sent_to, _started  # noqa: PLC0415

    scheduler, alice, bob = policy_rules
    _started(aws)
    _sent_to(sms_stub, alice)
    page_contact.handler(_page(0, "token-0"), lambda_context)
    _sent_to(sms_stub, alice, bob)  # level 2 pages alice and bob (alice, paged again, gets no notice about level 1)
    page_contact.handler(_page(1, "token-1"), lambda_context)

    payloads = sorted((json.loads(s["Target"]["Input"]) for s in schedules(scheduler)), key=lambda p: p["level"])
    assert [(payload["level"], payload["number"]) for payload in payloads] == [(0, alice), (1, alice)]  # never bob
    assert all(abs(payload["due"] - time.time()) < 60 for payload in payloads)  # {voice: 0}: with the text


def test_the_deployments_voice_and_price_cap_go_with_the_call_and_its_cost_counts_against_the_voice_limit(
    scheduled: Any, aws: Aws, sms_stub: Stubber, lambda_context: LambdaContext, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("VOICE_ID", "AMY")
    monkeypatch.setenv("VOICE_MAX_PRICE_PER_MINUTE", "0.05")
    wiring.reset()
    expect_call(sms_stub, VoiceId="AMY", MaxPricePerMinute="0.05")  # the Stubber checks both against the model
    place_call.handler(due_now(), lambda_context)
    capsys.readouterr()
    delivery_receipts.handler(sns_event(voice_event("call-1", "VOICE_COMPLETED", price=0.0137)), lambda_context)
    counts = _counts(capsys)
    assert counts["VoiceCost"] == pytest.approx(0.0137) and "SmsCost" not in counts  # texts and calls: two limits
    assert aws.incident("123")["cost"] > 0
