"""The acknowledgement rules a YES and the CLI share: one wins a race, a retry finishes its own job."""

from __future__ import annotations

from typing import Any

from escalation.incidents.acknowledgement import public_name, take
from escalation.store.repository import IncidentRepository
from tests.conftest import Aws
from tests.unit.conftest import FIRST


def test_of_two_racing_acknowledgements_one_wins_and_the_other_sees_who(aws: Aws, started_incident: dict[str, Any]) -> None:
    repository = IncidentRepository(aws.incidents)
    stale = repository.get("123")  # both read the item while it was open
    assert stale is not None
    won = take(repository, stale, by="cli:dana", via="cli:dana", at="2026-01-01T00:01:00.000Z")
    lost = take(repository, stale, by=FIRST, via="inbound-1", at="2026-01-01T00:01:00.001Z")
    assert won is not None and won.now and lost is None
    item = aws.incident("123")
    assert item["acknowledged_by"] == "cli:dana"
    assert [entry["event"] for entry in item["timeline"]].count("acknowledged") == 1


def test_a_retry_of_the_winning_request_is_its_own_not_a_conflict(aws: Aws, started_incident: dict[str, Any]) -> None:
    repository = IncidentRepository(aws.incidents)
    stale = repository.get("123")
    assert stale is not None
    assert take(repository, stale, by=FIRST, via="inbound-1", at="2026-01-01T00:01:00.000Z") is not None
    again = take(repository, stale, by=FIRST, via="inbound-1", at="2026-01-01T00:02:00.000Z")
    assert again is not None and not again.now and again.item["acknowledged_at"] == "2026-01-01T00:01:00.000Z"
    assert take(repository, stale, by=FIRST, via="inbound-2", at="2026-01-01T00:02:00.000Z") is None  # another message


def test_an_item_never_started_cannot_be_taken(aws: Aws, seed_item: dict[str, Any]) -> None:
    aws.put_incident(seed_item)
    repository = IncidentRepository(aws.incidents)
    item = repository.get("123")
    assert item is not None
    assert take(repository, item, by="cli:dana", via="cli:dana", at="2026-01-01T00:01:00.000Z") is None
    assert aws.incident("123")["incident_stat"] == "not_acknowledged"


def test_public_name_masks_numbers_only() -> None:
    assert public_name(FIRST) == "+44********01"
    assert public_name("cli:dana") == "cli:dana"
