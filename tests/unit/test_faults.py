"""Our faults are never the contact's: they are shown and told to ops, never escalate; a retry redoes only what is missing."""

from __future__ import annotations

from typing import Any

import mark_unacknowledged
import page_contact
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.stub import ANY, Stubber

from escalation.platform import wiring
from escalation.sms.ceiling import HANDOFF_NOTICES_PER_PERSON_PER_DAY, SmsCeilingReached
from escalation.sms.client import SmsAccountFault, SmsThrottled
from escalation.sms.messages import Sms
from escalation.sms.send_rate import SLOT_KEY, SendRate
from tests.conftest import Aws
from tests.unit.conftest import CHAIN, EXECUTION_ARN, FIRST, SECOND, expect_sms, page_event

SPEND_LIMIT = "MONTHLY_SPEND_LIMIT_REACHED_FOR_TEXT"


def _spend_limit(sms_stub: Stubber) -> None:
    sms_stub.add_client_error(
        "send_text_message",
        service_error_code="ServiceQuotaExceededException",
        service_message="Monthly spend limit reached",
        http_status_code=402,
        modeled_fields={"Reason": SPEND_LIMIT},
    )


def test_a_spend_limit_never_marks_the_contact_unreachable_and_ops_hear_once(
    aws: Aws, sms_stub: Stubber, started_incident: dict[str, Any], lambda_context: LambdaContext
) -> None:
    for token in ("token-a", "token-b", "token-c"):  # the state machine retries the task with fresh tokens
        _spend_limit(sms_stub)
        with pytest.raises(SmsAccountFault, match=SPEND_LIMIT):
            page_contact.handler(page_event(level=0, token=token), lambda_context)

    item = aws.incident("123")
    assert "unreachable" not in item
    assert item["incident_stat"] == "not_acknowledged"  # still open, still the first contact's level
    assert item["escalation_level"] == 0
    assert SPEND_LIMIT in item["fault"]  # visible on the incident while it is retried
    assert [entry["event"] for entry in item["timeline"]] == ["created", "sms_fault"]  # once per level and attempt
    [envelope] = aws.ops_messages()
    assert "page not sent" in envelope["Subject"]
    assert SPEND_LIMIT in envelope["Message"]


def test_a_page_that_goes_out_after_a_fault_clears_the_fault(
    aws: Aws, sms_stub: Stubber, started_incident: dict[str, Any], lambda_context: LambdaContext
) -> None:
    _spend_limit(sms_stub)
    with pytest.raises(SmsAccountFault):
        page_contact.handler(page_event(level=0, token="token-a"), lambda_context)
    sms_stub.add_response("send_text_message", {"MessageId": "msg-1"})
    assert page_contact.handler(page_event(level=0, token="token-b"), lambda_context) == {
        "outcome": "page",
        "message_ids": ["msg-1"],
    }
    item = aws.incident("123")
    assert "fault" not in item
    assert [entry["event"] for entry in item["timeline"]] == ["created", "sms_fault", "paged"]


def _failed_event() -> dict[str, Any]:
    return {
        "outcome": "failed",
        "incident_id": "123",
        "contacts": CHAIN,
        "level": 0,
        "error": {"Error": "SmsAccountFault", "Cause": f"ServiceQuotaExceededException: {SPEND_LIMIT}"},
        "execution": EXECUTION_ARN,
    }


def test_a_fault_that_outlasts_its_retries_marks_the_incident_failed_and_tells_ops_once(
    paged: Aws, lambda_context: LambdaContext
) -> None:
    assert mark_unacknowledged.handler(_failed_event(), lambda_context) == {"outcome": "failed"}
    assert mark_unacknowledged.handler(_failed_event(), lambda_context) == {"outcome": "failed"}  # a retried task

    item = paged.incident("123")
    assert item["incident_stat"] == "failed"
    assert SPEND_LIMIT in item["error"]
    assert "task_token" not in item
    assert "unreachable" not in item
    assert [entry["event"] for entry in item["timeline"]][-1] == "failed"
    [envelope] = paged.ops_messages()  # told once, although the task ran twice
    assert envelope["Subject"] == "Incident 123: paging stopped"
    assert paged.sent_messages()[-1]["kind"] == "page"  # no contact got a text about our fault


def _exhausted_event() -> dict[str, Any]:
    return {"incident_id": "123", "contacts": CHAIN, "level": 1, "error": {"Error": "States.Timeout"}, "execution": EXECUTION_ARN}


