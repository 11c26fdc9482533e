"""The reply handler: YES acknowledges, NO escalates, anything else gets one help text.

SMS goes through a Stubber on the SMS client; SendTaskSuccess / SendTaskFailure through a Stubber
on the handler's Step Functions client, so every call (and its absence) is checked exactly.
"""

from __future__ import annotations

import json
from typing import Any

import handle_reply
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.stub import Stubber

from tests.conftest import Aws
from tests.unit.conftest import EXECUTION_ARN, FIRST, SECOND, expect_sms, run_page
from tests.unit.events import sns_event, sns_record


def _inbound(
    payload: dict[str, Any], *, sender: str = FIRST, body: str, message_id: str = "in-1", previous: str | None = "msg-1"
) -> str:
    """AWS's documented payload with this reply's sender, text and ids."""
    message = {**payload, "originationNumber": sender, "messageBody": body, "inboundMessageId": message_id}
    message["previousPublishedMessageId"] = previous
    if previous is None:
        del message["previousPublishedMessageId"]
    return json.dumps(message)


def _reply(context: LambdaContext, *messages: str) -> list[str]:
    result: dict[str, Any] = handle_reply.handler(sns_event(*messages), context)
    outcomes: list[str] = result["outcomes"]
    return outcomes


def _events(aws: Aws, incident_id: str = "123") -> list[tuple[str, str | None]]:
    return [(entry["event"], entry.get("intent")) for entry in aws.incident(incident_id)["timeline"]]


