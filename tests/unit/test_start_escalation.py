"""The stream handler: validate each new incident item and start its workflow (moto)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import start_escalation
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.stub import Stubber

from escalation.incidents.start import execution_arn, execution_name
from escalation.platform import wiring
from tests.conftest import Aws
from tests.unit.events import stream_event, stream_record

FIRST = "+447700900001"
SECOND = "+447700900002"


def _run(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dict(start_escalation.handler(event, context))


def test_sample_item_starts_one_execution_with_deterministic_name(
    aws: Aws, sms_stub: Stubber, seed_item: dict[str, Any], lambda_context: LambdaContext
) -> None:
    aws.put_incident(seed_item)
    result = _run(stream_event(stream_record(seed_item, sequence="4200")), lambda_context)

    assert result == {"batchItemFailures": []}
    [execution] = aws.executions()
    assert execution["name"] == execution_name("123", "4200")
    described = aws.stepfunctions.describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"]) == {
        "incident_id": "123",
        "contacts": [FIRST, SECOND],
        "ack_timeouts": [300, 300],
        "timeout": 300,
        "level": 0,
        "attempt": 0,
        "error": None,
    }
    item = aws.incident("123")
    assert item["execution_arn"] == execution["executionArn"]
    assert item["escalation_chain"] == [FIRST, SECOND]
    assert item["escalation_level"] == 0
    assert item["incident_stat"] == "not_acknowledged"
    assert [entry["event"] for entry in item["timeline"]] == ["created"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", item["stat_date"])


def test_redelivered_stream_record_starts_only_one_execution(
    aws: Aws, sms_stub: Stubber, seed_item: dict[str, Any], lambda_context: LambdaContext
) -> None:
    aws.put_incident(seed_item)
    event = stream_event(stream_record(seed_item, sequence="4200"))
    assert _run(event, lambda_context) == {"batchItemFailures": []}
    assert _run(event, lambda_context) == {"batchItemFailures": []}

    assert len(aws.executions()) == 1
    assert [entry["event"] for entry in aws.incident("123")["timeline"]] == ["created"]


def test_execution_name_is_stable_unique_per_record_and_valid() -> None:
    name = execution_name("123", "4200")
    assert name == execution_name("123", "4200")
    assert name != execution_name("123", "4201")
    assert name != execution_name("124", "4200")
    long_name = execution_name("ünïcode id/with:colons " + "x" * 120, "1")
    for candidate in (name, long_name):
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", candidate)


def test_execution_arn_matches_the_state_machine(aws: Aws) -> None:
    arn = execution_arn(aws.state_machine_arn, "incident-1-abc")
    assert arn == "arn:aws:states:eu-west-2:123456789012:execution:IncidentEscalation:incident-1-abc"


def test_item_without_status_is_opened_as_not_acknowledged(
    aws: Aws, sms_stub: Stubber, seed_item: dict[str, Any], lambda_context: LambdaContext
) -> None:
    del seed_item["incident_stat"]
    aws.put_incident(seed_item)
    _run(stream_event(stream_record(seed_item)), lambda_context)
    assert len(aws.executions()) == 1
    assert aws.incident("123")["incident_stat"] == "not_acknowledged"  # else page_contact would find it closed


def test_contacts_list_and_repeat_make_the_chain(
    aws: Aws, sms_stub: Stubber, seed_item: dict[str, Any], lambda_context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPEAT", "1")
    seed_item["contacts"] = {"L": [{"S": "+447700900003"}, {"S": FIRST}]}
    aws.put_incident(seed_item)
    _run(stream_event(stream_record(seed_item)), lambda_context)
    [execution] = aws.executions()
    described = aws.stepfunctions.describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"])["contacts"] == ["+447700900003", FIRST, "+447700900003", FIRST]


@pytest.mark.parametrize(
    ("field", "value", "error_start"),
    [
        ("second_contact", {"S": "07700 900002"}, "second_contact: "),
        ("description", {"N": "111"}, "description: must be a string (S), got number"),
        ("first_contact", {"S": SECOND}, "contacts: lists +447700900002 more than once"),
    ],
)
def test_invalid_item_is_marked_invalid_with_the_field_and_never_paged(
    aws: Aws,
    sms_stub: Stubber,
    seed_item: dict[str, Any],
    lambda_context: LambdaContext,
    field: str,
    value: dict[str, Any],
    error_start: str,
) -> None:
    seed_item[field] = value
    aws.put_incident(seed_item)
    result = _run(stream_event(stream_record(seed_item)), lambda_context)

    assert result == {"batchItemFailures": []}  # nothing to retry: the item itself is wrong
    assert aws.executions() == []
    item = aws.incident("123")
    assert item["incident_stat"] == "invalid"
    assert item["error"].startswith(error_start)
    assert "execution_arn" not in item
    [entry] = item["timeline"]
    assert entry["event"] == "invalid"
    assert entry["error"] == item["error"]
    # sms_stub has no queued responses: any SMS attempt would have raised


@pytest.mark.parametrize("event_name", ["MODIFY", "REMOVE"])
def test_app_writes_and_removals_are_ignored(
    aws: Aws, sms_stub: Stubber, seed_item: dict[str, Any], lambda_context: LambdaContext, event_name: str
) -> None:
    started = {**seed_item, "execution_arn": {"S": "arn:aws:states:eu-west-2:123456789012:execution:x:y"}}
    aws.put_incident(seed_item)
    result = _run(stream_event(stream_record(started, event_name=event_name)), lambda_context)
    assert result == {"batchItemFailures": []}
    assert aws.executions() == []
    assert "timeline" not in aws.incident("123")


def test_same_item_written_again_over_a_closed_incident_pages_again(
    aws: Aws, sms_stub: Stubber, seed_item: dict[str, Any], lambda_context: LambdaContext
) -> None:
    # PutItem with an id used before replaces the item: the stream says MODIFY, not INSERT.
    aws.put_incident(seed_item)
    _run(stream_event(stream_record(seed_item, sequence="1")), lambda_context)
    aws.put_incident(seed_item)  # the old incident's attributes (execution_arn, timeline...) are gone
    result = _run(stream_event(stream_record(seed_item, sequence="2", event_name="MODIFY")), lambda_context)
    assert result == {"batchItemFailures": []}
    assert len(aws.executions()) == 2
    assert aws.incident("123")["timeline"][0]["event"] == "created"


def test_invalid_item_fixed_in_place_is_paged_and_loses_its_error(
    aws: Aws, sms_stub: Stubber, seed_item: dict[str, Any], lambda_context: LambdaContext
) -> None:
    broken = {**seed_item, "first_contact": {"S": "07700 900001"}}
    aws.put_incident(broken)
    _run(stream_event(stream_record(broken, sequence="1")), lambda_context)
    assert aws.incident("123")["incident_stat"] == "invalid"
    aws.incidents.update_item(
        Key={"incident_id": "123"},
        UpdateExpression="SET first_contact = :c, incident_stat = :s",
        ExpressionAttributeValues={":c": "+447700900001", ":s": "not_acknowledged"},
    )
    fixed = {**seed_item}
    result = _run(stream_event(stream_record(fixed, sequence="2", event_name="MODIFY")), lambda_context)
    assert result == {"batchItemFailures": []}
    assert len(aws.executions()) == 1
    item = aws.incident("123")
    assert "error" not in item
    assert [entry["event"] for entry in item["timeline"]] == ["invalid", "created"]


def test_a_failing_record_is_reported_for_retry_and_the_rest_of_the_batch_still_starts(
    aws: Aws, sms_stub: Stubber, seed_item: dict[str, Any], lambda_context: LambdaContext
) -> None:
    aws.put_incident(seed_item)
    broken = stream_record({"description": {"S": "no key"}}, sequence="1")  # no incident_id: cannot even be marked
    result = _run(stream_event(broken, stream_record(seed_item, sequence="2")), lambda_context)
    assert result == {"batchItemFailures": [{"itemIdentifier": "1"}]}
    assert len(aws.executions()) == 1


def test_an_item_paging_a_country_outside_the_allowed_list_is_invalid_at_once(
    aws: Aws, seed_item: dict[str, Any], lambda_context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLOWED_CALLING_CODES", "353")
    wiring.reset()
    aws.put_incident(seed_item)
    _run(stream_event(stream_record(seed_item, sequence="4300")), lambda_context)
    item = aws.incident("123")
    assert item["incident_stat"] == "invalid"
    assert item["error"].startswith("first_contact: +447700900001 is outside the countries")
    assert aws.executions() == []


def test_an_item_put_again_with_a_number_status_is_marked_invalid_not_ignored(
    aws: Aws, sms_stub: Stubber, seed_item: dict[str, Any], lambda_context: LambdaContext
) -> None:
    # The stream filters see typed leaves: a status that is not a string passes them, so the handler must act on it.
    broken = {**seed_item, "incident_stat": {"N": "0"}}
    aws.put_incident(broken)
    result = _run(stream_event(stream_record(broken, sequence="2", event_name="MODIFY")), lambda_context)
    assert result == {"batchItemFailures": []}
    assert aws.executions() == []
    item = aws.incident("123")
    assert item["incident_stat"] == "invalid"
    assert item["error"] == "incident_stat: must be a string (S), got number"