def test_an_exhausted_chain_whose_task_is_retried_tells_ops_and_each_contact_once(
    escalated: Aws, sms_stub: Stubber, lambda_context: LambdaContext
) -> None:
    notice = "Incident 123 is UNACKNOWLEDGED: escalation stopped. Reply YES to take it."
    expect_sms(sms_stub, FIRST, notice, message_id="out-1")
    sms_stub.add_client_error("send_text_message", service_error_code="InternalServerException", http_status_code=500)
    # First run: ops told, the first notice sent, the second one fails on the service side: the task fails.
    with pytest.raises(SmsThrottled):
        mark_unacknowledged.handler(_exhausted_event(), lambda_context)
    # The state machine retries it: ops and the first contact are not told again; the second contact is.
    expect_sms(sms_stub, SECOND, notice, message_id="out-2")
    assert mark_unacknowledged.handler(_exhausted_event(), lambda_context) == {"outcome": "unacknowledged"}
    # And once more (the function timed out after sending, say): nothing is sent twice.
    assert mark_unacknowledged.handler(_exhausted_event(), lambda_context) == {"outcome": "unacknowledged"}
    assert len(escalated.ops_messages()) == 1
    notices = [message["contact"] for message in escalated.sent_messages() if message["kind"] == "exhausted_notice"]
    assert notices == [FIRST, SECOND]


def test_ops_are_told_before_any_contact(escalated: Aws, sms_stub: Stubber, lambda_context: LambdaContext) -> None:
    sms_stub.add_client_error("send_text_message", service_error_code="InternalServerException", http_status_code=500)
    sms_stub.add_client_error("send_text_message", service_error_code="InternalServerException", http_status_code=500)
    with pytest.raises(SmsThrottled):
        mark_unacknowledged.handler(_exhausted_event(), lambda_context)
    assert len(escalated.ops_messages()) == 1  # every text failed; ops still heard
    assert escalated.incident("123")["incident_stat"] == "unacknowledged"


def test_a_burst_queues_pages_for_send_slots_instead_of_provoking_throttling(
    aws: Aws, sms_stub: Stubber, sfn_stub: Stubber, started_incident: dict[str, Any], lambda_context: LambdaContext
) -> None:
    # Thirty texts were just reserved on a 1 part-per-second number: the next slot is 30 s away.
    SendRate(aws.messages, parts_per_second=1).reserve(30)
    sfn_stub.add_response("send_task_success", {}, expected_params={"taskToken": "token-0", "output": ANY})
    result = page_contact.handler(page_event(level=0, token="token-0"), lambda_context)
    assert result["outcome"] == "queued"
    assert 20 <= result["wait_seconds"] <= 30  # whatever this machine took since the reservation
    assert aws.sent_messages() == []  # nothing sent: the state machine waits, then pages with a fresh window

    # After the wait the task runs again and sends at once, without reserving another slot.
    slot_before = aws.messages.get_item(Key={"message_id": SLOT_KEY})["Item"]["next_at"]
    sms_stub.add_response("send_text_message", {"MessageId": "msg-1"})
    assert page_contact.handler(page_event(level=0, token="token-1"), lambda_context)["outcome"] == "page"
    assert aws.messages.get_item(Key={"message_id": SLOT_KEY})["Item"]["next_at"] == slot_before
    assert [entry["event"] for entry in aws.incident("123")["timeline"]] == ["created", "queued", "paged"]


def test_send_slots_are_spaced_by_the_parts_per_second(aws: Aws) -> None:
    rate = SendRate(aws.messages, parts_per_second=2)
    starts = [rate.reserve(parts, at_ms=1_000_000) for parts in (1, 1, 3, 1)]
    assert starts == [1_000_000, 1_000_500, 1_001_000, 1_002_500]
    assert rate.reserve(1, at_ms=2_000_000) == 2_000_000  # idle again: the next slot is now


