"""The reply handler: which incident a reply acts on, what it does, and that every side effect happens once.

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

from escalation.incidents.resolve import Outcome, resolve
from escalation.incidents.status import Event
from escalation.incidents.timeline import timeline_entry
from escalation.platform.wiring import dependencies
from escalation.replies.context import CLOSED_REPLIES_KEPT
from tests.conftest import Aws
from tests.unit.conftest import EXECUTION_ARN, FIRST, SECOND, expect_sms, run_page, sms_request
from tests.unit.events import sns_event, sns_record

CONFIRMED = "Incident 123 acknowledged. Thank you, it is yours."
SUCCESS_BY_FIRST = {"taskToken": "token-0", "output": '{"outcome": "acknowledged", "acknowledged_by": "+44********01"}'}


def _inbound(
    payload: dict[str, Any], *, sender: str = FIRST, body: str, message_id: str = "in-1", previous: str | None = "msg-1"
) -> str:
    """AWS's documented payload with this reply's sender, text and ids."""
    message = {**payload, "originationNumber": sender, "messageBody": body, "inboundMessageId": message_id}
    message["previousPublishedMessageId"] = previous
    if previous is None:
        del message["previousPublishedMessageId"]
    return json.dumps(message)


def _expect_sms_about(sms_stub: Stubber, incident_id: str, to: str, body: str) -> None:
    """Queue one successful send of exactly this text, sent about incident_id."""
    sms_stub.add_response("send_text_message", {"MessageId": "out-1"}, expected_params=sms_request(to, body, incident_id))


def _reply(context: LambdaContext, *messages: str) -> list[str]:
    result: dict[str, Any] = handle_reply.handler(sns_event(*messages), context)
    outcomes: list[str] = result["outcomes"]
    return outcomes


def _events(aws: Aws, incident_id: str = "123") -> list[tuple[str, str | None]]:
    return [(entry["event"], entry.get("intent")) for entry in aws.incident(incident_id)["timeline"]]


def _page_incident(
    aws: Aws, sms_stub: Stubber, seed_item: dict[str, Any], context: LambdaContext, incident_id: str = "456"
) -> None:
    """Another incident, open and paged to the first contact only (page msg-<id>), after incident 123's page."""
    aws.put_incident(
        {
            **seed_item,
            "incident_id": {"S": incident_id},
            "execution_arn": {"S": EXECUTION_ARN},
            "escalation_chain": {"L": [{"S": FIRST}]},
        }
    )
    run_page(
        sms_stub,
        context,
        level=0,
        token=f"token-{incident_id}",
        message_id=f"msg-{incident_id}",
        incident_id=incident_id,
        contacts=[FIRST],
    )


# -- acknowledging ---------------------------------------------------------------------------------


