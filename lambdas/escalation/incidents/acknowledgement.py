"""Acknowledging an incident: the rules a YES by SMS and the incidents CLI share.

- An incident can be taken while a YES can still take it (matching.OPEN_FOR_REPLY: being escalated,
  exhausted with nobody on it, or stopped by a fault of ours) and only once its escalation has
  started. The write is conditional (IncidentRepository.acknowledge_by_reply), so when two people
  race exactly one wins; the loser reads the item back to say who has it.
- Each acknowledgement names who (``by``: a phone number, or ``cli:<name>``) and the request that
  made it (``via``: the inbound message id, or the CLI's ``cli:<name>``), so a retry of the same
  request knows the incident is its own and finishes the job instead of reporting a conflict.
- The winner completes the parked task token so the escalation stops, then drops the token. A
  token the workflow no longer waits on (timed out, answered) is done as well: nothing to stop.
"""

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from escalation.incidents.status import Event, Status
from escalation.incidents.timeline import timeline_entry
from escalation.replies.matching import acted_on_by, open_for_reply
from escalation.sms.phone_numbers import is_e164, mask
from escalation.store.repository import IncidentRepository

# A token that timed out or was already answered: the workflow has moved on, nothing to complete.
STALE_TOKEN_CODES = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})


@dataclass(frozen=True)
class Taken:
    """An incident this request holds: the item as it now stands, and whether this call made the change."""

    item: dict[str, Any]
    now: bool


def public_name(by: str) -> str:
    """Who acknowledged, as logs and the workflow's output show it: phone numbers masked, CLI users by name."""
    return mask(by) if is_e164(by) else by


def acknowledged_entry(by: str, at: str, level: int) -> dict[str, Any]:
    """The timeline entry of an acknowledgement: a phone number masked, a CLI user by name."""
    if is_e164(by):
        return timeline_entry(Event.ACKNOWLEDGED, at, level=level, phone=by)
    return timeline_entry(Event.ACKNOWLEDGED, at, level=level, by=by)


def take(incidents: IncidentRepository, item: Mapping[str, Any], *, by: str, via: str, at: str) -> Taken | None:
    """Acknowledge item as ``by`` for the request ``via``; None when someone else has it or it cannot be taken."""
    incident_id = str(item["incident_id"])
    current = dict(item)
    if open_for_reply(current):
        entry = acknowledged_entry(by, at, int(current.get("escalation_level", 0)))
        before = incidents.acknowledge_by_reply(incident_id, by=by, at=at, via=via, entries=[entry])
        if before is not None:
            taken = {**before, "incident_stat": Status.ACKNOWLEDGED.value, "acknowledged_by": by, "acknowledged_via": via}
            return Taken(item=taken | {"acknowledged_at": at}, now=True)
        current = incidents.get(incident_id) or current  # lost a race (or not started yet): read what happened
    return Taken(item=current, now=False) if acted_on_by(current, by, via) else None


def complete_task(call: Callable[..., object], **kwargs: Any) -> bool:
    """Complete a parked task token; False when the workflow no longer waits on it (nothing to complete)."""
    try:
        call(**kwargs)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in STALE_TOKEN_CODES:
            return False
        raise
    return True


def task_output(by: str) -> str:
    """What the acknowledged page task returns to the workflow."""
    return json.dumps({"outcome": "acknowledged", "acknowledged_by": public_name(by)})