def test_yes_matched_by_previous_message_id_acknowledges_and_completes_the_task(
    paged: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    sfn_stub.add_response(
        "send_task_success", {}, expected_params={"taskToken": "token-0", "output": '{"acknowledged_by": "+44********01"}'}
    )
    expect_sms(sms_stub, FIRST, "Incident 123 acknowledged. Thank you, it is yours.")

    assert _reply(lambda_context, _inbound(inbound_payload, body=" Yes!")) == ["acknowledged"]

    item = paged.incident("123")
    assert item["incident_stat"] == "acknowledged"
    assert item["acknowledged_by"] == FIRST
    assert item["acknowledged_at"] == item["stat_date"]
    assert "task_token" not in item
    assert _events(paged)[-2:] == [("reply", "acknowledge"), ("acknowledged", None)]
    assert paged.incident("123")["timeline"][-1]["phone"] == "+44********01"


def _page_second_incident(aws: Aws, sms_stub: Stubber, seed_item: dict[str, Any], context: LambdaContext) -> None:
    """Incident 456, also open and paged to the first contact (page msg-456), after incident 123's page."""
    aws.put_incident(
        {
            **seed_item,
            "incident_id": {"S": "456"},
            "execution_arn": {"S": EXECUTION_ARN},
            "escalation_chain": {"L": [{"S": FIRST}]},
        }
    )
    run_page(sms_stub, context, level=0, token="token-456", message_id="msg-456", incident_id="456", contacts=[FIRST])


def test_reply_goes_to_the_incident_of_the_message_it_answers_not_the_latest(
    paged: Aws,
    sms_stub: Stubber,
    sfn_stub: Stubber,
    seed_item: dict[str, Any],
    inbound_payload: dict[str, Any],
    lambda_context: LambdaContext,
) -> None:
    _page_second_incident(paged, sms_stub, seed_item, lambda_context)
    sfn_stub.add_response(
        "send_task_success", {}, expected_params={"taskToken": "token-0", "output": '{"acknowledged_by": "+44********01"}'}
    )
    expect_sms(sms_stub, FIRST, "Incident 123 acknowledged. Thank you, it is yours.")

    assert _reply(lambda_context, _inbound(inbound_payload, body="y", previous="msg-1")) == ["acknowledged"]
    assert paged.incident("123")["incident_stat"] == "acknowledged"
    assert paged.incident("456")["incident_stat"] == "not_acknowledged"


def test_yes_naming_the_incident_picks_it_among_several_open_pages(
    paged: Aws,
    sms_stub: Stubber,
    sfn_stub: Stubber,
    seed_item: dict[str, Any],
    inbound_payload: dict[str, Any],
    lambda_context: LambdaContext,
) -> None:
    _page_second_incident(paged, sms_stub, seed_item, lambda_context)
    sfn_stub.add_response(
        "send_task_success", {}, expected_params={"taskToken": "token-0", "output": '{"acknowledged_by": "+44********01"}'}
    )
    expect_sms(sms_stub, FIRST, "Incident 123 acknowledged. Thank you, it is yours.")

    assert _reply(lambda_context, _inbound(inbound_payload, body="ACK 123", previous=None)) == ["acknowledged"]
    assert paged.incident("123")["incident_stat"] == "acknowledged"
    assert paged.incident("456")["incident_stat"] == "not_acknowledged"


def test_yes_without_previous_message_id_falls_back_to_the_senders_open_page(
    paged: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    sfn_stub.add_response(
        "send_task_success", {}, expected_params={"taskToken": "token-0", "output": '{"acknowledged_by": "+44********01"}'}
    )
    expect_sms(sms_stub, FIRST, "Incident 123 acknowledged. Thank you, it is yours.")
    assert _reply(lambda_context, _inbound(inbound_payload, body="YES", previous=None)) == ["acknowledged"]
    assert paged.incident("123")["acknowledged_by"] == FIRST


def test_yes_from_first_contact_after_escalation_still_acknowledges(
    escalated: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    sfn_stub.add_response(
        "send_task_success", {}, expected_params={"taskToken": "token-1", "output": '{"acknowledged_by": "+44********01"}'}
    )
    expect_sms(sms_stub, FIRST, "Incident 123 acknowledged. Thank you, it is yours.")
    expect_sms(sms_stub, SECOND, f"Incident 123 was acknowledged by {FIRST}. No action needed.")

    assert _reply(lambda_context, _inbound(inbound_payload, body="yes", previous="msg-1")) == ["acknowledged"]
    item = escalated.incident("123")
    assert (item["incident_stat"], item["acknowledged_by"]) == ("acknowledged", FIRST)


def test_yes_after_the_chain_was_exhausted_acknowledges_without_a_task(
    paged: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    paged.incidents.update_item(
        Key={"incident_id": "123"},
        UpdateExpression="SET incident_stat = :s REMOVE task_token, current_contact",
        ExpressionAttributeValues={":s": "unacknowledged"},
    )
    expect_sms(sms_stub, FIRST, "Incident 123 acknowledged. Thank you, it is yours.")
    assert _reply(lambda_context, _inbound(inbound_payload, body="Yes")) == ["acknowledged"]
    assert paged.incident("123")["incident_stat"] == "acknowledged"
    # sfn_stub had nothing queued: no task to complete


def test_second_yes_is_told_who_already_has_it(
    escalated: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    sfn_stub.add_response(
        "send_task_success", {}, expected_params={"taskToken": "token-1", "output": '{"acknowledged_by": "+44********02"}'}
    )
    expect_sms(sms_stub, SECOND, "Incident 123 acknowledged. Thank you, it is yours.")
    expect_sms(sms_stub, FIRST, f"Incident 123 was acknowledged by {SECOND}. No action needed.")
    expect_sms(sms_stub, FIRST, f"Incident 123 is already acknowledged by {SECOND}.")

    outcomes = _reply(
        lambda_context,
        _inbound(inbound_payload, sender=SECOND, body="yes", message_id="in-1", previous="msg-2"),
        _inbound(inbound_payload, sender=FIRST, body="yes", message_id="in-2", previous="msg-1"),
    )
    assert outcomes == ["acknowledged", "not_acknowledged"]
    assert escalated.incident("123")["acknowledged_by"] == SECOND


def test_no_from_current_contact_declines_the_parked_task(
    paged: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    sfn_stub.add_response(
        "send_task_failure", {}, expected_params={"taskToken": "token-0", "error": "Declined", "cause": "declined by SMS"}
    )
    assert _reply(lambda_context, _inbound(inbound_payload, body="no.")) == ["declined"]
    item = paged.incident("123")
    assert item["incident_stat"] == "not_acknowledged"  # the next level's page records the move on
    assert item["double_escalation"] == "no"
    assert _events(paged)[-1] == ("reply", "decline")
    # sms_stub had nothing more queued: a decline sends no SMS


def test_no_from_a_contact_already_escalated_past_sets_double_escalation(
    escalated: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    expect_sms(sms_stub, FIRST, "Incident 123 was already escalated. Reply YES if you take it after all.")
    assert _reply(lambda_context, _inbound(inbound_payload, body="decline", previous="msg-1")) == ["already_escalated"]
    item = escalated.incident("123")
    assert item["double_escalation"] == "yes"
    assert item["task_token"] == "token-1"  # the second contact's wait is untouched
    assert _events(escalated)[-1] == ("reply", "decline")


def test_no_on_a_timed_out_token_is_recorded_once_as_already_escalated(
    paged: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    sfn_stub.add_client_error("send_task_failure", service_error_code="TaskTimedOut", http_status_code=400)
    expect_sms(sms_stub, FIRST, "Incident 123 was already escalated. Reply YES if you take it after all.")
    assert _reply(lambda_context, _inbound(inbound_payload, body="N")) == ["already_escalated"]
    assert _events(paged).count(("reply", "decline")) == 1
    assert paged.incident("123")["double_escalation"] == "yes"


def test_unknown_text_gets_exactly_one_help_reply_even_if_sent_twice(
    paged: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    expect_sms(sms_stub, FIRST, "Reply YES to acknowledge incident 123 or NO to escalate it, e.g. YES 123")
    assert _reply(lambda_context, _inbound(inbound_payload, body="ok", message_id="in-1")) == ["help"]
    assert _reply(lambda_context, _inbound(inbound_payload, body="ok", message_id="in-2")) == ["help_already_sent"]
    assert _events(paged)[-2:] == [("reply", "unknown"), ("reply", "unknown")]
    assert paged.incident("123")["incident_stat"] == "not_acknowledged"


@pytest.mark.parametrize("body", ["STOP", "help", "Unsubscribe."])
def test_service_keywords_get_nothing_from_us(
    paged: Aws,
    sms_stub: Stubber,
    sfn_stub: Stubber,
    inbound_payload: dict[str, Any],
    lambda_context: LambdaContext,
    body: str,
) -> None:
    before = paged.incident("123")
    assert _reply(lambda_context, _inbound(inbound_payload, body=body)) == ["service_keyword"]
    assert paged.incident("123") == before


def test_unknown_sender_gets_nothing(
    paged: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    before = paged.incident("123")
    outcomes = _reply(
        lambda_context,
        json.dumps(inbound_payload),  # AWS's example: a number we never paged, an id we never sent
        _inbound(inbound_payload, sender="+447700900099", body="YES 123", message_id="in-2", previous="msg-1"),
    )
    assert outcomes == ["unknown_sender", "unknown_sender"]
    assert paged.incident("123") == before


def test_same_inbound_message_delivered_twice_acts_once(
    paged: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    sfn_stub.add_response(
        "send_task_success", {}, expected_params={"taskToken": "token-0", "output": '{"acknowledged_by": "+44********01"}'}
    )
    expect_sms(sms_stub, FIRST, "Incident 123 acknowledged. Thank you, it is yours.")
    message = _inbound(inbound_payload, body="YES", message_id="in-dup")
    assert _reply(lambda_context, message) == ["acknowledged"]
    assert _reply(lambda_context, message) == ["acknowledged"]  # the stored result, not a second run
    assert _events(paged).count(("reply", "acknowledge")) == 1


def test_same_no_delivered_twice_declines_once(
    paged: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    sfn_stub.add_response(
        "send_task_failure", {}, expected_params={"taskToken": "token-0", "error": "Declined", "cause": "declined by SMS"}
    )
    message = _inbound(inbound_payload, body="no", message_id="in-dup")
    assert _reply(lambda_context, message, message) == ["declined", "declined"]
    assert _events(paged).count(("reply", "decline")) == 1


def test_malformed_sns_messages_are_rejected_without_raising(
    paged: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    sfn_stub.add_response(
        "send_task_success", {}, expected_params={"taskToken": "token-0", "output": '{"acknowledged_by": "+44********01"}'}
    )
    expect_sms(sms_stub, FIRST, "Incident 123 acknowledged. Thank you, it is yours.")
    no_message = sns_record("x")
    del no_message["Sns"]["Message"]
    event = sns_event(
        "not json",
        json.dumps([inbound_payload]),
        json.dumps({**inbound_payload, "originationNumber": "0044 7700"}),
        _inbound(inbound_payload, body="yes"),
    )
    event["Records"].insert(0, no_message)
    result = handle_reply.handler(event, lambda_context)
    assert result == {"outcomes": ["rejected", "rejected", "rejected", "rejected", "acknowledged"]}
