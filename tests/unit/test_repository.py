"""Repository helpers not already exercised through the handlers."""

from __future__ import annotations

from escalation.repository import MessageLog, is_open, paged_contacts
from tests.conftest import Aws

FIRST = "+447700900001"
SECOND = "+447700900002"


def test_paged_contacts_are_the_chain_up_to_the_current_level_once_each() -> None:
    chain = [FIRST, SECOND, FIRST, SECOND]  # REPEAT=1 walks the chain twice
    assert paged_contacts({"escalation_chain": chain, "escalation_level": 0}) == [FIRST]
    assert paged_contacts({"escalation_chain": chain, "escalation_level": 1}) == [FIRST, SECOND]
    assert paged_contacts({"escalation_chain": chain, "escalation_level": 3}) == [FIRST, SECOND]
    assert paged_contacts({}) == []


def test_paged_contacts_leave_out_numbers_a_page_could_not_reach() -> None:
    item = {"escalation_chain": [FIRST, SECOND], "escalation_level": 1, "unreachable": [FIRST]}
    assert paged_contacts(item) == [SECOND]


def test_only_not_acknowledged_and_escalation_are_open() -> None:
    assert is_open({"incident_stat": "not_acknowledged"})
    assert is_open({"incident_stat": "escalation"})
    for status in ("acknowledged", "unacknowledged", "invalid", None):
        assert not is_open({"incident_stat": status})


def test_latest_for_returns_a_contacts_messages_newest_first(aws: Aws) -> None:
    log = MessageLog(aws.messages, ttl_days=30)
    log.record("m-old", incident_id="1", contact=FIRST, level=0, kind="page", at="2026-01-01T00:00:00.000Z")
    log.record("m-new", incident_id="2", contact=FIRST, level=0, kind="page", at="2026-01-01T00:00:01.000Z")
    log.record("m-other", incident_id="3", contact=SECOND, level=0, kind="page", at="2026-01-01T00:00:02.000Z")
    assert [item["message_id"] for item in log.latest_for(FIRST)] == ["m-new", "m-old"]
    assert log.find("m-old")["incident_id"] == "1"  # type: ignore[index]
    assert log.find("missing") is None


def test_claim_once_is_true_only_the_first_time(aws: Aws) -> None:
    log = MessageLog(aws.messages, ttl_days=1)
    assert log.claim_once("help#123#+447700900001")
    assert not log.claim_once("help#123#+447700900001")
    assert log.claim_once("help#123#+447700900002")
