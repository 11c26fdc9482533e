"""Repository helpers not already exercised through the handlers."""

from __future__ import annotations

from typing import Any

from escalation.incidents.levels import paged_contacts
from escalation.incidents.status import is_open
from escalation.store.repository import IncidentRepository
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


def test_late_writes_of_a_replaced_incident_never_touch_the_fresh_item(paged: Aws, seed_item: dict[str, Any]) -> None:
    # The user writes the id again: a fresh item with no execution until the stream starts its own.
    paged.put_incident(seed_item)
    incidents = IncidentRepository(paged.incidents)
    entry = {"at": "2026-01-01T00:00:00.000Z", "event": "paged"}
    # Writes the old execution's page, or a reply to the old page, may still make.
    incidents.append("123", entry)
    incidents.record_sent("123", entry)
    incidents.mark_unreachable("123", FIRST, entry)
    incidents.mark_double_escalation("123", entries=[entry])
    incidents.record_escalation("123", level=1, entries=[entry])
    assert incidents.record_reply("123", entry, closed_cap=5) is False
    item = paged.incident("123")
    # Untouched: any of these would have reached the stream as a fresh MODIFY and paged the new incident twice.
    assert {key: {"S": value} for key, value in item.items()} == seed_item
