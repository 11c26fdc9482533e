"""Resolving an incident: one function for every entry point (an SMS RESOLVE, the events API, an alarm's OK, the CLI).

`resolved` is final. Resolving stops the escalation at once: the parked task token is completed with
`{"outcome": "resolved"}`, which the state machine's "Queued for a send slot?" choice sends to "Incident
closed"; a page task that starts later finds the incident closed and ends its wait without paging
(page_contact parks its token only on an open incident). Everyone paged is told once.

Race safety. The state change is one conditional write that records who resolved (`resolved_by`) and
through what (`resolved_via`: an inbound message id, an API event id); it returns the item as it was just
before, so the token completed is the one parked at that instant. A retry of the same resolve (same `via`)
finds its own write and redoes only the side effects still owed (each has a once-only key); another
resolve of a resolved incident changes nothing. A YES racing a resolve: whichever write is second fails
its condition (an acknowledgement needs an open, exhausted or failed incident; a resolve accepts an
acknowledged one too), so the incident ends `resolved` either way, and a token completed by both is
completed once (the second gets a stale-token error, which counts as done).
"""

from collections.abc import Callable
from enum import StrEnum
from functools import partial
from typing import Any

from escalation.incidents.acknowledgement import complete_task
from escalation.incidents.levels import numbers_at, paged_contacts
from escalation.incidents.status import RESOLVABLE_STATUSES, Event, Status
from escalation.incidents.timeline import timeline_entry
from escalation.platform.observability import INCIDENTS_RESOLVED, count, logger
from escalation.platform.wiring import Dependencies
from escalation.replies.matching import reached_by_chain
from escalation.sms import messages
from escalation.sms.phone_numbers import is_e164, mask

RESOLVED_OUTPUT = '{"outcome": "resolved"}'


class Outcome(StrEnum):
    """What a resolve did."""

    RESOLVED = "resolved"  # resolved now (or by an earlier try of this same resolve)
    ALREADY_RESOLVED = "already_resolved"  # someone (or something) else resolved it before
    NOT_RESOLVABLE = "not_resolvable"  # invalid: nothing to stop
    NOT_FOUND = "not_found"


def incident_key(item: dict[str, Any]) -> str:
    """The incident id and its execution: a new incident written over an old id gets fresh once-only keys."""
    execution = str(item.get("execution_arn", "")).rsplit(":", 1)[-1]
    return f"{item['incident_id']}#{execution}"


def contacts_paged(item: dict[str, Any]) -> list[str]:
    """Everyone a page or reminder actually went to (the timeline says which levels), once each, minus unreachable numbers.

    An incident resolved before its first page went out (an alert cleared at once) tells nobody.
    """
    levels = {
        int(entry["level"])
        for entry in item.get("timeline", [])
        if entry.get("event") in (Event.PAGED, Event.REMINDED) and "level" in entry
    }
    reached = set(paged_contacts(item))
    numbers = [number for level in sorted(levels) for number in numbers_at(item, level)]  # a policy level: several
    return [number for number in dict.fromkeys(numbers) if number in reached]


def _send(deps: Dependencies, to: str, sms: messages.Sms, item: dict[str, Any], kind: str) -> Callable[[], object]:
    """A courtesy text about item for a once-only key: a number that can never get it counts as done; our faults raise."""
    incident_id, execution = str(item["incident_id"]), str(item.get("execution_arn", "")) or None
    return lambda: deps.notifier.send_courtesy(to, sms, incident_id=incident_id, kind=kind, execution=execution)


def _finish(deps: Dependencies, item: dict[str, Any], *, by: str) -> None:
    """Stop the escalation and tell everyone paged, each once; raises the first failure after trying them all."""
    incident_id = str(item["incident_id"])
    key = incident_key(item)
    failures: list[Exception] = []

    def once(once_key: str, action: Callable[[], object]) -> None:
        try:
            deps.once.once(once_key, action)
        except Exception as error:  # re-raised below, so the retry redoes it
            failures.append(error)

    token = item.get("task_token")
    if token:
        task_key = f"resolve_task#{key}"
        sfn = deps.stepfunctions()
        once(task_key, partial(complete_task, sfn.send_task_success, taskToken=str(token), output=RESOLVED_OUTPUT))
        if deps.once.done(task_key):
            deps.incidents.forget_token(incident_id, str(token))
    if is_e164(by) and reached_by_chain(item, by):
        confirmation = messages.resolved_confirmation(incident_id)
        once(f"resolved_confirmation#{key}#{by}", _send(deps, by, confirmation, item, "confirmation"))
    notice = messages.resolved_notice(incident_id, by)  # colleagues see who, as with an acknowledgement
    for contact in contacts_paged(item):
        if contact != by:
            once(f"resolved_notice#{key}#{contact}", _send(deps, contact, notice, item, "resolved_notice"))
    if failures:
        raise failures[0]


def _write(deps: Dependencies, incident_id: str, *, by: str, via: str, at: str) -> dict[str, Any] | None:
    """The resolving write, started or not: the item as it was, None when this request did not resolve it.

    An incident whose escalation has not started yet (an alert resolved 50 ms after it fired) is resolved
    where it stands and never paged; one starting at this very moment is caught by the second try.
    """
    shown = mask(by) if is_e164(by) else by
    for _ in range(3):
        entry = timeline_entry(Event.RESOLVED, at, by=shown, via=via[:128])
        before = deps.incidents.resolve(incident_id, by=by, at=at, via=via, entries=[entry])
        if before is not None:
            return before
        entry = timeline_entry(Event.RESOLVED, at, by=shown, via=via[:128], before_start=True)
        before = deps.incidents.close_before_start(incident_id, status=Status.RESOLVED, by=by, at=at, via=via, entries=[entry])
        if before is not None:
            return before
        current = deps.incidents.get(incident_id)
        if current is None or "execution_arn" not in current or current.get("incident_stat") not in RESOLVABLE_STATUSES:
            return None  # gone, invalid, or closed meanwhile; otherwise it started between the two writes: again
    return None


def resolve(deps: Dependencies, incident_id: str, *, by: str, via: str, at: str) -> Outcome:
    """Resolve an incident (by: a phone number or an integration's name; via: what carried the request, unique per request).

    Safe against a concurrent YES, a page in flight, a start in flight, and another resolve. A resolve of
    a resolved incident, whatever its request (a sender's retry after a timeout gets a new request id),
    finishes what the resolve that closed it still owes (its once-only keys make that safe) and changes
    nothing else.
    """
    before = _write(deps, incident_id, by=by, via=via, at=at)
    if before is not None:
        count(INCIDENTS_RESOLVED)
        logger.info("incident resolved", extra={"incident_id": incident_id, "status_before": before.get("incident_stat")})
        _finish(deps, before, by=by)
        return Outcome.RESOLVED
    current = deps.incidents.get(incident_id)
    if current is None:
        return Outcome.NOT_FOUND
    if current.get("incident_stat") != Status.RESOLVED:
        return Outcome.NOT_RESOLVABLE
    _finish(deps, current, by=str(current.get("resolved_by", by)))  # what the closing resolve still owes, if anything
    if current.get("resolved_via") == via and current.get("resolved_by") == by:
        return Outcome.RESOLVED  # a retry of this very resolve
    return Outcome.ALREADY_RESOLVED
