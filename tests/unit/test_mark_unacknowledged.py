"""The "Mark unacknowledged" workflow task."""

from __future__ import annotations

from typing import Any

import mark_unacknowledged
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.stub import Stubber

from escalation.platform import wiring
from tests.conftest import Aws
from tests.unit.conftest import CHAIN, EXECUTION_ARN, FIRST, SECOND, expect_sms

DECLINED = {"Error": "Declined", "Cause": "declined by SMS"}
TIMEOUT = {"Error": "States.Timeout", "Cause": None}
SMS_FAILED = {"Error": "SmsFailed", "Cause": "ConflictException: DESTINATION_PHONE_NUMBER_OPTED_OUT"}


def _expect_sms(sms_stub: Stubber, to: str, body: str) -> None:
    expect_sms(sms_stub, to, body, message_id=f"out-{to}")


def _task_event(level: int, error: dict[str, Any]) -> dict[str, Any]:
    return {"incident_id": "123", "contacts": CHAIN, "level": level, "error": error, "execution": EXECUTION_ARN}


def test_exhausted_chain_is_unacknowledged_and_everyone_paged_and_ops_are_told(
    escalated: Aws, sms_stub: Stubber, lambda_context: LambdaContext
) -> None:
    notice = "Incident 123 is UNACKNOWLEDGED: escalation stopped. Reply YES to take it."
    _expect_sms(sms_stub, FIRST, notice)
    _expect_sms(sms_stub, SECOND, notice)

    assert mark_unacknowledged.handler(_task_event(1, TIMEOUT), lambda_context) == {"outcome": "unacknowledged"}

    item = escalated.incident("123")
    assert item["incident_stat"] == "unacknowledged"
    assert "task_token" not in item
    assert "current_contact" not in item
    assert [entry["event"] for entry in item["timeline"][-2:]] == ["timed_out", "exhausted"]
    [envelope] = escalated.ops_messages()
    assert envelope["Subject"] == "Incident 123 unacknowledged"
    assert "not acknowledged by any of the 2 contact(s) paged" in envelope["Message"]
    assert "Error 111, unit 1 malfunctioned." in envelope["Message"]


def test_exhaustion_at_the_first_level_tells_only_the_contact_paged(
    paged: Aws, sms_stub: Stubber, lambda_context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPS_TOPIC_ARN", "")
    wiring.reset()  # a fresh container reads the new environment
    _expect_sms(sms_stub, FIRST, "Incident 123 is UNACKNOWLEDGED: escalation stopped. Reply YES to take it.")
    assert mark_unacknowledged.handler(_task_event(0, DECLINED), lambda_context) == {"outcome": "unacknowledged"}
    assert paged.ops_messages() == []  # no topic configured: nothing published


def test_acknowledged_incident_is_not_marked_unacknowledged(
    escalated: Aws, sms_stub: Stubber, lambda_context: LambdaContext
) -> None:
    escalated.incidents.update_item(
        Key={"incident_id": "123"}, UpdateExpression="SET incident_stat = :s", ExpressionAttributeValues={":s": "acknowledged"}
    )
    assert mark_unacknowledged.handler(_task_event(1, TIMEOUT), lambda_context) == {"outcome": "closed"}
    assert escalated.incident("123")["incident_stat"] == "acknowledged"
    assert escalated.ops_messages() == []


def test_execution_of_a_replaced_incident_does_not_close_the_new_one(
    escalated: Aws, sms_stub: Stubber, lambda_context: LambdaContext
) -> None:
    event = {**_task_event(1, TIMEOUT), "execution": "arn:aws:states:eu-west-2:123456789012:execution:x:old"}
    assert mark_unacknowledged.handler(event, lambda_context) == {"outcome": "closed"}
    assert escalated.incident("123")["incident_stat"] == "escalation"
    assert escalated.ops_messages() == []
