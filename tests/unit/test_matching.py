"""Which incidents a number can answer: those that paged it (page or reminder), newest first."""

from __future__ import annotations

from typing import Any

from escalation.replies.matching import Inbox, other_open_incident
from escalation.store.message_log import MessageLog
from escalation.store.repository import IncidentRepository
from tests.conftest import Aws

FIRST = "+447700900001"
SECOND = "+447700900002"


def _incident(
    aws: Aws, incident_id: str, *, stat: str = "not_acknowledged", chain: list[str] | None = None, level: int = 0
) -> None:
    item: dict[str, Any] = {
        "incident_id": incident_id,
        "incident_stat": stat,
        "escalation_chain": chain or [FIRST, SECOND],
        "escalation_level": level,
        "execution_arn": "arn:aws:states:eu-west-2:123456789012:execution:IncidentEscalation:x",
    }
    aws.incidents.put_item(Item=item)


def _repos(aws: Aws) -> tuple[IncidentRepository, MessageLog]:
    return IncidentRepository(aws.incidents), MessageLog(aws.messages, ttl_days=30)


def test_only_pages_and_reminders_count_newest_first(aws: Aws) -> None:
    incidents, log = _repos(aws)
    for incident_id in ("1", "2", "3"):
        _incident(aws, incident_id)
    log.record("m1", incident_id="1", contact=FIRST, level=0, kind="page", at="2026-01-01T00:00:01.000Z")
    log.record("m2", incident_id="2", contact=FIRST, level=0, kind="reminder", at="2026-01-01T00:00:02.000Z")
    log.record("m3", incident_id="3", contact=FIRST, level=0, kind="acknowledged_notice", at="2026-01-01T00:00:03.000Z")
    log.record("m4", incident_id="1", contact=FIRST, level=0, kind="reminder", at="2026-01-01T00:00:04.000Z")
    inbox = Inbox(incidents, log, FIRST)
    assert [item["incident_id"] for item in inbox.items] == ["1", "2"]  # a courtesy text never makes an incident yours
    assert inbox.open_ids() == ["1", "2"]
    assert inbox.current("in-1")["incident_id"] == "1"  # type: ignore[index]


def test_a_bare_keyword_acts_on_the_latest_page_only_never_an_older_open_one(aws: Aws) -> None:
    incidents, log = _repos(aws)
    _incident(aws, "old", stat="unacknowledged")
    _incident(aws, "new", stat="acknowledged")
    log.record("m1", incident_id="old", contact=FIRST, level=0, kind="page", at="2026-01-01T00:00:01.000Z")
    log.record("m2", incident_id="new", contact=FIRST, level=0, kind="page", at="2026-01-01T00:00:02.000Z")
    inbox = Inbox(incidents, log, FIRST)
    assert inbox.latest["incident_id"] == "new"  # type: ignore[index]
    assert inbox.current("in-1") is None  # "new" is taken: the YES does not fall through to "old"
    assert inbox.to_resolve("in-1")["incident_id"] == "new"  # type: ignore[index]  # acknowledged: still resolvable
    assert inbox.open_ids() == ["old"]  # what the answer lists
    log.record("m3", incident_id="old", contact=FIRST, level=0, kind="reminder", at="2026-01-01T00:00:03.000Z")
    assert Inbox(incidents, log, FIRST).current("in-1")["incident_id"] == "old"  # type: ignore[index]  # exhausted: takes YES


def test_a_bare_resolve_never_falls_through_to_an_older_incident(aws: Aws) -> None:
    incidents, log = _repos(aws)
    _incident(aws, "older", stat="not_acknowledged")
    _incident(aws, "newer", stat="resolved")
    log.record("m1", incident_id="older", contact=FIRST, level=0, kind="page", at="2026-01-01T00:00:01.000Z")
    log.record("m2", incident_id="newer", contact=FIRST, level=0, kind="page", at="2026-01-01T00:00:02.000Z")
    inbox = Inbox(incidents, log, FIRST)
    assert inbox.to_resolve("in-1") is None  # the source resolved "newer" first: "older" is not closed by mistake
    assert inbox.current("in-1") is None


def test_a_page_of_an_item_since_rewritten_does_not_count_before_the_new_chain_reaches_the_number(aws: Aws) -> None:
    incidents, log = _repos(aws)
    log.record("m1", incident_id="7", contact=SECOND, level=0, kind="page", at="2026-01-01T00:00:01.000Z")
    _incident(aws, "7", chain=[FIRST, SECOND], level=0)  # the same id, written again: SECOND not reached yet
    assert not Inbox(incidents, log, SECOND)
    _incident(aws, "7", chain=[FIRST, SECOND], level=1)
    assert Inbox(incidents, log, SECOND)


def test_named_ids_match_case_insensitively_but_an_exact_match_wins(aws: Aws) -> None:
    incidents, log = _repos(aws)
    for incident_id in ("INC-7", "inc-7", "8812"):
        _incident(aws, incident_id)
        log.record(
            f"m-{incident_id}",
            incident_id=incident_id,
            contact=FIRST,
            level=0,
            kind="page",
            at=f"2026-01-01T00:00:0{len(incident_id)}.000Z",
        )
    inbox = Inbox(incidents, log, FIRST)
    assert inbox.named("inc-7")["incident_id"] == "inc-7"  # type: ignore[index]
    assert inbox.named("INC-7")["incident_id"] == "INC-7"  # type: ignore[index]
    assert inbox.named("Inc-7") is None  # two case-insensitive matches: never a guess
    assert inbox.named("8812")["incident_id"] == "8812"  # type: ignore[index]
    assert inbox.named("881") is None


def test_a_page_asks_for_the_id_only_when_another_incident_is_open_for_the_contact(aws: Aws) -> None:
    incidents, log = _repos(aws)
    _incident(aws, "1")
    log.record("m1", incident_id="1", contact=FIRST, level=0, kind="page", at="2026-01-01T00:00:01.000Z")
    assert other_open_incident(incidents, log, FIRST, "2")
    assert not other_open_incident(incidents, log, FIRST, "1")
    assert not other_open_incident(incidents, log, SECOND, "2")