def test_the_per_incident_ceiling_stops_a_runaway_page_loop_without_escalating(
    aws: Aws, sms_stub: Stubber, started_incident: dict[str, Any], lambda_context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_SMS_PER_INCIDENT", "2")
    wiring.reset()
    # A loop re-running one page sends it once (once-only key per level and attempt); one walking attempts hits the ceiling.
    for attempt, message_id in enumerate(("msg-1", "msg-2")):
        sms_stub.add_response("send_text_message", {"MessageId": message_id})
        page_contact.handler(page_event(level=0, attempt=attempt, token=message_id), lambda_context)
    page_contact.handler(page_event(level=0, attempt=1, token="again"), lambda_context)  # sent already: nothing new
    with pytest.raises(SmsCeilingReached, match="maxSmsPerIncident"):
        page_contact.handler(page_event(level=0, attempt=2, token="token-3"), lambda_context)
    item = aws.incident("123")
    assert "unreachable" not in item
    assert "maxSmsPerIncident" in item["fault"]
    assert len(aws.sent_messages()) == 2


def test_the_hourly_ceiling_spans_incidents(
    aws: Aws, sms_stub: Stubber, started_incident: dict[str, Any], lambda_context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_SMS_PER_HOUR", "1")
    wiring.reset()
    sms_stub.add_response("send_text_message", {"MessageId": "msg-1"})
    page_contact.handler(page_event(level=0, token="t1"), lambda_context)
    with pytest.raises(SmsCeilingReached, match="maxSmsPerHour"):
        wiring.dependencies().notifier.send(
            SECOND, Sms(body="x", segments=1, encoding="GSM-7"), incident_id="other", level=0, kind="page", ttl_seconds=60
        )


def test_a_lambda_errors_stack_trace_is_not_written_into_the_incident(paged: Aws, lambda_context: LambdaContext) -> None:
    cause = '{"errorMessage": "ThrottlingException: Rate exceeded", "errorType": "SmsThrottled", "stackTrace": ["  File x"]}'
    event = {**_failed_event(), "error": {"Error": "SmsThrottled", "Cause": cause}}
    assert mark_unacknowledged.handler(event, lambda_context) == {"outcome": "failed"}
    assert paged.incident("123")["error"] == "SmsThrottled: ThrottlingException: Rate exceeded"


def test_a_spend_limit_after_a_throttled_try_is_still_told_to_ops(
    aws: Aws, sms_stub: Stubber, started_incident: dict[str, Any], lambda_context: LambdaContext
) -> None:
    sms_stub.add_client_error("send_text_message", service_error_code="ThrottlingException", http_status_code=400)
    with pytest.raises(SmsThrottled):
        page_contact.handler(page_event(level=0, token="token-a"), lambda_context)
    assert aws.ops_messages() == []  # throttling alarms by metric
    _spend_limit(sms_stub)
    with pytest.raises(SmsAccountFault):
        page_contact.handler(page_event(level=0, token="token-b"), lambda_context)
    [envelope] = aws.ops_messages()
    assert SPEND_LIMIT in envelope["Message"]
    assert [entry["event"] for entry in aws.incident("123")["timeline"]] == ["created", "sms_fault", "sms_fault"]


def test_the_per_incident_ceiling_counts_one_incarnation_so_a_reused_id_starts_from_zero(
    aws: Aws, sms_stub: Stubber, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_SMS_PER_INCIDENT", "1")
    wiring.reset()
    notifier = wiring.dependencies().notifier
    text = Sms(body="x", segments=1, encoding="GSM-7")
    old, new = EXECUTION_ARN, EXECUTION_ARN.replace("incident-123", "incident-123-again")
    sms_stub.add_response("send_text_message", {"MessageId": "msg-1"})
    notifier.send(FIRST, text, incident_id="4821", level=0, kind="page", ttl_seconds=60, execution=old)
    with pytest.raises(SmsCeilingReached, match="maxSmsPerIncident"):  # the same incarnation: its ceiling holds
        notifier.send(SECOND, text, incident_id="4821", level=0, kind="page", ttl_seconds=60, execution=old)
    sms_stub.add_response("send_text_message", {"MessageId": "msg-2"})  # the id reused by a new incident: from zero
    notifier.send(FIRST, text, incident_id="4821", level=0, kind="page", ttl_seconds=60, execution=new)
    sms_stub.assert_no_pending_responses()


def test_handoff_notices_have_a_daily_ceiling_per_person_not_one_per_rotation(
    aws: Aws, sms_stub: Stubber, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_SMS_PER_INCIDENT", "1")  # a per-incident ceiling no longer applies to handoff notices
    wiring.reset()
    notifier = wiring.dependencies().notifier
    text = Sms(body="On call: you take over", segments=1, encoding="GSM-7")
    for index in range(HANDOFF_NOTICES_PER_PERSON_PER_DAY):
        sms_stub.add_response("send_text_message", {"MessageId": f"msg-{index}"})
        notifier.send(FIRST, text, incident_id="handoff:primary", level=0, kind="handoff_notice", ttl_seconds=60)
    with pytest.raises(SmsCeilingReached, match="handoff notices today"):
        notifier.send(FIRST, text, incident_id="handoff:primary", level=0, kind="handoff_notice", ttl_seconds=60)
    sms_stub.add_response("send_text_message", {"MessageId": "msg-second"})  # another person of the same rotation
    notifier.send(SECOND, text, incident_id="handoff:primary", level=0, kind="handoff_notice", ttl_seconds=60)
    sms_stub.assert_no_pending_responses()
