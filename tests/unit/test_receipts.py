"""Delivery receipts: every text event type classified, each event recorded once, in any order, on the right incident."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import botocore.session
import delivery_receipts
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.stub import ANY, Stubber

from escalation.incidents.status import Event
from escalation.incidents.timeline import utc_now
from escalation.sms.receipt_events import EVENT_OUTCOMES, VOICE_OUTCOMES, Outcome, Receipt, classify, parse_receipt
from escalation.sms.receipts import MAX_DESCRIPTION, receipt_entry
from escalation.store.message_log import MessageLog
from escalation.store.receipt_book import RECEIPTS_KEPT, Target
from tests.conftest import Aws
from tests.unit.conftest import EXECUTION_ARN, FIRST
from tests.unit.events import sns_event
from tests.unit.test_escalation_pages_metric import _counts
from tests.unit.test_item_size import FAR_BELOW, ITEM_LIMIT, MESSAGE_ID, WIDE, item_size, largest_incident_item

PRICE = Decimal("0.00581")

# The classification, written out once more by hand: a change to the table must be a change to this test too.
EXPECTED = {
    "TEXT_DELIVERED": Outcome.DELIVERED,
    "TEXT_SUCCESSFUL": Outcome.ACCEPTED,
    "TEXT_QUEUED": Outcome.PENDING,
    "TEXT_PENDING": Outcome.PENDING,
    "TEXT_SENT": Outcome.PENDING,
    "TEXT_INVALID": Outcome.FAILED_CONTACT,
    "TEXT_UNREACHABLE": Outcome.FAILED_CONTACT,
    "TEXT_CARRIER_UNREACHABLE": Outcome.FAILED_CONTACT,
    "TEXT_BLOCKED": Outcome.FAILED_CONTACT,
    "TEXT_TTL_EXPIRED": Outcome.FAILED_CONTACT,
    "TEXT_INVALID_MESSAGE": Outcome.FAILED_OURS,
    "TEXT_CARRIER_BLOCKED": Outcome.FAILED_OURS,
    "TEXT_SPAM": Outcome.FAILED_OURS,
    "TEXT_PROTECT_BLOCKED": Outcome.FAILED_OURS,
    "TEXT_UNKNOWN": Outcome.UNKNOWN,
}


def text_event_types() -> set[str]:
    """Every text event type of the service model (EventType), but TEXT_ALL, which is a filter, not an event."""
    model = botocore.session.get_session().get_service_model("pinpoint-sms-voice-v2")
    names: list[str] = getattr(model.shape_for("EventType"), "enum", [])
    return {name for name in names if name.startswith("TEXT_")} - {"TEXT_ALL"}


@pytest.mark.parametrize("event_type", sorted(EXPECTED))
def test_each_text_event_type_is_classified(event_type: str) -> None:
    assert classify(event_type) is EXPECTED[event_type]


def test_the_table_lists_every_text_event_type_of_the_service_and_nothing_else() -> None:
    assert set(EVENT_OUTCOMES) == text_event_types() == set(EXPECTED)
    assert classify("TEXT_SOMETHING_NEW") is None and classify("VOICE_SOMETHING_NEW") is None
    assert classify("VOICE_COMPLETED") == VOICE_OUTCOMES["VOICE_COMPLETED"]  # calls have their own table


def event(
    message_id: str,
    event_type: str = "TEXT_DELIVERED",
    *,
    after: float = 3.2,
    final: bool | None = None,
    price: Decimal | None = PRICE,
    carrier_fee: Decimal | None = Decimal("0.0"),
    sent_ms: int | None = None,
    **extra: Any,
) -> str:
    """A text event as End User Messaging publishes it (fields as its documented example), `after` s after the send."""
    sent_ms = sent_ms if sent_ms is not None else int(time.time() * 1000)
    outcome = EXPECTED.get(event_type)
    body: dict[str, Any] = {
        "eventType": event_type,
        "eventVersion": "1.0",
        "eventTimestamp": sent_ms + int(after * 1000),
        "isFinal": final if final is not None else outcome is not Outcome.PENDING,
        "originationPhoneNumber": "+447700900999",
        "destinationPhoneNumber": FIRST,
        "isInternationalSend": False,
        "messageId": message_id,
        "messageRequestTimestamp": sent_ms,
        "messageEncoding": "GSM",
        "messageType": "TRANSACTIONAL",
        "messageStatus": event_type.removeprefix("TEXT_"),
        "messageStatusDescription": "Message has been accepted by phone carrier",
        "context": {"incident_id": "123"},
        "totalMessageParts": 1,
        **extra,
    }
    if price is not None:
        body["totalMessagePrice"] = float(price)  # written as a JSON number (the handler reads it back exactly)
    if carrier_fee is not None:
        body["totalCarrierFee"] = float(carrier_fee)
    return json.dumps(body)


def deliver(context: LambdaContext, *messages: str) -> list[dict[str, Any]]:
    """Each event through the handler, as SNS delivers it (one record per invocation)."""
    outcomes = []
    for message in messages:
        outcomes.extend(delivery_receipts.handler(sns_event(message), context)["outcomes"])
    return outcomes


def receipts_on(aws: Aws, incident_id: str = "123") -> list[dict[str, Any]]:
    return [
        entry for entry in aws.incident(incident_id).get("timeline", []) if entry["event"] in (Event.DELIVERED, Event.UNDELIVERED)
    ]


def test_a_delivered_page_is_on_the_timeline_with_its_delay_and_its_cost(paged: Aws, lambda_context: LambdaContext) -> None:
    (outcome,) = deliver(lambda_context, event("msg-1", after=3.2))
    assert outcome["results"] == ["recorded"] and outcome["charged"] == "charged"
    (entry,) = receipts_on(paged)
    assert entry == {
        "at": entry["at"], "event": "delivered", "level": 0, "phone": "+44********01", "message_id": "msg-1",
        "kind": "page", "confirmed_by": "handset", "delay_seconds": Decimal("3.2"),
    }  # fmt: skip
    item = paged.incident("123")
    assert item["cost"] == PRICE and item["receipt_entries"] == 1


def test_carrier_acceptance_counts_where_handsets_send_no_receipt(paged: Aws, lambda_context: LambdaContext) -> None:
    deliver(lambda_context, event("msg-1", "TEXT_SUCCESSFUL"))
    (entry,) = receipts_on(paged)
    assert entry["event"] == "delivered" and entry["confirmed_by"] == "carrier"


@pytest.mark.parametrize(
    ("event_type", "cause"),
    [("TEXT_BLOCKED", "contact"), ("TEXT_SPAM", "ours"), ("TEXT_PROTECT_BLOCKED", "ours"), ("TEXT_UNKNOWN", "unknown")],
)
def test_an_undelivered_text_is_on_the_timeline_with_status_description_and_cause(
    paged: Aws, lambda_context: LambdaContext, event_type: str, cause: str
) -> None:
    deliver(lambda_context, event("msg-1", event_type, messageStatusDescription="Destination is blocked"))
    (entry,) = receipts_on(paged)
    assert (entry["event"], entry["status"], entry["description"], entry["cause"]) == (
        "undelivered", event_type.removeprefix("TEXT_"), "Destination is blocked", cause,
    )  # fmt: skip
    assert paged.incident("123")["cost"] == PRICE  # a final receipt's price is paid whatever the outcome


@pytest.mark.parametrize("event_type", ["TEXT_UNREACHABLE", "TEXT_BLOCKED", "TEXT_TTL_EXPIRED"])
def test_a_page_that_will_not_arrive_ends_the_levels_wait_at_once_and_once(
    paged: Aws, sfn_stub: Stubber, lambda_context: LambdaContext, event_type: str
) -> None:
    failure = {"taskToken": "token-0", "error": "SmsFailed", "cause": ANY}
    sfn_stub.add_response("send_task_failure", {}, expected_params=failure)  # the state machine moves to the next level
    first, again = deliver(lambda_context, event("msg-1", event_type), event("msg-1", event_type))
    assert first["results"] == ["recorded"] and again["results"] == ["duplicate"]  # delivered twice: acted on once
    sfn_stub.assert_no_pending_responses()
    item = paged.incident("123")
    # The number is marked unreachable when the failure is the number's; a blocked or expired text is nobody's fault.
    assert (FIRST in item.get("unreachable", [])) is (event_type == "TEXT_UNREACHABLE")


def test_a_receipt_racing_a_yes_finds_the_wait_over(paged: Aws, sfn_stub: Stubber, lambda_context: LambdaContext) -> None:
    sfn_stub.add_client_error("send_task_failure", service_error_code="TaskTimedOut", http_status_code=400)
    (outcome,) = deliver(lambda_context, event("msg-1", "TEXT_UNREACHABLE"))
    assert outcome["results"] == ["recorded"]  # the YES completed the task first: nothing more to do, no error
    sfn_stub.assert_no_pending_responses()


def test_a_receipt_for_a_level_the_escalation_left_is_only_recorded(
    escalated: Aws, sfn_stub: Stubber, lambda_context: LambdaContext
) -> None:
    (outcome,) = deliver(lambda_context, event("msg-1", "TEXT_UNREACHABLE"))  # the first page; level 1 waits now
    assert outcome["results"] == ["recorded"]
    assert [entry["event"] for entry in receipts_on(escalated)] == [Event.UNDELIVERED]
    assert FIRST not in escalated.incident("123").get("unreachable", [])  # no SendTaskFailure either (no stub)


@pytest.mark.parametrize("event_type", ["TEXT_SPAM", "TEXT_CARRIER_BLOCKED", "TEXT_PROTECT_BLOCKED", "TEXT_INVALID_MESSAGE"])
def test_a_page_refused_for_a_fault_of_ours_tells_ops_once_and_never_walks_the_chain(
    paged: Aws, sfn_stub: Stubber, lambda_context: LambdaContext, event_type: str
) -> None:
    deliver(lambda_context, event("msg-1", event_type))
    deliver(lambda_context, event("msg-1", "TEXT_UNKNOWN", after=9))  # a later final event of the same page
    sfn_stub.assert_no_pending_responses()  # no task failure: the window still decides
    item = paged.incident("123")
    assert item["fault"].startswith(f"{event_type}: ") and FIRST not in item.get("unreachable", [])
    messages = paged.sqs.receive_message(QueueUrl=paged.ops_queue_url, MaxNumberOfMessages=10)["Messages"]
    (notice,) = [json.loads(message["Body"]) for message in messages]
    assert notice["Subject"] == "Incident 123: page not sent (fault on our side)" and event_type in notice["Message"]


def test_the_same_event_twice_is_recorded_and_paid_once(
    paged: Aws, lambda_context: LambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    message = event("msg-1")
    capsys.readouterr()
    first, second = deliver(lambda_context, message, message)
    assert first["results"] == ["recorded"] and second["results"] == ["duplicate"]
    assert len(receipts_on(paged)) == 1
    assert paged.incident("123")["cost"] == PRICE
    counts = _counts(capsys)
    assert counts["SmsCost"] == pytest.approx(float(PRICE)) and counts["SmsDelivered"] == 1


def test_a_late_pending_event_after_delivered_changes_nothing(paged: Aws, lambda_context: LambdaContext) -> None:
    deliver(lambda_context, event("msg-1", "TEXT_DELIVERED", after=2))
    before = paged.incident("123")
    outcomes = deliver(
        lambda_context,
        event("msg-1", "TEXT_PENDING", after=1, price=None, carrier_fee=None),
        event("msg-1", "TEXT_QUEUED", after=0.5, price=None, carrier_fee=None),
        event("msg-1", "TEXT_SUCCESSFUL", after=1.5),  # accepted is less than delivered: older news
    )
    assert [outcome["results"] for outcome in outcomes] == [[], [], ["not_newer"]]
    assert paged.incident("123") == before
    assert paged.messages.get_item(Key={"message_id": "msg-1"})["Item"]["delivery_event"] == "TEXT_DELIVERED"


def test_delivered_after_carrier_acceptance_adds_the_handsets_receipt(paged: Aws, lambda_context: LambdaContext) -> None:
    deliver(lambda_context, event("msg-1", "TEXT_SUCCESSFUL", after=1, final=False, price=None), event("msg-1", after=4))
    assert [entry["confirmed_by"] for entry in receipts_on(paged)] == ["carrier", "handset"]
    assert paged.incident("123")["cost"] == PRICE


def test_a_second_final_event_for_the_same_text_is_neither_recorded_nor_paid(paged: Aws, lambda_context: LambdaContext) -> None:
    deliver(lambda_context, event("msg-1", "TEXT_DELIVERED"), event("msg-1", "TEXT_UNKNOWN", after=72 * 3600))
    assert [entry["event"] for entry in receipts_on(paged)] == ["delivered"]
    assert paged.incident("123")["cost"] == PRICE


def test_a_receipt_71_hours_late_is_recorded_on_the_closed_incident(paged: Aws, lambda_context: LambdaContext) -> None:
    paged.incidents.update_item(
        Key={"incident_id": "123"}, UpdateExpression="SET incident_stat = :s", ExpressionAttributeValues={":s": "resolved"}
    )
    deliver(lambda_context, event("msg-1", "TEXT_DELIVERED", after=71 * 3600))
    (entry,) = receipts_on(paged)
    assert entry["delay_seconds"] == 71 * 3600
    assert paged.incident("123")["cost"] == PRICE


def test_a_receipt_for_a_message_id_nobody_logged_is_dropped(
    paged: Aws, lambda_context: LambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    before = paged.incident("123")
    capsys.readouterr()
    (outcome,) = deliver(lambda_context, event("not-ours"))
    assert outcome["result"] == "unknown_message"
    assert paged.incident("123") == before
    assert _counts(capsys)["ReceiptsUnmatched"] == 1


def test_a_malformed_event_is_rejected_naming_the_field(paged: Aws, lambda_context: LambdaContext) -> None:
    outcomes = deliver(lambda_context, "not json", json.dumps({"eventType": "TEXT_DELIVERED", "messageId": "msg-1"}))
    assert [outcome["result"] for outcome in outcomes] == ["rejected", "rejected"]
    assert "eventTimestamp" in outcomes[1]["error"]


def test_a_new_incident_written_over_the_id_never_gets_the_old_ones_receipts(paged: Aws, lambda_context: LambdaContext) -> None:
    new_execution = EXECUTION_ARN.replace("0000000000000000", "1111111111111111")
    paged.incidents.put_item(
        Item={"incident_id": "123", "incident_stat": "not_acknowledged", "execution_arn": new_execution, "timeline": []}
    )
    (outcome,) = deliver(lambda_context, event("msg-1"))
    assert outcome["results"] == ["other_incarnation"] and outcome["charged"] == "charged_no_incident"
    assert paged.incident("123") == {
        "incident_id": "123", "incident_stat": "not_acknowledged", "execution_arn": new_execution, "timeline": [],
    }  # fmt: skip


def test_a_new_item_not_started_yet_gets_nothing_either(paged: Aws, lambda_context: LambdaContext) -> None:
    paged.incidents.put_item(Item={"incident_id": "123", "incident_stat": "not_acknowledged"})
    deliver(lambda_context, event("msg-1"))
    assert paged.incident("123") == {"incident_id": "123", "incident_stat": "not_acknowledged"}


def test_a_receipt_of_an_earlier_pass_of_the_same_incident_is_recorded(paged: Aws, lambda_context: LambdaContext) -> None:
    paged.incidents.update_item(
        Key={"incident_id": "123"},
        UpdateExpression="SET execution_arn = :new, past_executions = :past",
        ExpressionAttributeValues={":new": EXECUTION_ARN + "-pass2", ":past": [EXECUTION_ARN]},
    )
    deliver(lambda_context, event("msg-1"))
    assert len(receipts_on(paged)) == 1 and paged.incident("123")["cost"] == PRICE


def _started(aws: Aws, incident_id: str, execution: str) -> None:
    aws.incidents.put_item(
        Item={"incident_id": incident_id, "incident_stat": "not_acknowledged", "execution_arn": execution, "timeline": []}
    )


def test_a_batch_texts_receipt_reaches_every_incident_it_listed_and_is_paid_by_the_sender(
    aws: Aws, lambda_context: LambdaContext
) -> None:
    log = MessageLog(aws.messages, 30)
    executions = {incident: f"{EXECUTION_ARN}-{incident}" for incident in ("401", "402", "403")}
    for incident, execution in executions.items():
        _started(aws, incident, execution)
    batch, at = f"{FIRST}#1767225600000", utc_now()
    for index, incident in enumerate(executions):  # as page_contact records a batch: one row per incident listed
        log.record(f"batch#{batch}#{index}", incident_id=incident, contact=FIRST, level=0, kind="page", at=at,
                   execution=executions[incident], batch=batch)  # fmt: skip
    log.record("msg-batch", incident_id="402", contact=FIRST, level=0, kind="page", at=utc_now(),
               execution=executions["402"], batch=batch)  # fmt: skip
    # another batch to the same number: not this text's
    log.record("msg-other", incident_id="403", contact=FIRST, level=0, kind="page", at=utc_now(),
               execution=executions["403"], batch=f"{FIRST}#1767225599000")  # fmt: skip
    (outcome,) = deliver(lambda_context, event("msg-batch"))
    assert outcome["results"] == ["recorded"] * 3
    for incident in executions:
        (entry,) = receipts_on(aws, incident)
        assert (entry["event"], entry["message_id"]) == ("delivered", "msg-batch"), incident
    assert {incident: aws.incident(incident).get("cost") for incident in executions} == {"401": None, "402": PRICE, "403": None}
    deliver(lambda_context, event("msg-batch"), event("msg-batch", "TEXT_PENDING", price=None))
    assert [len(receipts_on(aws, incident)) for incident in executions] == [1, 1, 1]


def test_cost_is_the_sum_of_each_texts_final_price_and_carrier_fee_once(paged: Aws, lambda_context: LambdaContext) -> None:
    log = MessageLog(paged.messages, 30)
    log.record("msg-2", incident_id="123", contact=FIRST, level=0, kind="acknowledged_notice", at=utc_now(),
               execution=EXECUTION_ARN)  # fmt: skip
    deliver(
        lambda_context,
        event("msg-1", "TEXT_PENDING", final=False, price=Decimal("0.00581")),  # not final: not paid yet
        event("msg-1", totalMessageParts=2, price=Decimal("0.01162")),
        event("msg-1", price=Decimal("0.01162")),
        event("msg-2", price=Decimal("0.00581"), carrier_fee=Decimal("0.0025")),
        event("msg-2", "TEXT_UNKNOWN", price=Decimal("0.00581"), carrier_fee=Decimal("0.0025")),
    )
    assert paged.incident("123")["cost"] == Decimal("0.01162") + Decimal("0.00581") + Decimal("0.0025")
    assert [entry["kind"] for entry in receipts_on(paged)] == ["page", "acknowledged_notice"]


def test_a_text_about_no_single_pass_is_paid_but_on_no_timeline(paged: Aws, lambda_context: LambdaContext) -> None:
    MessageLog(paged.messages, 30).record(
        "msg-digest", incident_id="123", contact=FIRST, level=0, kind="storm_digest", at=utc_now()
    )
    before = paged.incident("123")
    (outcome,) = deliver(lambda_context, event("msg-digest"))
    assert outcome["results"] == ["no_incident"] and outcome["charged"] == "charged_no_incident"
    assert paged.incident("123") == before
    assert paged.messages.get_item(Key={"message_id": "msg-digest"})["Item"]["priced"] == PRICE


def test_past_the_kept_receipts_a_timeline_only_counts_them(paged: Aws, lambda_context: LambdaContext) -> None:
    paged.incidents.update_item(
        Key={"incident_id": "123"}, UpdateExpression="SET receipt_entries = :n", ExpressionAttributeValues={":n": RECEIPTS_KEPT}
    )
    (outcome,) = deliver(lambda_context, event("msg-1"))
    assert outcome["results"] == ["not_kept"]
    assert receipts_on(paged) == [] and paged.incident("123")["receipts_not_kept"] == 1
    assert paged.incident("123")["cost"] == PRICE


def test_the_largest_item_with_every_kept_receipt_stays_far_below_the_item_limit() -> None:
    receipt = Receipt("TEXT_CARRIER_UNREACHABLE", MESSAGE_ID, 1767225600000, True, status="CARRIER_UNREACHABLE",
                      description=WIDE * 1000)  # fmt: skip
    target = Target(MESSAGE_ID, "i", "e", 39, "+999999999999999", "acknowledged_notice", "2026-01-01T00:00:00.000Z")
    entry = receipt_entry(receipt, Outcome.FAILED_CONTACT, target)
    assert len(entry["description"]) == MAX_DESCRIPTION
    item = largest_incident_item()
    item["timeline"] += [entry] * RECEIPTS_KEPT
    item.update(receipt_entries=RECEIPTS_KEPT, receipts_not_kept=10_000, cost=Decimal("12345.678901"))
    # Without receipts the largest item leaves three quarters of the limit free (test_item_size.py); the receipts a
    # timeline keeps, each at its largest, take under 8% more, and the item stays under a third of the limit.
    assert item_size(item) - item_size(largest_incident_item()) < ITEM_LIMIT * 0.08
    assert item_size(item) < FAR_BELOW + ITEM_LIMIT * 0.08 < ITEM_LIMIT / 3


def test_an_event_without_prices_has_no_price_and_an_unlisted_type_is_not_recorded(
    paged: Aws, lambda_context: LambdaContext
) -> None:
    assert parse_receipt(event("m", price=None, carrier_fee=None)).price is None
    assert parse_receipt(event("m", carrier_fee=Decimal("0.001"))).price == Decimal("0.00681")
    (outcome,) = deliver(lambda_context, event("msg-1", "TEXT_SOMETHING_NEW"))
    assert outcome["result"] == "unclassified" and receipts_on(paged) == []
