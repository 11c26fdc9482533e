"""Acknowledging or resolving the incident an alert opened, as the events API and heartbeats do."""

import json
from functools import partial
from typing import Any

from escalation.alerts.incidents import OPEN_FOR_DEDUP
from escalation.incidents.acknowledgement import complete_task, public_name
from escalation.incidents.resolve import contacts_paged, incident_key, resolve
from escalation.incidents.status import Event, Status
from escalation.incidents.timeline import timeline_entry
from escalation.platform.observability import INCIDENTS_ACKNOWLEDGED, count
from escalation.platform.wiring import Dependencies
from escalation.sms import messages


def _take(deps: Dependencies, incident_id: str, *, by: str, via: str, at: str) -> dict[str, Any] | None:
    """The acknowledging write, started or not: the item as it was, None when this request did not take it."""
    for _ in range(3):
        entry = timeline_entry(Event.ACKNOWLEDGED, at, by=by, via=via[:128])
        before = deps.incidents.acknowledge_by_reply(incident_id, by=by, at=at, via=via, entries=[entry])
        if before is not None:
            return before
        entry = timeline_entry(Event.ACKNOWLEDGED, at, by=by, via=via[:128], before_start=True)
        before = deps.incidents.close_before_start(
            incident_id, status=Status.ACKNOWLEDGED, by=by, at=at, via=via, entries=[entry]
        )
        if before is not None:
            return before
        current = deps.incidents.get(incident_id)
        if current is None or "execution_arn" not in current or current.get("incident_stat") not in OPEN_FOR_DEDUP:
            return None
        if current.get("incident_stat") == Status.ACKNOWLEDGED:
            return None  # someone has it
    return None


def acknowledge(deps: Dependencies, incident_id: str, *, by: str, via: str, at: str) -> str:
    """Acknowledge for an integration, by the rules a YES follows (repository.acknowledge_by_reply, the same once-only keys).

    Completes the parked task and tells everyone paged who took it; returns acknowledged, already_acknowledged or
    closed. An incident not started yet is taken where it stands and never paged. An acknowledge of an
    acknowledged incident, whatever its request id, finishes what the acknowledgement that took it still owes.
    """
    before = _take(deps, incident_id, by=by, via=via, at=at)
    outcome = "acknowledged"
    if before is None:
        item = deps.incidents.get(incident_id) or {}
        if item.get("incident_stat") != Status.ACKNOWLEDGED:
            return "closed"
        outcome = "acknowledged" if item.get("acknowledged_via") == via else "already_acknowledged"
        before, by = item, str(item.get("acknowledged_by", by))  # finish what the taking acknowledgement owes
    else:
        count(INCIDENTS_ACKNOWLEDGED)
    failures: list[Exception] = []
    key = incident_key(before)
    token = before.get("task_token")
    if token:
        output = json.dumps({"outcome": "acknowledged", "acknowledged_by": public_name(by)})
        try:
            sfn = deps.stepfunctions()
            deps.once.once(f"ack_task#{key}", partial(complete_task, sfn.send_task_success, taskToken=str(token), output=output))
            deps.incidents.forget_token(incident_id, str(token))
        except Exception as error:  # re-raised below; the retry completes it
            failures.append(error)
    notice = messages.acknowledged_notice(incident_id, by)
    execution = str(before.get("execution_arn", "")) or None
    for contact in contacts_paged(before):
        if contact == by:
            continue
        send = partial(
            deps.notifier.send_courtesy, contact, notice, incident_id=incident_id, kind="acknowledged_notice", execution=execution
        )
        try:
            deps.once.once(f"ack_notice#{key}#{contact}", send)
        except Exception as error:
            failures.append(error)
    if failures:
        raise failures[0]
    return outcome


def resolve_alert(deps: Dependencies, incident_id: str, *, by: str, via: str, at: str) -> str:
    """Resolve for an integration (escalation.incidents.resolve); returns what happened."""
    return str(resolve(deps, incident_id, by=by, via=via, at=at))
