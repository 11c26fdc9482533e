"""Delivery receipts: End User Messaging's text events, classified, matched to the text we logged, recorded once.

Every send names the stack's configuration set, whose event destination publishes each text event to an SNS topic
(stacks/receipts.py); the receipts function (lambdas/delivery_receipts.py) hands each one to `apply`.

Classification (receipt_events.py): what each event type means for the text, and the event parsed.

Matching: a receipt names the message id SendTextMessage returned; the message log row of that id says which
incident, which pass of it (`execution`), which number and level, and what kind of text it was. A receipt is
recorded only on the incarnation that sent the text: the item's execution_arn, or one of its past_executions,
must be the row's execution, so a new incident written over the same id never gets the old one's receipts. A
batch text (several pages in one text, lambdas/page_contact.py) has a row per incident it listed, all with the
same `batch`: its receipt reaches every one of them. A row without an execution (a storm digest, a handoff
notice) is about no single pass: its receipt is logged and its cost counted, and no incident records it.

Once, in any order: delivery is at least once, so each event (message id and event type) is applied under a
once-only key. The row of each (text, incident) keeps how far the text got (`delivery_rank`), and an event is
recorded only when it moves that on, in one transaction with the incident's update: a pending event after a
delivered one, or a second final event, changes nothing. Late events (carriers' final events may come up to
72 hours after the send, after which the service reports TEXT_UNKNOWN) are recorded like any other, on a closed
incident too, as long as the message log still has the row (messageTtlDays).

Cost: totalMessagePrice + totalCarrierFee of a text's final receipt are added to the `cost` of the incident whose
row holds the real message id (a batch text is paid by the incident that sent it, so the sum over incidents is
what was spent), in one transaction with a `priced` mark on that row: each text is paid once. SmsCost (VoiceCost
for a call) is published then, whether or not an incident took the cost.

A timeline keeps at most RECEIPTS_KEPT receipt entries (the item must stay far below DynamoDB's item limit however
long an escalation runs); the rest are counted in `receipts_not_kept`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from escalation.incidents.status import Event
from escalation.incidents.timeline import timeline_entry
from escalation.platform.observability import (
    RECEIPTS_UNMATCHED,
    SMS_COST,
    SMS_DELIVERED,
    SMS_UNDELIVERED,
    VOICE_COST,
    count,
    logger,
    metrics,
)
from escalation.sms import test_pages
from escalation.sms.receipt_events import CAUSE, FAILED, RANK, Outcome, Receipt
from escalation.store.message_log import MessageLog
from escalation.store.once import OnceOnly
from escalation.store.receipt_book import ReceiptBook, Target, targets_of

CALL_KIND = "call"  # the message log's kind of a voice call (escalation.voice.calls)
CALL_KINDS = (CALL_KIND, test_pages.CALL_KIND)  # and of a test call (escalation.voice.test_calls)
MAX_DESCRIPTION = 100  # characters of the service's status description kept on an entry


def _delay_seconds(receipt: Receipt, target: Target) -> Decimal | None:
    """Seconds from the send to the event: from the service's own request time, else from when we logged the send."""
    start = receipt.requested_ms
    if start is None and target.sent_at:
        start = int(datetime.fromisoformat(target.sent_at.replace("Z", "+00:00")).timestamp() * 1000)
    if start is None:
        return None
    return (Decimal(max(0, receipt.event_ms - start)) / 1000).quantize(Decimal("0.001"))


def receipt_entry(receipt: Receipt, outcome: Outcome, target: Target) -> dict[str, Any]:
    """The timeline entry of a delivered (or carrier-accepted) or undelivered text."""
    common: dict[str, Any] = {"level": target.level, "phone": target.contact, "message_id": receipt.message_id,
                              "kind": target.kind}  # fmt: skip
    if target.kind == CALL_KIND:  # a voice receipt: answered or not (a call never ends a level)
        answered = outcome is Outcome.DELIVERED
        status = None if answered else receipt.event_type.removeprefix("VOICE_").lower()  # busy, no_answer, failed...
        event = Event.CALL_ANSWERED if answered else Event.CALL_UNANSWERED
        return timeline_entry(event, receipt.at, level=target.level, phone=target.contact, message_id=receipt.message_id,
                              status=status, delay_seconds=_delay_seconds(receipt, target))  # fmt: skip
    if outcome in (Outcome.DELIVERED, Outcome.ACCEPTED):
        return timeline_entry(
            Event.DELIVERED, receipt.at, **common, confirmed_by="handset" if outcome is Outcome.DELIVERED else "carrier",
            delay_seconds=_delay_seconds(receipt, target),
        )  # fmt: skip
    return timeline_entry(
        Event.UNDELIVERED, receipt.at, **common, status=receipt.status or receipt.event_type.removeprefix("TEXT_"),
        description=receipt.description[:MAX_DESCRIPTION] or None, cause=CAUSE[outcome],
    )  # fmt: skip


