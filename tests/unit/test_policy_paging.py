"""Incidents that name an escalation policy: checked at start, each level resolved when it is paged.

The on-call table holds the deployed definitions (as the stack writes them) and overrides (as the CLI
writes them); SMS and task-token calls are Stubbers, so every send and every token call is exact.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import handle_reply
import page_contact
import pytest
import start_escalation
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.stub import ANY, Stubber

from escalation.incidents.levels import policy_level
from escalation.oncall.definitions import Definitions
from escalation.oncall.store import OncallStore, definitions_item
from escalation.platform import wiring
from tests.conftest import REGION, Aws
from tests.unit.conftest import EXECUTION_ARN
from tests.unit.events import sns_event, stream_event, stream_record

ALICE, BOB, CAROL = "+447700900001", "+447700900002", "+447700900003"
ONCALL_TABLE = "Oncall"


def _definitions(rotation_start: str = "2026-01-05") -> Definitions:
    weekly = {"shift": {"weeks": 1}, "handoff": "09:00", "zone": "Europe/London", "start": rotation_start}
    return Definitions.model_validate(
        {
            "people": {
                "alice": {"name": "Alice", "phone": ALICE, "zone": "Europe/London"},
                "bob": {"name": "Bob", "phone": BOB, "zone": "Europe/London"},
                "carol": {"name": "Carol", "phone": CAROL, "zone": "Europe/London"},
            },
            "rotations": {"primary": {"layers": [{"participants": ["alice"], **weekly}]}},
            "policies": {
                "payments": {
                    "repeat": 1,
                    "levels": [
                        {"targets": [{"rotation": "primary"}], "ack_timeout_seconds": 60},
                        {"targets": [{"rotation": "primary"}, {"person": "bob"}], "ack_timeout_seconds": 120},
                    ],
                },
                "nights": {"levels": [{"targets": [{"person": "carol"}]}]},
            },
        }
    )


@pytest.fixture
def oncall(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> OncallStore:
    """The on-call table with the definitions deployed, wired into the handlers."""
    table = boto3.resource("dynamodb", region_name=REGION).create_table(
        TableName=ONCALL_TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    table.put_item(Item=definitions_item(_definitions()))
    monkeypatch.setenv("ONCALL_TABLE", ONCALL_TABLE)
    wiring.reset()
    return OncallStore(table)


def _policy_item(policy: str = "payments", **extra: Any) -> dict[str, Any]:
    return {
        "incident_id": {"S": "123"},
        "description": {"S": "Disk full on db-1"},
        "policy": {"S": policy},
        **extra,
    }


def _start(aws: Aws, item: dict[str, Any], context: LambdaContext) -> None:
    aws.put_incident(item)
    start_escalation.handler(stream_event(stream_record(item, sequence="1")), context)


def _page(level: int, token: str, *, attempt: int = 0, chain_levels: int = 4) -> dict[str, Any]:
    contacts = [policy_level("payments", index % 2) for index in range(chain_levels)]
    return {
        "token": token,
        "incident_id": "123",
        "contacts": contacts,
        "level": level,
        "attempt": attempt,
        "timeout": 60,
        "error": {"Error": "States.Timeout", "Cause": ""} if level and not attempt else None,
        "execution": EXECUTION_ARN,
    }


def _started(aws: Aws) -> None:
    """The item as the start handler leaves a payments incident (execution ARN fixed for the token calls)."""
    aws.put_incident(
        {
            **_policy_item(),
            "incident_stat": {"S": "not_acknowledged"},
            "escalation_chain": {"L": [{"S": policy_level("payments", index % 2)} for index in range(4)]},
            "escalation_level": {"N": "0"},
            "level_contacts": {"M": {}},
            "execution_arn": {"S": EXECUTION_ARN},
            "stat_date": {"S": "2026-01-01T00:00:00.000Z"},
            "timeline": {"L": []},
        }
    )


def _sent_to(sms_stub: Stubber, *numbers: str) -> None:
    for index, number in enumerate(numbers):
        sms_stub.add_response("send_text_message", {"MessageId": f"m-{number}-{index}"}, expected_params=None)


# -- start ------------------------------------------------------------------------------------------


def test_an_item_naming_a_policy_starts_its_levels_with_their_windows_and_repeat(
    aws: Aws, oncall: OncallStore, lambda_context: LambdaContext
) -> None:
    _start(aws, _policy_item(), lambda_context)
    [execution] = aws.executions()
    started = json.loads(aws.stepfunctions.describe_execution(executionArn=execution["executionArn"])["input"])
    levels = [policy_level("payments", 0), policy_level("payments", 1)]
    assert started["contacts"] == levels * 2  # repeat: 1, the policy's own
    assert (started["ack_timeouts"], started["timeout"]) == ([60, 120, 60, 120], 60)
    item = aws.incident("123")
    assert item["escalation_chain"] == levels * 2 and item["level_contacts"] == {}
    assert item["timeline"][0]["policy"] == "payments"


@pytest.mark.parametrize(
    ("item", "error"),
    [
        (_policy_item("billing"), "policy: unknown escalation policy 'billing' (deployed: nights, payments)"),
        (_policy_item(contacts={"L": [{"S": ALICE}]}), "policy: give either policy or contacts, not both"),
        (_policy_item(first_contact={"S": ALICE}), "policy: give either policy or first_contact, not both"),
        ({**_policy_item(), "policy": {"N": "1"}}, "policy: must be a string (S), got number"),
    ],
)
def test_a_bad_policy_is_marked_invalid_naming_the_field(
    aws: Aws, oncall: OncallStore, lambda_context: LambdaContext, item: dict[str, Any], error: str
) -> None:
    _start(aws, item, lambda_context)
    assert aws.executions() == []
    assert (aws.incident("123")["incident_stat"], aws.incident("123")["error"]) == ("invalid", error)


def test_a_policy_without_deployed_definitions_is_marked_invalid(aws: Aws, lambda_context: LambdaContext) -> None:
    _start(aws, _policy_item(), lambda_context)
    assert aws.incident("123")["error"].startswith("policy: no on-call definitions are deployed")


# -- page -------------------------------------------------------------------------------------------


def test_a_level_pages_whoever_is_on_call_and_keeps_them_for_its_reminders(
    aws: Aws, oncall: OncallStore, sms_stub: Stubber, sfn_stub: Stubber, lambda_context: LambdaContext
) -> None:
    _started(aws)
    _sent_to(sms_stub, ALICE)
    assert page_contact.handler(_page(0, "t0"), lambda_context)["outcome"] == "page"
    # Bob takes over now; the level's reminder still goes to alice, whom the level was resolved to.
    now = datetime.now(UTC)
    oncall.add_override(rotation="primary", person="bob", start=now - timedelta(seconds=1), end=now + timedelta(hours=1))
    _sent_to(sms_stub, ALICE)
    assert page_contact.handler(_page(0, "t1", attempt=1), lambda_context)["outcome"] == "reminder"
    item = aws.incident("123")
    assert item["level_contacts"] == {"0": [ALICE]}
    assert (item["current_contacts"], item["current_contact"]) == ([ALICE], ALICE)
    on_call = [entry for entry in item["timeline"] if entry["event"] == "on_call"]
    assert on_call == [{"at": ANY, "event": "on_call", "level": 0, "target": "payments level 1", "people": ["alice"]}]


def test_a_handoff_between_two_levels_pages_the_new_person_and_both_targets_of_a_level(
    aws: Aws, oncall: OncallStore, sms_stub: Stubber, sfn_stub: Stubber, lambda_context: LambdaContext
) -> None:
    _started(aws)
    _sent_to(sms_stub, ALICE)
    page_contact.handler(_page(0, "t0"), lambda_context)
    now = datetime.now(UTC)
    oncall.add_override(rotation="primary", person="carol", start=now - timedelta(seconds=1), end=now + timedelta(hours=1))
    _sent_to(sms_stub, CAROL, BOB, ALICE)  # level 2: the rotation (carol now) and bob together; then alice is told
    result = page_contact.handler(_page(1, "t1"), lambda_context)
    assert len(result["message_ids"]) == 2
    sms_stub.assert_no_pending_responses()
    item = aws.incident("123")
    assert item["level_contacts"] == {"0": [ALICE], "1": [CAROL, BOB]}
    assert item["current_contacts"] == [CAROL, BOB]
    ends = [(entry["event"], entry.get("target")) for entry in item["timeline"] if entry["event"] in ("escalated", "timed_out")]
    assert ends == [("timed_out", "payments level 1"), ("escalated", "payments level 2")]


def test_a_retried_level_sends_only_what_is_missing(
    aws: Aws, oncall: OncallStore, sms_stub: Stubber, sfn_stub: Stubber, lambda_context: LambdaContext
) -> None:
    _started(aws)
    _sent_to(sms_stub, ALICE)
    page_contact.handler(_page(0, "t0"), lambda_context)
    sms_stub.add_response("send_text_message", {"MessageId": "to-alice"}, expected_params=None)  # level 2: alice
    sms_stub.add_client_error("send_text_message", service_error_code="ThrottlingException", http_status_code=400)  # bob
    with pytest.raises(Exception, match="Throttling"):
        page_contact.handler(_page(1, "t1"), lambda_context)
    # The state machine retries the task: only bob is paged (alice is not paged twice). Alice, paged at both levels,
    # gets no "escalated" notice: she is still paged.
    sms_stub.add_response("send_text_message", {"MessageId": "to-bob"}, expected_params=None)
    assert page_contact.handler(_page(1, "t2"), lambda_context)["message_ids"] == ["to-bob"]
    sms_stub.assert_no_pending_responses()
    paged = [entry.get("phone") for entry in aws.incident("123")["timeline"] if entry["event"] == "paged"]
    assert paged == ["+44********01", "+44********01", "+44********02"]


def test_one_dead_number_at_a_level_of_two_does_not_end_the_level(
    aws: Aws, oncall: OncallStore, sms_stub: Stubber, sfn_stub: Stubber, lambda_context: LambdaContext
) -> None:
    _started(aws)
    _sent_to(sms_stub, ALICE)
    page_contact.handler(_page(0, "t0"), lambda_context)
    sms_stub.add_client_error(
        "send_text_message", service_error_code="ValidationException", http_status_code=400,
        service_message="opted out", response_meta={}, modeled_fields={"Reason": "DESTINATION_PHONE_NUMBER_OPTED_OUT"},
    )  # fmt: skip
    sms_stub.add_response("send_text_message", {"MessageId": "to-bob"}, expected_params=None)
    result = page_contact.handler(_page(1, "t1"), lambda_context)  # alice (opted out now), then bob
    assert result["message_ids"] == ["to-bob"]  # no task failure: bob can still answer; alice is not told (unreachable)
    sfn_stub.assert_no_pending_responses()
    assert aws.incident("123")["unreachable"] == [ALICE]


def test_nobody_on_call_skips_the_level_and_tells_ops_once(
    aws: Aws, oncall: OncallStore, sms_stub: Stubber, sfn_stub: Stubber, lambda_context: LambdaContext
) -> None:
    oncall.table.put_item(Item=definitions_item(_definitions(rotation_start="2099-01-05")))  # not started yet
    _started(aws)
    for token in ("t0", "t0-retry"):  # a retried task tells ops once
        sfn_stub.add_response(
            "send_task_failure", {}, expected_params={"taskToken": token, "error": "NobodyOnCall", "cause": ANY}
        )
        assert page_contact.handler(_page(0, token), lambda_context) == {"outcome": "nobody_on_call"}
    sfn_stub.assert_no_pending_responses()
    item = aws.incident("123")
    assert item["level_contacts"] == {"0": []}
    [entry] = [entry for entry in item["timeline"] if entry["event"] == "nobody_on_call"]
    assert entry["error"] == "every rotation of the level has a gap at this time"
    [notice] = aws.ops_messages()
    assert "nobody on call for payments level 1" in notice["Subject"]


def test_either_target_of_a_level_can_decline_it(
    aws: Aws, oncall: OncallStore, sms_stub: Stubber, sfn_stub: Stubber, lambda_context: LambdaContext,
    inbound_payload: dict[str, Any],
) -> None:  # fmt: skip
    _started(aws)
    _sent_to(sms_stub, ALICE)
    page_contact.handler(_page(0, "t0"), lambda_context)
    _sent_to(sms_stub, ALICE, BOB)
    page_contact.handler(_page(1, "t1"), lambda_context)  # alice again (rotation) and bob; nobody to tell of level 1
    sfn_stub.add_response(
        "send_task_failure", {}, expected_params={"taskToken": "t1", "error": "Declined", "cause": "declined by SMS"}
    )
    message = {**inbound_payload, "originationNumber": BOB, "messageBody": "NO", "inboundMessageId": "in-bob"}
    handle_reply.handler(sns_event(json.dumps(message)), lambda_context)
    sfn_stub.assert_no_pending_responses()
