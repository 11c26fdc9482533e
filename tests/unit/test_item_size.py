"""The incident item stays far below DynamoDB's 400 KB item limit, however long its escalation runs.

The item only holds the current incident (an earlier one with the same id goes to the history table), so
its size is bounded by the longest escalation synth allows: 10 contacts, 3 extra passes, 5 reminders,
each page a timeline entry, plus what every level adds (why it ended, the escalation, an undeliverable
page). The largest item is built with the handlers' own timeline code from the largest value each field
can take, each level ending in its heaviest way, and measured with DynamoDB's size rules.
Replies are left out: how many are kept is bounded elsewhere.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer

from escalation.incidents.item import MAX_CONTACTS, MAX_DESCRIPTION_LENGTH, MAX_INCIDENT_ID_LENGTH, MAX_URL_LENGTH, parse_incident
from escalation.incidents.status import Event, Status
from escalation.incidents.timeline import level_outcome, timeline_entry
from stacks.config import load_config
from stacks.config_errors import ConfigError
from tests.conftest import Aws

MAX_REPEAT = 3
MAX_REMINDERS = 5
ITEM_LIMIT = 400 * 1024
FAR_BELOW = ITEM_LIMIT // 4  # the largest item must leave three quarters of the limit unused

WIDE = "\U0001f6a8"  # 4 bytes in UTF-8: the most a character of a string attribute can weigh
AT = "2026-01-01T00:00:00.000Z"
LONGEST_E164 = "+999999999999999"  # 15 digits
# Values the app does not bound itself, at generous ceilings: Step Functions caps task tokens at 2048
# characters and error names at 256, End User Messaging message ids are UUID-sized, and an SMS
# provider's failure reason is a sentence (1024 allows a paragraph).
TASK_TOKEN = "t" * 2048
MESSAGE_ID = "m" * 64
ERROR_NAME = "E" * 256
PROVIDER_REASON = "r" * 1024
EXECUTION_ARN = "arn:aws:states:eu-west-2:123456789012:execution:" + "s" * 80 + ":" + "n" * 80


def attribute_size(value: dict[str, Any]) -> int:
    """The size DynamoDB counts for one attribute value (DynamoDB JSON), rounding every estimate up."""
    ((kind, content),) = value.items()
    if kind == "S":
        return len(content.encode())
    if kind == "N":
        digits = content.lstrip("-").replace(".", "").strip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(content)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + attribute_size(element) for element in content)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + attribute_size(element) for name, element in content.items())
    raise AssertionError(f"unexpected attribute type {kind}")


def item_size(item: dict[str, Any]) -> int:
    """The size of an item (plain Python values, as the handlers write them): names plus values."""
    serializer = TypeSerializer()
    return sum(len(name.encode()) + attribute_size(serializer.serialize(value)) for name, value in item.items())


def test_the_size_limits_assumed_here_are_the_ones_synth_enforces() -> None:
    load_config({"repeat": MAX_REPEAT, "reminders": MAX_REMINDERS})
    for key, value in (("repeat", MAX_REPEAT + 1), ("reminders", MAX_REMINDERS + 1)):
        with pytest.raises(ConfigError, match=key):
            load_config({key: value})


def test_item_size_follows_dynamodbs_rules() -> None:
    assert item_size({"id": "abc"}) == 2 + 3
    assert item_size({"n": Decimal("12345")}) == 1 + 4
    assert item_size({"l": ["ab", "c"]}) == 1 + 3 + (1 + 2) + (1 + 1)
    assert item_size({"m": {"k": "v"}}) == 1 + 3 + (1 + 1 + 1)
    assert item_size({"e": WIDE}) == 1 + 4


def largest_user_item() -> dict[str, Any]:
    """The largest item a user can write that the start handler still accepts (DynamoDB JSON)."""
    contacts = [f"+{index}{'9' * (15 - len(str(index)))}" for index in range(1, MAX_CONTACTS + 1)]  # 15 digits each
    return {
        "incident_id": {"S": WIDE * MAX_INCIDENT_ID_LENGTH},
        "incident_stat": {"S": Status.NOT_ACKNOWLEDGED.value},
        "double_escalation": {"S": "no"},
        "description": {"S": WIDE * MAX_DESCRIPTION_LENGTH},
        "url": {"S": "https://" + WIDE * (MAX_URL_LENGTH - len("https://"))},
        "first_contact": {"S": LONGEST_E164},
        "second_contact": {"S": "+899999999999999"},
        "contacts": {"L": [{"S": number} for number in contacts]},
    }


def largest_level(level: int, chain: list[str]) -> list[dict[str, Any]]:
    """The most one level can add to the timeline: its pages, why it ended (largest reason), the escalation to it.

    A level's attempts are its page and its reminders; it ends when the last one goes unanswered, or at
    the first attempt that fails: an undeliverable page (page_contact records the provider's reason) or an
    unexpected error (recorded by the next level, cause capped). Whichever weighs more is taken.
    """
    contact = chain[level]
    sent = [timeline_entry(Event.PAGED, AT, level=level, phone=contact, message_id=MESSAGE_ID, segments=10)]
    sent += [
        timeline_entry(Event.REMINDED, AT, level=level, phone=contact, message_id=MESSAGE_ID, segments=10)
        for _ in range(MAX_REMINDERS)
    ]
    failures = [
        timeline_entry(Event.SMS_FAILED, AT, level=level, phone=contact, error=PROVIDER_REASON),
        *level_outcome({"level": level, "contacts": chain, "error": {"Error": ERROR_NAME, "Cause": "c" * 32_000}}, AT),
    ]
    silence = level_outcome({"level": level, "contacts": chain, "error": {"Error": "States.Timeout"}}, AT)
    endings = [[*sent, *silence], [*sent[:-1], max(failures, key=lambda entry: item_size({"e": entry}))]]
    escalation = [timeline_entry(Event.ESCALATED, AT, level=level, phone=contact)] if level > 0 else []
    return escalation + max(endings, key=lambda entries: item_size({"e": entries}))


def largest_incident_item() -> dict[str, Any]:
    """The user's largest item after the longest possible escalation, every level at its largest."""
    user = largest_user_item()
    incident = parse_incident(user)  # the start handler would page it
    chain = list(incident.contacts) * (MAX_REPEAT + 1)
    levels = len(chain)
    timeline = [timeline_entry(Event.CREATED, AT, contacts=levels)]
    for level in range(levels):
        timeline += largest_level(level, chain)
    timeline += [
        timeline_entry(Event.EXHAUSTED, AT, level=levels - 1),
        # a YES after the chain was exhausted
        timeline_entry(Event.REPLY, AT, level=levels - 1, phone=chain[-1], intent="acknowledge"),
        timeline_entry(Event.ACKNOWLEDGED, AT, level=levels - 1, phone=chain[-1]),
    ]
    assert levels == 40
    assert len(timeline) <= 1 + levels * (1 + MAX_REMINDERS + 1) + (levels - 1) + 3
    plain = {name: next(iter(value.values())) for name, value in user.items() if name != "contacts"}
    return {
        **plain,
        "contacts": list(incident.contacts),
        "incident_stat": Status.ACKNOWLEDGED.value,
        "escalation_chain": chain,
        "escalation_level": levels - 1,
        "escalated_to": levels - 1,
        "current_contact": chain[-1],
        "execution_arn": EXECUTION_ARN,
        "task_token": TASK_TOKEN,  # removed when the incident closes; kept here to count it
        "stat_date": AT,
        "acknowledged_by": chain[-1],
        "acknowledged_at": AT,
        "unreachable": chain,  # every level undeliverable
        "timeline": timeline,
    }


def test_the_largest_possible_incident_item_stays_far_below_the_400_kb_limit(aws: Aws) -> None:
    item = largest_incident_item()
    size = item_size(item)
    timeline = item_size({"timeline": item["timeline"]})

    assert size < FAR_BELOW, f"{size} bytes"
    assert timeline < size
    # DynamoDB takes it (moto checks the same limit); the write, not the estimate, is what could fail.
    aws.incidents.put_item(Item=item)
    assert aws.incident(item["incident_id"])["timeline"] == item["timeline"]