Undelivered = Callable[[Target, Receipt, Outcome], str]  # what a failed page does to its escalation


def _record(
    book: ReceiptBook, receipt: Receipt, outcome: Outcome, targets: list[Target], undelivered: Undelivered | None
) -> list[str]:
    """Record the event on each incident the text was about; what happened for each."""
    results = []
    for target in targets:
        if target.kind == test_pages.KIND and receipt.is_final:  # a test page: how it ended is the test's answer
            code = target.incident_id.removeprefix("test-")
            test_pages.record_delivery(book.messages_table, code, outcome=outcome.value, event_type=receipt.event_type,
                                       at=receipt.at)  # fmt: skip
            results.append("test_page")
            continue
        if target.kind == test_pages.CALL_KIND:  # a test call: answered, or how it was not (the first such event)
            code = target.incident_id.removeprefix("test-")
            test_pages.record_call(book.messages_table, code, outcome=outcome.value, event_type=receipt.event_type,
                                   at=receipt.at)  # fmt: skip
            results.append("test_call")
            continue
        if not target.execution:
            logger.info(
                "receipt of a text about no single pass of an incident (a digest, a handoff notice): on no timeline",
                extra={"message_id": receipt.message_id, "kind": target.kind, "event_type": receipt.event_type},
            )
            results.append("no_incident")
            continue
        entry = receipt_entry(receipt, outcome, target)
        result = book.record(target, rank=RANK[outcome], event_type=receipt.event_type, entry=entry)
        if result == "other_incarnation":
            logger.info(
                "receipt of a text of an earlier incident with this id: not recorded on the new one",
                extra={"incident_id": target.incident_id, "message_id": receipt.message_id},
            )
        calls = target.kind == CALL_KIND  # an unanswered call changes nothing: the text stands, the level goes on
        if result in ("recorded", "not_kept") and outcome in FAILED and undelivered is not None and not calls:
            moved = undelivered(target, receipt, outcome)
            logger.info("undelivered text acted on", extra={"incident_id": target.incident_id, "result": moved})
        results.append(result)
    if targets and targets[0].kind in CALL_KINDS:
        pass  # calls are not texts: the SMS delivery metrics do not count them
    elif outcome in (Outcome.DELIVERED, Outcome.ACCEPTED):
        count(SMS_DELIVERED)
    elif outcome in FAILED:
        count(SMS_UNDELIVERED)
    return results


def apply(
    receipt: Receipt, *, log: MessageLog, book: ReceiptBook, once: OnceOnly, undelivered: Undelivered | None = None
) -> dict[str, Any]:
    """Record one event on the incidents its text was about, once, and charge a final one's price; a summary.

    undelivered: called once per (text, incident) when a failure was recorded (escalation.paging.undelivered).
    """
    outcome = receipt.outcome
    summary: dict[str, Any] = {"message_id": receipt.message_id, "event_type": receipt.event_type}
    if outcome is None:
        logger.warning("receipt of an event type not classified: not recorded", extra=summary)
        return {**summary, "result": "unclassified"}
    row = log.get(receipt.message_id)
    if row is None:
        logger.warning("receipt for a message id the message log does not know: dropped", extra=summary)
        count(RECEIPTS_UNMATCHED)
        return {**summary, "result": "unknown_message"}
    targets = targets_of(log, row)
    results: list[str] = []
    if outcome is not Outcome.PENDING:  # nothing to record while it is on its way
        key = f"receipt#{receipt.message_id}#{receipt.event_type}"
        if not once.once(key, lambda: results.extend(_record(book, receipt, outcome, targets, undelivered))):
            results.append("duplicate")
    charged = None
    if receipt.is_final and receipt.price is not None:
        price = receipt.price

        def charge() -> None:
            nonlocal charged
            charged = book.charge(str(row["message_id"]), targets[0], price)
            if charged != "already":  # texts and calls count against different spend limits (lambdas/spend_check.py)
                cost_metric = VOICE_COST if targets[0].kind in CALL_KINDS else SMS_COST
                metrics.add_metric(name=cost_metric, unit=MetricUnit.NoUnit, value=float(price))

        once.once(f"receipt_cost#{receipt.message_id}", charge)
    logger.info("delivery receipt", extra={**summary, "outcome": outcome.value, "results": results, "charged": charged})
    return {**summary, "outcome": outcome.value, "results": results, "charged": charged}
