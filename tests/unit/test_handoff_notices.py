"""Handoff notices: which shifts are due at an instant (pure, any instant), and the scheduled run (moto, Stubber)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import handoff_notices
import pytest
from botocore.stub import Stubber

from escalation.oncall.definitions import Definitions, Override
from escalation.oncall.store import OncallStore, definitions_item
from escalation.paging.handoff import handoff_notice, notice_key, notices_due
from escalation.platform import wiring
from tests.conftest import REGION, Aws
from tests.unit.conftest import sms_request

ALICE, BOB = "+447700900001", "+447700900002"
HOUR = timedelta(hours=1)


def _definitions(participants: list[str]) -> Definitions:
    return Definitions.model_validate(
        {
            "people": {
                "alice": {"name": "Alice", "phone": ALICE, "zone": "Europe/London"},
                "bob": {"name": "Bob", "phone": BOB, "zone": "America/New_York"},
            },
            "rotations": {
                "primary": {
                    "layers": [
                        {
                            "participants": participants,
                            "shift": {"weeks": 1},
                            "handoff": "09:00",
                            "zone": "Europe/London",
                            "start": "2026-01-05",
                        }
                    ]
                }
            },
        }
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("now", "handoff_utc"),
    [
        (utc(2026, 3, 30, 7, 30), utc(2026, 3, 30, 8, 0)),  # the day after London springs forward: 09:00 BST
        (utc(2026, 10, 26, 8, 30), utc(2026, 10, 26, 9, 0)),  # the day after it falls back: 09:00 GMT
    ],
)
def test_the_shift_starting_within_the_lead_is_due_at_its_local_handoff_across_dst(now: datetime, handoff_utc: datetime) -> None:
    definitions = _definitions(["alice", "bob"])
    [(rotation, shift)] = notices_due(definitions, [], now, HOUR)
    # Twelve and forty-two weeks after the start: alice's turn again (alice, bob, alice, ...).
    assert (rotation, shift.start, shift.person.id if shift.person else None) == ("primary", handoff_utc, "alice")
    # An hour earlier than the lead allows, nothing is due yet; once the shift has started, nothing is due any more.
    assert notices_due(definitions, [], handoff_utc - HOUR - timedelta(minutes=1), HOUR) == []
    assert notices_due(definitions, [], handoff_utc, HOUR) == []


def test_the_notice_names_the_start_in_the_incoming_persons_zone() -> None:
    definitions = _definitions(["alice", "bob"])
    [(rotation, shift)] = notices_due(definitions, [], utc(2026, 4, 6, 7, 30), HOUR)  # bob's week, 09:00 BST
    sms = handoff_notice(rotation, shift)
    assert sms.body == "On call: you take over primary at 04:00 Mon 06 Apr (America/New_York). No reply needed."
    assert sms.segments == 1


def test_one_participant_has_no_handoffs_but_an_override_has_two() -> None:
    definitions = _definitions(["alice"])
    now = utc(2026, 3, 30, 7, 30)
    assert notices_due(definitions, [], now, HOUR) == []
    cover = Override.model_validate(
        {"rotation": "primary", "person": "bob", "from": now + timedelta(minutes=10), "to": now + timedelta(minutes=40),
         "created": now - HOUR}
    )  # fmt: skip
    due = notices_due(definitions, [cover], now, HOUR)
    assert [(shift.person.id if shift.person else None, shift.start) for _, shift in due] == [
        ("bob", now + timedelta(minutes=10)),
        ("alice", now + timedelta(minutes=40)),  # alice comes back: she is told too
    ]
    assert len({notice_key("primary", shift) for _, shift in due}) == 2


@pytest.fixture
def oncall(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> OncallStore:
    table = boto3.resource("dynamodb", region_name=REGION).create_table(
        TableName="Oncall",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    table.put_item(Item=definitions_item(_definitions(["alice"])))
    monkeypatch.setenv("ONCALL_TABLE", "Oncall")
    monkeypatch.setenv("HANDOFF_NOTICE_MINUTES", "60")
    wiring.reset()
    return OncallStore(table)


def test_a_run_texts_each_incoming_person_once_however_often_it_runs(
    aws: Aws, oncall: OncallStore, sms_stub: Stubber, lambda_context: Any
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    oncall.add_override(rotation="primary", person="bob", start=now + timedelta(minutes=10), end=now + 3 * HOUR)
    [(rotation, shift)] = notices_due(oncall.definitions(), oncall.overrides(), now, HOUR)
    body = handoff_notice(rotation, shift).body
    sms_stub.add_response("send_text_message", {"MessageId": "h-1"}, expected_params=sms_request(BOB, body, "handoff:primary"))
    assert handoff_notices.send_notices(now) == {"sent": 1, "already_sent": 0, "undeliverable": 0}
    # A later run before the shift starts (or a retried one) finds the notice sent: nothing more goes out.
    assert handoff_notices.send_notices(now + timedelta(minutes=5)) == {"sent": 0, "already_sent": 1, "undeliverable": 0}
    sms_stub.assert_no_pending_responses()
    assert aws.messages.get_item(Key={"message_id": "h-1"})["Item"]["kind"] == "handoff_notice"
