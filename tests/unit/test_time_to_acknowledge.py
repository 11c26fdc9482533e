"""TimeToAcknowledge: seconds from an incident's creation to the YES that took it, by Level, once per incident.

The metric is read back from the CloudWatch embedded metric format records Powertools prints to stdout.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import handle_reply
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.stub import Stubber

from escalation.platform import observability
from tests.conftest import Aws
from tests.unit.conftest import EXECUTION_ARN, FIRST, SECOND, expect_sms, run_page, sms_request
from tests.unit.events import sns_event

CONFIRMED = "Incident 123 acknowledged. Thank you, it is yours."
SUCCESS_BY_FIRST = {"taskToken": "token-0", "output": '{"outcome": "acknowledged", "acknowledged_by": "+44********01"}'}
SUCCESS_BY_SECOND = {"taskToken": "token-1", "output": '{"outcome": "acknowledged", "acknowledged_by": "+44********02"}'}
CREATED_SECONDS_AGO = 90


def _inbound(payload: dict[str, Any], *, body: str, sender: str = FIRST, message_id: str = "in-1") -> str:
    return json.dumps({**payload, "originationNumber": sender, "messageBody": body, "inboundMessageId": message_id})


def _reply(context: LambdaContext, *messages: str) -> list[str]:
    outcomes: list[str] = handle_reply.handler(sns_event(*messages), context)["outcomes"]
    return outcomes


def _created_ago(aws: Aws, seconds: int, incident_id: str = "123") -> datetime:
    """Move the incident's `created` entry to `seconds` ago; returns that time."""
    created = datetime.now(UTC) - timedelta(seconds=seconds)
    aws.incidents.update_item(
        Key={"incident_id": incident_id},
        UpdateExpression="SET #timeline[0].#at = :at",
        ExpressionAttributeNames={"#timeline": "timeline", "#at": "at"},
        ExpressionAttributeValues={":at": created.isoformat(timespec="milliseconds").replace("+00:00", "Z")},
    )
    return created