def test_yes_acknowledges_completes_the_task_and_confirms(
    paged: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    sfn_stub.add_response("send_task_success", {}, expected_params=SUCCESS_BY_FIRST)
    expect_sms(sms_stub, FIRST, CONFIRMED)

    assert _reply(lambda_context, _inbound(inbound_payload, body=" Yes!")) == ["acknowledged"]

    item = paged.incident("123")
    assert (item["incident_stat"], item["acknowledged_by"], item["acknowledged_via"]) == ("acknowledged", FIRST, "in-1")
    assert item["acknowledged_at"] == item["stat_date"]
    assert "task_token" not in item
    assert _events(paged)[-2:] == [("reply", "acknowledge"), ("acknowledged", None)]
    assert paged.incident("123")["timeline"][-1]["phone"] == "+44********01"


def test_bare_yes_takes_the_most_recent_page_not_the_message_it_seems_to_answer(
    paged: Aws,
    sms_stub: Stubber,
    sfn_stub: Stubber,
    seed_item: dict[str, Any],
    inbound_payload: dict[str, Any],
    lambda_context: LambdaContext,
) -> None:
    _page_incident(paged, sms_stub, seed_item, lambda_context)
    sfn_stub.add_response("send_task_success", {}, expected_params={**SUCCESS_BY_FIRST, "taskToken": "token-456"})
    _expect_sms_about(
        sms_stub, "456", FIRST, "Incident 456 acknowledged. Thank you, it is yours. Also open for you: 123. Reply YES 123."
    )

    # previousPublishedMessageId names 123's page: on AWS it is only the last text sent, so it is not used.
    assert _reply(lambda_context, _inbound(inbound_payload, body="y", previous="msg-1")) == ["acknowledged"]
    assert paged.incident("456")["incident_stat"] == "acknowledged"
    assert paged.incident("123")["incident_stat"] == "not_acknowledged"


def test_yes_naming_the_incident_picks_it_and_lists_the_other_open_one(
    paged: Aws,
    sms_stub: Stubber,
    sfn_stub: Stubber,
    seed_item: dict[str, Any],
    inbound_payload: dict[str, Any],
    lambda_context: LambdaContext,
) -> None:
    _page_incident(paged, sms_stub, seed_item, lambda_context)
    sfn_stub.add_response("send_task_success", {}, expected_params=SUCCESS_BY_FIRST)
    expect_sms(sms_stub, FIRST, f"{CONFIRMED} Also open for you: 456. Reply YES 456.")

    assert _reply(lambda_context, _inbound(inbound_payload, body="ACK #123", previous=None)) == ["acknowledged"]
    assert paged.incident("123")["incident_stat"] == "acknowledged"
    assert paged.incident("456")["incident_stat"] == "not_acknowledged"


def test_an_id_in_another_case_matches(
    paged: Aws,
    sms_stub: Stubber,
    sfn_stub: Stubber,
    seed_item: dict[str, Any],
    inbound_payload: dict[str, Any],
    lambda_context: LambdaContext,
) -> None:
    _page_incident(paged, sms_stub, seed_item, lambda_context, incident_id="INC-7")
    sfn_stub.add_response("send_task_success", {}, expected_params={**SUCCESS_BY_FIRST, "taskToken": "token-INC-7"})
    _expect_sms_about(
        sms_stub, "INC-7", FIRST, "Incident INC-7 acknowledged. Thank you, it is yours. Also open for you: 123. Reply YES 123."
    )
    assert _reply(lambda_context, _inbound(inbound_payload, body="yes inc-7")) == ["acknowledged"]
    assert paged.incident("INC-7")["incident_stat"] == "acknowledged"


@pytest.mark.parametrize("body", ["YES 124", "yes 12", "NO 999", "Yes 456"])
def test_an_id_that_paged_nobody_here_gets_the_open_ids_and_nothing_else(
    paged: Aws,
    sms_stub: Stubber,
    sfn_stub: Stubber,
    seed_item: dict[str, Any],
    inbound_payload: dict[str, Any],
    lambda_context: LambdaContext,
    body: str,
) -> None:
    # 456 exists and is open, but it paged SECOND only: FIRST cannot name it.
    paged.put_incident(
        {
            **seed_item,
            "incident_id": {"S": "456"},
            "execution_arn": {"S": EXECUTION_ARN},
            "escalation_chain": {"L": [{"S": SECOND}]},
        }
    )
    named = body.split()[1]
    expect_sms(sms_stub, FIRST, f"No incident {named} was paged to you. Nothing done. Open for you: 123. Reply YES 123.")
    assert _reply(lambda_context, _inbound(inbound_payload, body=body)) == ["unknown_incident"]
    assert _reply(lambda_context, _inbound(inbound_payload, body=body.lower(), message_id="in-2")) == [
        "unknown_incident_already_sent"
    ]
    item = paged.incident("123")
    assert (item["incident_stat"], item["task_token"], item["double_escalation"]) == ("not_acknowledged", "token-0", "no")
    assert paged.incident("456")["incident_stat"] == "not_acknowledged"


def test_yes_from_first_contact_after_escalation_still_acknowledges_and_tells_the_second(
    escalated: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    sfn_stub.add_response("send_task_success", {}, expected_params={**SUCCESS_BY_FIRST, "taskToken": "token-1"})
    expect_sms(sms_stub, FIRST, CONFIRMED)
    expect_sms(sms_stub, SECOND, f"Incident 123 was acknowledged by {FIRST}. No action needed.")

    assert _reply(lambda_context, _inbound(inbound_payload, body="yes", previous="msg-2-notice")) == ["acknowledged"]
    item = escalated.incident("123")
    assert (item["incident_stat"], item["acknowledged_by"]) == ("acknowledged", FIRST)


def test_yes_from_a_number_whose_later_send_failed_still_acknowledges(
    escalated: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    # FIRST received the page; a later send to it failed (say a reminder): it is marked unreachable.
    entry = timeline_entry(Event.SMS_FAILED, "2026-01-01T00:00:05.000Z", level=0, phone=FIRST, error="reminder failed")
    dependencies().incidents.mark_unreachable("123", FIRST, entry)
    sfn_stub.add_response("send_task_success", {}, expected_params={**SUCCESS_BY_FIRST, "taskToken": "token-1"})
    expect_sms(sms_stub, FIRST, CONFIRMED)  # answering them is not a courtesy text
    expect_sms(sms_stub, SECOND, f"Incident 123 was acknowledged by {FIRST}. No action needed.")
    assert _reply(lambda_context, _inbound(inbound_payload, body="YES")) == ["acknowledged"]
    assert escalated.incident("123")["acknowledged_by"] == FIRST


def test_courtesy_notices_skip_a_number_a_send_could_not_reach(
    escalated: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    entry = timeline_entry(Event.SMS_FAILED, "2026-01-01T00:00:05.000Z", level=0, phone=FIRST, error="opted out")
    dependencies().incidents.mark_unreachable("123", FIRST, entry)
    sfn_stub.add_response(
        "send_task_success",
        {},
        expected_params={"taskToken": "token-1", "output": '{"outcome": "acknowledged", "acknowledged_by": "+44********02"}'},
    )
    expect_sms(sms_stub, SECOND, CONFIRMED)  # and nothing to FIRST
    assert _reply(lambda_context, _inbound(inbound_payload, sender=SECOND, body="yes", previous="msg-2")) == ["acknowledged"]


def test_yes_after_the_chain_was_exhausted_acknowledges_without_a_task(
    paged: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    paged.incidents.update_item(
        Key={"incident_id": "123"},
        UpdateExpression="SET incident_stat = :s REMOVE task_token, current_contact",
        ExpressionAttributeValues={":s": "unacknowledged"},
    )
    expect_sms(sms_stub, FIRST, CONFIRMED)
    assert _reply(lambda_context, _inbound(inbound_payload, body="Yes")) == ["acknowledged"]
    assert paged.incident("123")["incident_stat"] == "acknowledged"
    # sfn_stub had nothing queued: no task to complete


def test_yes_all_acknowledges_every_open_incident_with_one_confirmation(
    paged: Aws,
    sms_stub: Stubber,
    sfn_stub: Stubber,
    seed_item: dict[str, Any],
    inbound_payload: dict[str, Any],
    lambda_context: LambdaContext,
) -> None:
    _page_incident(paged, sms_stub, seed_item, lambda_context)
    sfn_stub.add_response("send_task_success", {}, expected_params={**SUCCESS_BY_FIRST, "taskToken": "token-456"})
    sfn_stub.add_response("send_task_success", {}, expected_params=SUCCESS_BY_FIRST)
    _expect_sms_about(sms_stub, "456", FIRST, "Acknowledged: 456, 123. Thank you, they are yours.")

    assert _reply(lambda_context, _inbound(inbound_payload, body="Yes all")) == ["acknowledged_all:2"]
    for incident_id in ("123", "456"):
        assert paged.incident(incident_id)["acknowledged_by"] == FIRST
    assert _reply(lambda_context, _inbound(inbound_payload, body="YES ALL", message_id="in-2")) == ["already_yours"]


def test_a_second_yes_is_told_once_who_already_has_it(
    escalated: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    sfn_stub.add_response(
        "send_task_success",
        {},
        expected_params={"taskToken": "token-1", "output": '{"outcome": "acknowledged", "acknowledged_by": "+44********02"}'},
    )
    expect_sms(sms_stub, SECOND, CONFIRMED)
    expect_sms(sms_stub, FIRST, f"Incident 123 was acknowledged by {SECOND}. No action needed.")
    expect_sms(sms_stub, FIRST, f"Nothing is open for you: incident 123 was acknowledged by {SECOND}. No action needed.")
    expect_sms(sms_stub, FIRST, f"Incident 123 is already acknowledged by {SECOND}.")

    outcomes = _reply(
        lambda_context,
        _inbound(inbound_payload, sender=SECOND, body="yes", message_id="in-1"),
        _inbound(inbound_payload, sender=FIRST, body="yes", message_id="in-2"),
        _inbound(inbound_payload, sender=FIRST, body="yes!", message_id="in-3"),
        _inbound(inbound_payload, sender=FIRST, body="yes 123", message_id="in-4"),
        _inbound(inbound_payload, sender=FIRST, body="no 123", message_id="in-5"),
        _inbound(inbound_payload, sender=SECOND, body="yes", message_id="in-6"),
    )
    assert outcomes == [
        "acknowledged",
        "nothing_open",
        "nothing_open_already_sent",
        "already_acknowledged",
        "already_acknowledged_already_sent",
        "already_yours",
    ]
    assert escalated.incident("123")["acknowledged_by"] == SECOND


# -- declining -------------------------------------------------------------------------------------


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


@pytest.mark.parametrize("body", ["No problem, on it", "no worries mate", "Yes I'm on it", "ok"])
def test_a_sentence_is_never_a_decline_or_an_acknowledgement(
    paged: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext, body: str
) -> None:
    expect_sms(sms_stub, FIRST, "Reply YES to acknowledge incident 123 or NO to escalate it, e.g. YES 123")
    assert _reply(lambda_context, _inbound(inbound_payload, body=body)) == ["help"]
    item = paged.incident("123")
    assert (item["incident_stat"], item["task_token"]) == ("not_acknowledged", "token-0")
    # sfn_stub had nothing queued: no task completed


def test_no_from_a_contact_already_escalated_past_is_answered_once(
    escalated: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    expect_sms(sms_stub, FIRST, "Incident 123 was already escalated. Reply YES if you take it after all.")
    outcomes = _reply(
        lambda_context,
        _inbound(inbound_payload, body="decline", message_id="in-1"),
        _inbound(inbound_payload, body="NO", message_id="in-2"),
    )
    assert outcomes == ["already_escalated", "already_escalated_already_sent"]
    item = escalated.incident("123")
    assert item["double_escalation"] == "yes"
    assert item["task_token"] == "token-1"  # the second contact's wait is untouched
    assert _events(escalated)[-2:] == [("reply", "decline"), ("reply", "decline")]


def test_no_on_a_timed_out_token_is_recorded_once_as_already_escalated(
    paged: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    sfn_stub.add_client_error("send_task_failure", service_error_code="TaskTimedOut", http_status_code=400)
    expect_sms(sms_stub, FIRST, "Incident 123 was already escalated. Reply YES if you take it after all.")
    assert _reply(lambda_context, _inbound(inbound_payload, body="N")) == ["already_escalated"]
    assert _events(paged).count(("reply", "decline")) == 1
    assert paged.incident("123")["double_escalation"] == "yes"


# -- help and noise --------------------------------------------------------------------------------


def test_unknown_text_gets_exactly_one_help_reply_listing_what_is_open(
    paged: Aws,
    sms_stub: Stubber,
    sfn_stub: Stubber,
    seed_item: dict[str, Any],
    inbound_payload: dict[str, Any],
    lambda_context: LambdaContext,
) -> None:
    _page_incident(paged, sms_stub, seed_item, lambda_context)
    _expect_sms_about(
        sms_stub,
        "456",
        FIRST,
        "Reply YES to acknowledge incident 456 or NO to escalate it, e.g. YES 456. Open for you: 456, 123.",
    )
    assert _reply(lambda_context, _inbound(inbound_payload, body="ok", message_id="in-1")) == ["help"]
    assert _reply(lambda_context, _inbound(inbound_payload, body="ok", message_id="in-2")) == ["help_already_sent"]
    assert _events(paged, "456")[-2:] == [("reply", "unknown"), ("reply", "unknown")]


@pytest.mark.parametrize("body", ["STOP", "help", "Unsubscribe."])
def test_service_keywords_get_nothing_from_us(
    paged: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext, body: str
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
        _inbound(inbound_payload, sender=SECOND, body="YES 123", message_id="in-3"),  # in the chain, not paged yet
    )
    assert outcomes == ["unknown_sender", "unknown_sender", "unknown_sender"]
    assert paged.incident("123") == before


def test_an_auto_responder_on_a_closed_incident_gets_one_answer_and_a_bounded_record(
    escalated: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    sfn_stub.add_response(
        "send_task_success",
        {},
        expected_params={"taskToken": "token-1", "output": '{"outcome": "acknowledged", "acknowledged_by": "+44********02"}'},
    )
    expect_sms(sms_stub, SECOND, CONFIRMED)
    expect_sms(sms_stub, FIRST, f"Incident 123 was acknowledged by {SECOND}. No action needed.")
    expect_sms(sms_stub, FIRST, f"Nothing is open for you: incident 123 was acknowledged by {SECOND}. No action needed.")
    assert _reply(lambda_context, _inbound(inbound_payload, sender=SECOND, body="yes")) == ["acknowledged"]
    entries_before = len(escalated.incident("123")["timeline"])

    away = [_inbound(inbound_payload, body="I am away until Monday.", message_id=f"away-{n}") for n in range(12)]
    outcomes = _reply(lambda_context, *away)

    assert outcomes == ["nothing_open", *["nothing_open_already_sent"] * 11]
    item = escalated.incident("123")
    assert len(item["timeline"]) - entries_before == CLOSED_REPLIES_KEPT
    assert item["replies_after_close"] == 12


# -- each side effect once, redone on retry --------------------------------------------------------


def test_same_inbound_message_delivered_twice_acts_once(
    paged: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    sfn_stub.add_response("send_task_success", {}, expected_params=SUCCESS_BY_FIRST)
    expect_sms(sms_stub, FIRST, CONFIRMED)
    message = _inbound(inbound_payload, body="YES", message_id="in-dup")
    assert _reply(lambda_context, message) == ["acknowledged"]
    assert _reply(lambda_context, message) == ["acknowledged"]  # the stored result, not a second run
    assert _events(paged).count(("reply", "acknowledge")) == 1


def test_a_retry_after_a_failed_confirmation_sends_it_and_nothing_else_again(
    escalated: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    sfn_stub.add_response("send_task_success", {}, expected_params={**SUCCESS_BY_FIRST, "taskToken": "token-1"})
    sms_stub.add_client_error("send_text_message", service_error_code="ThrottlingException", http_status_code=400)
    expect_sms(sms_stub, SECOND, f"Incident 123 was acknowledged by {FIRST}. No action needed.")
    message = _inbound(inbound_payload, body="yes", message_id="in-retry")
    with pytest.raises(Exception, match="ThrottlingException"):
        _reply(lambda_context, message)
    item = escalated.incident("123")
    assert item["incident_stat"] == "acknowledged"  # the state change stands

    expect_sms(sms_stub, FIRST, CONFIRMED)  # only the confirmation: the task and the notice were done
    assert _reply(lambda_context, message) == ["acknowledged"]
    assert _events(escalated).count(("reply", "acknowledge")) == 1
    assert _events(escalated).count(("acknowledged", None)) == 1
    assert "task_token" not in escalated.incident("123")


def test_a_retry_after_the_task_could_not_be_completed_completes_it(
    paged: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    sfn_stub.add_client_error("send_task_success", service_error_code="ServiceUnavailable", http_status_code=400)
    expect_sms(sms_stub, FIRST, CONFIRMED)
    message = _inbound(inbound_payload, body="yes", message_id="in-retry")
    with pytest.raises(Exception, match="ServiceUnavailable"):
        _reply(lambda_context, message)
    assert paged.incident("123")["task_token"] == "token-0"  # kept, so the retry can complete it

    sfn_stub.add_response("send_task_success", {}, expected_params=SUCCESS_BY_FIRST)
    assert _reply(lambda_context, message) == ["acknowledged"]  # and no second confirmation
    assert "task_token" not in paged.incident("123")


def test_a_retried_no_declines_once_and_is_recorded_once(
    paged: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    sfn_stub.add_client_error("send_task_failure", service_error_code="ServiceUnavailable", http_status_code=400)
    message = _inbound(inbound_payload, body="no", message_id="in-retry")
    with pytest.raises(Exception, match="ServiceUnavailable"):
        _reply(lambda_context, message)
    sfn_stub.add_response(
        "send_task_failure", {}, expected_params={"taskToken": "token-0", "error": "Declined", "cause": "declined by SMS"}
    )
    assert _reply(lambda_context, message) == ["declined"]
    assert _events(paged).count(("reply", "decline")) == 1
    assert paged.incident("123")["double_escalation"] == "no"


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
    sfn_stub.add_response("send_task_success", {}, expected_params=SUCCESS_BY_FIRST)
    expect_sms(sms_stub, FIRST, CONFIRMED)
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


def test_yes_on_an_incident_stopped_by_our_own_fault_takes_it(
    paged: Aws, sms_stub: Stubber, sfn_stub: Stubber, inbound_payload: dict[str, Any], lambda_context: LambdaContext
) -> None:
    paged.incidents.update_item(
        Key={"incident_id": "123"},
        UpdateExpression="SET incident_stat = :s REMOVE task_token",
        ExpressionAttributeValues={":s": "failed"},
    )
    expect_sms(sms_stub, FIRST, CONFIRMED)
    assert _reply(lambda_context, _inbound(inbound_payload, body="yes 123")) == ["acknowledged"]
    assert paged.incident("123")["incident_stat"] == "acknowledged"


def test_a_bare_resolve_after_the_source_resolved_the_latest_closes_nothing_older(
    paged: Aws,
    sms_stub: Stubber,
    sfn_stub: Stubber,
    seed_item: dict[str, Any],
    inbound_payload: dict[str, Any],
    lambda_context: LambdaContext,
) -> None:
    # "YES" to the newest page, the alert source resolves that incident, then a bare "RESOLVE": the older
    # incident, still burning and never acknowledged, stays open; the person is told what is open.
    _page_incident(paged, sms_stub, seed_item, lambda_context)
    sfn_stub.add_response("send_task_success", {}, expected_params={**SUCCESS_BY_FIRST, "taskToken": "token-456"})
    _expect_sms_about(
        sms_stub, "456", FIRST, "Incident 456 acknowledged. Thank you, it is yours. Also open for you: 123. Reply YES 123."
    )
    assert _reply(lambda_context, _inbound(inbound_payload, body="YES", message_id="in-1")) == ["acknowledged"]

    _expect_sms_about(sms_stub, "456", FIRST, "Incident 456 was resolved by alertmanager. No action needed.")
    assert resolve(dependencies(), "456", by="alertmanager", via="event-1", at="2026-03-01T10:05:00.000Z") == Outcome.RESOLVED

    _expect_sms_about(
        sms_stub,
        "456",
        FIRST,
        "Incident 456 is already resolved by alertmanager. Nothing done. Open for you: 123. Reply YES 123.",
    )
    assert _reply(lambda_context, _inbound(inbound_payload, body="RESOLVE", message_id="in-2")) == ["already_resolved"]
    assert paged.incident("123")["incident_stat"] == "not_acknowledged"
    sms_stub.assert_no_pending_responses()
    sfn_stub.assert_no_pending_responses()


# -- the by_contact index lags behind the page ------------------------------------------------------


@pytest.fixture
def lagging_index(aws: Aws) -> list[int]:
    """The by_contact index behind by two reads (DynamoDB updates an index a moment after the write; moto at once).

    The first two queries of the index leave out the newest page; the count of queries is returned for the test.
    """
    queries: list[int] = []
    client = dependencies().message_log._table.meta.client

    def lag(parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name != "Query":
            return
        queries.append(1)
        if len(queries) <= 2:
            items = parsed.get("Items", [])
            newest = max((item["sent_at"]["S"] for item in items), default=None)
            parsed["Items"] = [item for item in items if item["sent_at"]["S"] != newest]
            parsed["Count"] = len(parsed["Items"])

    client.meta.events.register("after-call.dynamodb.Query", lag)
    yield queries
    client.meta.events.unregister("after-call.dynamodb.Query", lag)


def test_a_bare_yes_sent_the_instant_a_second_page_arrives_takes_that_page_not_the_older_one(
    paged: Aws,
    sms_stub: Stubber,
    sfn_stub: Stubber,
    seed_item: dict[str, Any],
    inbound_payload: dict[str, Any],
    lambda_context: LambdaContext,
    lagging_index: list[int],
) -> None:
    _page_incident(paged, sms_stub, seed_item, lambda_context)  # 456 paged after 123: the newest page, not indexed yet
    lagging_index.clear()
    sfn_stub.add_response("send_task_success", {}, expected_params={**SUCCESS_BY_FIRST, "taskToken": "token-456"})
    _expect_sms_about(
        sms_stub, "456", FIRST, "Incident 456 acknowledged. Thank you, it is yours. Also open for you: 123. Reply YES 123."
    )
    assert _reply(lambda_context, _inbound(inbound_payload, body="YES")) == ["acknowledged"]
    assert paged.incident("456")["incident_stat"] == "acknowledged" and paged.incident("123")["incident_stat"] != "acknowledged"
    assert len(lagging_index) >= 3  # it read the index again until the newest page showed
