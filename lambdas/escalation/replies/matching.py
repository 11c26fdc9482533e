"""Which incident a reply is about: never a guess past what the person said.

Only incidents that paged the sender count: a page or reminder to that number was sent (the message
log, courtesy texts excluded) and the number is in the incident's chain up to its current level. A
later failed send to the number (a reminder, a repeat pass) does not take that away: unreachable
numbers are skipped by courtesy texts, never by replies.

- An incident counts only in the incarnation that paged: each page row names the execution (the pass)
  that sent it, so a late `YES 4821` about a closed incident never acts on a new one with the same id
  (rows written before executions were recorded match any incarnation). A new pass over the chain of
  the same incident (an alert firing again) keeps the earlier passes' executions in `past_executions`.
- Every page still remembered counts, however many (rows read page after page, incidents 100 per
  request): YES ALL reaches them all.
- An explicit id is compared case-insensitively, without a leading '#', with those incidents only.
- A bare keyword acts on the incident of the most recent page or reminder, if that one can still take it
  (being escalated, exhausted with nobody on it, or stopped by a fault of ours; a bare RESOLVE also takes
  an acknowledged incident: the usual order is YES, fix it, RESOLVE), never on an older one. When the most
  recent text was a batch listing several incidents, a bare keyword acts on none: the person is asked for
  YES ALL or YES <id>.
"""

from collections.abc import Mapping
from typing import Any

from escalation.incidents.levels import numbers_up_to
from escalation.incidents.status import RESOLVABLE_STATUSES, Status
from escalation.replies.grammar import id_key
from escalation.store.message_log import MessageLog
from escalation.store.repository import IncidentRepository

# Being escalated, exhausted with nobody on it, or stopped by a fault of ours: a YES can still take it.
OPEN_FOR_REPLY = frozenset(
    {Status.NOT_ACKNOWLEDGED.value, Status.ESCALATION.value, Status.UNACKNOWLEDGED.value, Status.FAILED.value}
)


def reached_by_chain(item: Mapping[str, Any], contact: str) -> bool:
    """True when the escalation has reached contact's place in the chain (a send to them may have failed later)."""
    return contact in numbers_up_to(item, int(item.get("escalation_level", 0)))


def same_incarnation(item: Mapping[str, Any], executions: set[str | None]) -> bool:
    """True when one of the pages (their executions) was about this incarnation of the incident (see above)."""
    if None in executions:
        return True  # a row from before executions were recorded
    mine = {item.get("execution_arn"), *item.get("past_executions", [])}
    return bool(executions & mine)


def open_for_reply(item: Mapping[str, Any]) -> bool:
    """True while a YES can still take the incident (see OPEN_FOR_REPLY)."""
    return item.get("incident_stat") in OPEN_FOR_REPLY


def acted_on_by(item: Mapping[str, Any], sender: str, inbound_message_id: str) -> bool:
    """True when this very reply acknowledged the incident (a retry of it must finish the job)."""
    return (
        item.get("incident_stat") == Status.ACKNOWLEDGED
        and item.get("acknowledged_by") == sender
        and item.get("acknowledged_via") == inbound_message_id
    )


class Inbox:
    """The incidents that paged one number, newest page first, as read when its reply arrives."""

    def __init__(self, incidents: IncidentRepository, message_log: MessageLog, sender: str, *, newest: bool = True) -> None:
        """newest: wait for the index to show the newest page (a reply must; a page asking what else is open need not)."""
        self.sender = sender
        executions: dict[str, set[str | None]] = {}
        rows = message_log.latest_pages_to(sender) if newest else message_log.pages_to(sender)
        for sent in rows:
            executions.setdefault(str(sent["incident_id"]), set()).add(sent.get("execution"))
        last_batch = rows[0].get("batch") if rows else None
        batch_ids = [str(row["incident_id"]) for row in rows if last_batch and row.get("batch") == last_batch]
        found = incidents.get_many(list(executions))
        self.items: list[dict[str, Any]] = [
            item
            for incident_id, paged_by in executions.items()
            if (item := found.get(incident_id)) is not None
            and reached_by_chain(item, sender)
            and same_incarnation(item, paged_by)
        ]
        known = {str(item["incident_id"]) for item in self.items}
        # The last text was a batch listing several incidents: a bare keyword acts on none of them.
        self.batch_ids: list[str] = [incident_id for incident_id in dict.fromkeys(batch_ids) if incident_id in known]

    def __bool__(self) -> bool:
        return bool(self.items)

    @property
    def latest(self) -> dict[str, Any] | None:
        """The incident of the most recent page or reminder, open or not."""
        return self.items[0] if self.items else None

    def open_ids(self, *, exclude: tuple[str, ...] = ()) -> list[str]:
        """Ids of the incidents open for this number, newest page first."""
        return [str(item["incident_id"]) for item in self.items if open_for_reply(item) and item["incident_id"] not in exclude]

    def current(self, inbound_message_id: str) -> dict[str, Any] | None:
        """What a bare YES or NO acts on: the most recent page's incident, if it can still take it (or this reply took it).

        Never an older one: the person answered the last text they got, and an older incident may be one they
        have not even read (None: the caller says so and lists what is open).
        """
        latest = self.latest
        if self.batch_ids:
            return None
        return latest if latest is not None and self._actionable(latest, inbound_message_id) else None

    def all_open(self, inbound_message_id: str) -> list[dict[str, Any]]:
        """What YES ALL acts on: every incident open for this number (or taken by this reply)."""
        return [item for item in self.items if self._actionable(item, inbound_message_id)]

    def to_resolve(self, inbound_message_id: str) -> dict[str, Any] | None:
        """What a bare RESOLVE acts on: the most recent page's incident unless resolved (by anyone but this reply).

        Never an older one: "YES, fix it, RESOLVE" while the alert source resolved it first must not close
        another, still burning, incident.
        """
        latest = self.latest
        if latest is None or self.batch_ids:
            return None
        resolvable = latest.get("incident_stat") in RESOLVABLE_STATUSES
        resolved_by_this = latest.get("incident_stat") == Status.RESOLVED and latest.get("resolved_via") == inbound_message_id
        return latest if resolvable or resolved_by_this else None

    def named(self, written: str) -> dict[str, Any] | None:
        """The incident a reply names: the one whose id matches exactly, else the only case-insensitive match."""
        exact = [item for item in self.items if item["incident_id"] == written]
        if exact:
            return exact[0]
        matches = [item for item in self.items if id_key(str(item["incident_id"])) == id_key(written)]
        return matches[0] if len(matches) == 1 else None

    def _actionable(self, item: Mapping[str, Any], inbound_message_id: str) -> bool:
        return open_for_reply(item) or acted_on_by(item, self.sender, inbound_message_id)


def other_open_incident(incidents: IncidentRepository, message_log: MessageLog, contact: str, incident_id: str) -> bool:
    """True when contact has an incident open besides incident_id (its page should then ask for `YES <id>`)."""
    return bool(Inbox(incidents, message_log, contact, newest=False).open_ids(exclude=(incident_id,)))
