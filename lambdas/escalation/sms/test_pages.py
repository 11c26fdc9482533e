"""Test pages: a text that proves the whole path works, out to a phone and back, before an incident needs it.

A broken two-way setup (the number's inbound channel pointing nowhere, an opt-out, a carrier that blocks us)
loses every YES silently; only a real round trip shows it. `incidents test-page` asks the operator function to
send one text to a person or number ("Test page 482193: reply TEST 482193 ..."), then watches its item:

    test#<code>   number, message_id, sent_at, by, request_id; delivery, delivery_event, delivered_at (from its
                  receipts); replied_at, reply_id (from the reply handler); expires_at (a day); with a test call
                  (--voice, escalation.voice.test_calls): call_message_id, called_at, then call_delivery,
                  call_event, call_ended_at from its voice receipts, or call_not_placed (why not)

The code is six digits derived from the CLI's request id, so a retried request finds its own test and sends
nothing more. A receipt for the text (escalation.sms.receipts) records how its delivery ended, once; a reply
`TEST <code>` from the number it was sent to records the round trip and is confirmed. A reply naming a code
that was not sent to that number changes nothing and says so. None of this touches an incident.
"""

import hashlib
import time
from typing import Any

from botocore.exceptions import ClientError

from escalation.incidents.timeline import utc_now
from escalation.platform.observability import logger
from escalation.platform.wiring import Dependencies
from escalation.sms.messages import test_page
from escalation.sms.phone_numbers import is_e164, mask, outside_countries
from escalation.store.incident_table import is_conditional_failure

PREFIX = "test#"
KIND = "test_page"
CALL_KIND = "test_call"  # the message log's kind of a test call (escalation.voice.test_calls)
TTL_SECONDS = 600  # a test text is moot after ten minutes
KEEP_SECONDS = 86_400
CODE_DIGITS = 6


class TestPageRefused(ValueError):
    """The number cannot be test-paged; the message says why."""


def code_for(request_id: str) -> str:
    """The test's code: six digits from the request id (the same on the CLI's retries)."""
    return str(int(hashlib.sha256(request_id.encode()).hexdigest(), 16) % 10**CODE_DIGITS).zfill(CODE_DIGITS)


def incident_key(code: str) -> str:
    """What the message log and the SMS ceiling see as the text's incident: a test, never a real one."""
    return f"test-{code}"


def send_test_page(deps: Dependencies, number: str, *, by: str, request_id: str) -> dict[str, Any]:
    """Send the test text once per request id; {code, message_id, sent_at, number (masked)}."""
    if not is_e164(number):
        raise TestPageRefused(f"number: must be an E.164 number such as +447700900001, got {number!r}")
    if outside_countries(number, deps.settings.allowed_calling_codes):
        raise TestPageRefused(f"number: {mask(number)} is outside the countries this deployment may text")
    code = code_for(request_id)
    key = {"message_id": PREFIX + code}
    existing = deps.once.table.get_item(Key=key, ConsistentRead=True).get("Item")
    if existing is not None and existing.get("request_id") == request_id:
        return _public(existing)  # a retry of the same request: already sent
    try:
        deps.once.table.put_item(
            Item={**key, "number": number, "by": by, "request_id": request_id, "expires_at": int(time.time()) + KEEP_SECONDS},
            ConditionExpression="attribute_not_exists(message_id)",
        )
    except ClientError as error:
        if is_conditional_failure(error):
            raise TestPageRefused("another test page holds this code right now: run the command again") from None
        raise
    message_id = deps.notifier.send(
        number, test_page(code), incident_id=incident_key(code), level=0, kind=KIND, ttl_seconds=TTL_SECONDS
    )
    item = deps.once.table.update_item(
        Key=key,
        UpdateExpression="SET message_id_sent = :id, sent_at = :at",
        ExpressionAttributeValues={":id": message_id, ":at": utc_now()},
        ReturnValues="ALL_NEW",
    )["Attributes"]
    logger.info("test page sent", extra={"to": mask(number), "code": code})
    return _public(item)


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "code": str(item["message_id"]).removeprefix(PREFIX),
        "message_id": item.get("message_id_sent"),
        "sent_at": item.get("sent_at"),
        "to": mask(str(item["number"])),
    }


def _set(table: Any, code: str, values: dict[str, str], *, unless: str | None = None) -> None:
    """Set values on the test's item; with unless, only while that field is not set yet (the first event counts)."""
    condition = "attribute_exists(message_id)" + (" AND attribute_not_exists(#unless)" if unless else "")
    names = {f"#f{index}": field for index, field in enumerate(values)}
    try:
        table.update_item(
            Key={"message_id": PREFIX + code},
            UpdateExpression="SET " + ", ".join(f"#f{index} = :v{index}" for index in range(len(values))),
            ConditionExpression=condition,
            ExpressionAttributeNames={**names, **({"#unless": unless} if unless else {})},
            ExpressionAttributeValues={f":v{index}": value for index, value in enumerate(values.values())},
        )
    except ClientError as error:
        if not is_conditional_failure(error):
            raise  # else an earlier event recorded how it ended (or the test is gone): nothing to add


def record_delivery(table: Any, code: str, *, outcome: str, event_type: str, at: str) -> None:
    """A final receipt for the test text: how its delivery ended (the first final one counts)."""
    _set(table, code, {"delivery": outcome, "delivery_event": event_type, "delivered_at": at}, unless="delivery")


def record_call_placed(table: Any, code: str, *, message_id: str, at: str) -> None:
    """The test call went out (escalation.voice.test_calls)."""
    _set(table, code, {"call_message_id": message_id, "called_at": at})


def record_call_not_placed(table: Any, code: str, reason: str) -> None:
    """The test call could not be made, and why (the text stands)."""
    _set(table, code, {"call_not_placed": reason})


def record_call(table: Any, code: str, *, outcome: str, event_type: str, at: str) -> None:
    """A voice receipt for the test call that says how it went (answered, or not): the first such one counts."""
    _set(table, code, {"call_delivery": outcome, "call_event": event_type, "call_ended_at": at}, unless="call_delivery")


def record_reply(table: Any, code: str, sender: str, inbound_id: str) -> bool:
    """A reply `TEST <code>`: True when the test was sent to sender (the round trip is recorded once)."""
    item = table.get_item(Key={"message_id": PREFIX + code}, ConsistentRead=True).get("Item")
    if item is None or item.get("number") != sender:
        return False
    try:
        table.update_item(
            Key={"message_id": PREFIX + code},
            UpdateExpression="SET replied_at = :at, reply_id = :id",
            ConditionExpression="attribute_not_exists(replied_at)",
            ExpressionAttributeValues={":at": utc_now(), ":id": inbound_id},
        )
    except ClientError as error:
        if not is_conditional_failure(error):
            raise  # else an earlier reply recorded it already
    return True


def status(table: Any, code: str) -> dict[str, Any] | None:
    """What became of a test page: sent, how its delivery ended, when the reply came (None: no such test)."""
    item = table.get_item(Key={"message_id": PREFIX + code}, ConsistentRead=True).get("Item")
    if item is None:
        return None
    fields = ("delivery", "delivery_event", "delivered_at", "replied_at", "called_at", "call_delivery", "call_event",
              "call_ended_at", "call_not_placed")  # fmt: skip
    return {**_public(item), **{field: item[field] for field in fields if field in item}}