def _published(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """Every EMF record printed so far that carries TimeToAcknowledge."""
    records = []
    for line in capsys.readouterr().out.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "_aws" in record and observability.TIME_TO_ACKNOWLEDGE in record:
            records.append(record)
    return records


def _seconds(aws: Aws, incident_id: str = "123") -> float:
    """What the item itself says: from its `created` entry to its acknowledged_at."""
    item = aws.incident(incident_id)
    created = next(entry["at"] for entry in item["timeline"] if entry["event"] == "created")
    return (datetime.fromisoformat(item["acknowledged_at"]) - datetime.fromisoformat(created)).total_seconds()


def _assert_one_record(record: dict[str, Any], *, level: str) -> float:
    """The record's shape (namespace, unit, both dimension sets); returns its value."""
    (definition,) = record["_aws"]["CloudWatchMetrics"]
    assert definition["Namespace"] == observability.NAMESPACE == "IncidentEscalation"
    assert definition["Metrics"] == [{"Name": "TimeToAcknowledge", "Unit": "Seconds"}]
    assert definition["Dimensions"] == [["service"], ["service", "Level"]]
    assert (record["service"], record["Level"]) == ("incident-escalation", level)
    (value,) = record["TimeToAcknowledge"]
    assert isinstance(value, float)
    return value


def test_yes_to_the_first_page_publishes_seconds_since_creation_at_level_1(
    paged: Aws,
    sms_stub: Stubber,
    sfn_stub: Stubber,
    inbound_payload: dict[str, Any],
    lambda_context: LambdaContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _created_ago(paged, CREATED_SECONDS_AGO)
    sfn_stub.add_response("send_task_success", {}, expected_params=SUCCESS_BY_FIRST)
    expect_sms(sms_stub, FIRST, CONFIRMED)
    capsys.readouterr()

    assert _reply(lambda_context, _inbound(inbound_payload, body="yes")) == ["acknowledged"]

    (record,) = _published(capsys)
    value = _assert_one_record(record, level="1")
    assert value == pytest.approx(_seconds(paged), abs=0.001)
    assert CREATED_SECONDS_AGO <= value < CREATED_SECONDS_AGO + 30


def test_yes_after_an_escalation_is_published_at_level_2(
    escalated: Aws,
    sms_stub: Stubber,
    sfn_stub: Stubber,
    inbound_payload: dict[str, Any],
    lambda_context: LambdaContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _created_ago(escalated, 600)
    sfn_stub.add_response("send_task_success", {}, expected_params=SUCCESS_BY_SECOND)
    expect_sms(sms_stub, SECOND, CONFIRMED)
    expect_sms(sms_stub, FIRST, f"Incident 123 was acknowledged by {SECOND}. No action needed.")
    capsys.readouterr()

    assert _reply(lambda_context, _inbound(inbound_payload, sender=SECOND, body="YES")) == ["acknowledged"]

    (record,) = _published(capsys)
    assert 600 <= _assert_one_record(record, level="2") < 630


def test_a_retried_reply_publishes_it_once(
    escalated: Aws,
    sms_stub: Stubber,
    sfn_stub: Stubber,
    inbound_payload: dict[str, Any],
    lambda_context: LambdaContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The first delivery acknowledges, then fails on the confirmation; SNS delivers the reply again.
    _created_ago(escalated, CREATED_SECONDS_AGO)
    sfn_stub.add_response("send_task_success", {}, expected_params={**SUCCESS_BY_FIRST, "taskToken": "token-1"})
    sms_stub.add_client_error("send_text_message", service_error_code="ThrottlingException", http_status_code=400)
    expect_sms(sms_stub, SECOND, f"Incident 123 was acknowledged by {FIRST}. No action needed.")
    message = _inbound(inbound_payload, body="yes", message_id="in-retry")
    capsys.readouterr()
    with pytest.raises(Exception, match="ThrottlingException"):
        _reply(lambda_context, message)
    (first,) = _published(capsys)

    expect_sms(sms_stub, FIRST, CONFIRMED)
    assert _reply(lambda_context, message) == ["acknowledged"]
    assert _published(capsys) == []  # the retry sent the confirmation and nothing else
    assert _assert_one_record(first, level="2") == pytest.approx(_seconds(escalated), abs=0.001)


def test_yes_all_publishes_one_record_per_incident_taken(
    paged: Aws,
    sms_stub: Stubber,
    sfn_stub: Stubber,
    seed_item: dict[str, Any],
    inbound_payload: dict[str, Any],
    lambda_context: LambdaContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    paged.put_incident(
        {
            **seed_item,
            "incident_id": {"S": "456"},
            "execution_arn": {"S": EXECUTION_ARN},
            "escalation_chain": {"L": [{"S": FIRST}]},
            "timeline": {"L": [{"M": {"at": {"S": "2026-01-01T00:00:00.000Z"}, "event": {"S": "created"}}}]},
        }
    )
    run_page(sms_stub, lambda_context, level=0, token="token-456", message_id="msg-456", incident_id="456", contacts=[FIRST])
    _created_ago(paged, 300)
    _created_ago(paged, 45, incident_id="456")
    sfn_stub.add_response("send_task_success", {}, expected_params={**SUCCESS_BY_FIRST, "taskToken": "token-456"})
    sfn_stub.add_response("send_task_success", {}, expected_params=SUCCESS_BY_FIRST)
    sms_stub.add_response(
        "send_text_message",
        {"MessageId": "out-1"},
        expected_params=sms_request(FIRST, "Acknowledged: 456, 123. Thank you, they are yours.", "456"),
    )
    capsys.readouterr()

    assert _reply(lambda_context, _inbound(inbound_payload, body="Yes all")) == ["acknowledged_all:2"]

    records = _published(capsys)
    values = sorted(_assert_one_record(record, level="1") for record in records)
    assert values == pytest.approx(sorted([_seconds(paged, "456"), _seconds(paged, "123")]), abs=0.001)
    assert 45 <= values[0] < 75 and 300 <= values[1] < 330


def test_a_no_and_a_late_yes_publish_nothing(
    escalated: Aws,
    sms_stub: Stubber,
    sfn_stub: Stubber,
    inbound_payload: dict[str, Any],
    lambda_context: LambdaContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sfn_stub.add_response(
        "send_task_failure", {}, expected_params={"taskToken": "token-1", "error": "Declined", "cause": "declined by SMS"}
    )
    capsys.readouterr()
    assert _reply(lambda_context, _inbound(inbound_payload, sender=SECOND, body="no")) == ["declined"]
    assert _published(capsys) == []

    sfn_stub.add_response("send_task_success", {}, expected_params={**SUCCESS_BY_FIRST, "taskToken": "token-1"})
    expect_sms(sms_stub, FIRST, CONFIRMED)
    expect_sms(sms_stub, SECOND, f"Incident 123 was acknowledged by {FIRST}. No action needed.")
    assert _reply(lambda_context, _inbound(inbound_payload, body="yes", message_id="in-2")) == ["acknowledged"]
    expect_sms(sms_stub, SECOND, f"Incident 123 is already acknowledged by {FIRST}.")
    assert _reply(lambda_context, _inbound(inbound_payload, sender=SECOND, body="yes 123", message_id="in-3")) == [
        "already_acknowledged"
    ]
    assert len(_published(capsys)) == 1  # the first YES only
