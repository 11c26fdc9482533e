"""Heartbeat monitors: a job that stops beating pages its integration, as an alert would.

A monitor has a name, an integration (whom it pages), an interval and a grace. Its URL carries a secret
token (32 hex characters, shown once, stored only as its SHA-256), and each `POST` to it is a beat. A
monitor is armed by its first beat; from then on each beat sets a deadline, `interval + grace` after it.
When a deadline passes with no newer beat, the integration gets a trigger with the dedup key
`heartbeat:<name>` ("Heartbeat NAME expired: last beat 12:03 UTC"), through the same `trigger` the events
API uses; the next beat resolves it through the same `resolve`.

Deadlines are EventBridge Scheduler one-time schedules, one per beat, created by the beat (before its
write: a beat whose function dies after the write still has its schedule) and deleted by the next beat.
Each schedule invokes the checker with the monitor's id, the beat's sequence number and its deadline; the
checker acts only when the monitor still holds exactly that beat and deadline, so a schedule a newer beat
superseded (one the next beat could not delete, or one of a beat that lost a race) does nothing
(heartbeat_schedules). The monitors' items and states: heartbeat_monitors.

Race safety. Every change to a monitor is one conditional write on its item. A beat reads the item and
writes `beat_seq + 1` on the condition that `beat_seq` (and the state and the monitor's id) are still what
it read, and tries again on a conflict. The checker writes `expired` on the condition that `beat_seq`,
`deadline` and `up` are still those of its schedule: of a beat and a deadline racing, exactly one write
wins. A beat that finds `alerting` set resolves the monitor's incident, then clears `alerting`. The beat
may come while the checker's trigger is still opening that incident: the checker reads the item again
once its trigger is done and resolves the incident itself when a beat came in meanwhile (heartbeat_deadlines).
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from escalation.alerts.heartbeat_monitors import (
    BEAT_ATTEMPTS,
    COALESCE_SECONDS,
    TOKEN,
    URL_KEY_PREFIX,
    DeletedMonitor,
    HeartbeatsBusy,
    UnknownToken,
    dedup_key,
    epoch,
    monitor_key,
    token_hash,
)
from escalation.alerts.heartbeat_schedules import Schedules, iso, schedule_name
from escalation.alerts.incidents import incident_for
from escalation.alerts.integrations import Integration
from escalation.incidents.resolve import resolve
from escalation.incidents.timeline import utc_now
from escalation.platform.observability import logger
from escalation.platform.wiring import Dependencies
from escalation.store.incident_table import is_conditional_failure


@dataclass(frozen=True)
class Beat:
    """What a beat did."""

    monitor: str
    outcome: str  # armed, beat, coalesced, paused, recovered
    state: str
    deadline: int | None = None
    resolved: str | None = None  # the resolve outcome when the beat closed the monitor's incident

    def answer(self) -> dict[str, Any]:
        """The endpoint's 200 body."""
        body: dict[str, Any] = {"status": "ok", "monitor": self.monitor, "outcome": self.outcome, "state": self.state}
        if self.deadline is not None:
            body["deadline"] = iso(self.deadline)
        return body


def _monitor_for(table: Any, token: str) -> tuple[str, str]:
    """(name, monitor id) of a token; UnknownToken or DeletedMonitor."""
    if not isinstance(token, str) or not TOKEN.match(token):
        raise UnknownToken
    item = table.get_item(Key={"pk": f"{URL_KEY_PREFIX}{token_hash(token)}"}, ConsistentRead=True).get("Item")
    if item is None:
        raise UnknownToken
    if "deleted_at" in item:
        raise DeletedMonitor
    return str(item["monitor"]), str(item["monitor_id"])


def beat(deps: Dependencies, table: Any, schedules: Schedules, token: str, *, now: Callable[[], float] = time.time) -> Beat:
    """One beat: arm or move the deadline, resolve what the monitor's silence opened; race safe (see the module)."""
    name, monitor_id = _monitor_for(table, token)
    for _ in range(BEAT_ATTEMPTS):
        item = table.get_item(Key=monitor_key(name), ConsistentRead=True).get("Item")
        if item is None or item.get("monitor_id") != monitor_id:
            raise DeletedMonitor
        at = now()
        state, seq = str(item["state"]), int(item["beat_seq"])
        last = item.get("last_beat_at")
        if state == "up" and "alerting" not in item and last and at - epoch(str(last)) < COALESCE_SECONDS:
            return Beat(name, "coalesced", state, deadline=int(item["deadline"]))
        written = _write_beat(table, schedules, item, at=at)
        if written is None:
            continue  # another write came first: read again
        outcome = {"waiting": "armed", "expired": "recovered", "paused": "paused"}.get(state, "beat")
        resolved = _resolve_alerting(deps, table, item, via=f"heartbeat-{monitor_id}-{seq + 1}") if "alerting" in item else None
        new_state = "paused" if state == "paused" else "up"
        return Beat(name, outcome, new_state, deadline=written or None, resolved=resolved)
    raise HeartbeatsBusy(f"heartbeat {name}: the monitor kept changing")


def _write_beat(table: Any, schedules: Schedules, item: dict[str, Any], *, at: float) -> int | None:
    """The beat's conditional write: its deadline (0 when paused), or None when the item changed since it was read."""
    name, monitor_id, state, seq = item["name"], str(item["monitor_id"]), str(item["state"]), int(item["beat_seq"])
    condition = "monitor_id = :id AND beat_seq = :seq AND #state = :state"
    values: dict[str, Any] = {":id": monitor_id, ":seq": seq, ":state": state, ":next": seq + 1, ":at": iso(at)}
    if state == "paused":
        try:
            table.update_item(
                Key=monitor_key(name),
                UpdateExpression="SET beat_seq = :next, last_beat_at = :at",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if is_conditional_failure(error):
                return None
            raise
        return 0
    deadline = math.ceil(at) + int(item["interval_seconds"]) + int(item["grace_seconds"])
    schedule = schedule_name(monitor_id, seq + 1)
    # The schedule exists before the write that relies on it: no instant where the monitor is up with nothing armed.
    schedules.create(schedule, deadline, {"monitor": name, "monitor_id": monitor_id, "beat_seq": seq + 1, "deadline": deadline})
    try:
        table.update_item(
            Key=monitor_key(name),
            UpdateExpression="SET beat_seq = :next, last_beat_at = :at, #state = :up, deadline = :deadline, schedule = :schedule",
            ConditionExpression=condition,
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={**values, ":up": "up", ":deadline": deadline, ":schedule": schedule},
        )
    except ClientError as error:
        schedules.delete_quietly(schedule)  # ours alone (its name is unique); if it stays, it fires and does nothing
        if is_conditional_failure(error):
            return None
        raise
    schedules.delete_quietly(item.get("schedule"))  # the deadline this beat superseded
    return deadline


def _resolve_alerting(deps: Dependencies, table: Any, item: dict[str, Any], *, via: str) -> str:
    """Resolve the incident the monitor's expiry opened (as an events API resolve with its dedup key), then forget it.

    `alerting` is cleared only after the resolve, and only if it still names the same expiry: a beat whose resolve
    failed answers 5xx and the next beat tries again.
    """
    name, integration = str(item["name"]), Integration(name=str(item["integration"]), contacts=())
    incident = incident_for(deps, table, integration, dedup_key(name))
    outcome = "no_incident"  # the checker's trigger is still opening it: the checker resolves it (heartbeat_deadlines.check)
    if incident is not None:
        outcome = str(resolve(deps, str(incident["incident_id"]), by=integration.name, via=via, at=utc_now()))
        logger.info("heartbeat back: incident resolved", extra={"monitor": name, "incident_id": incident["incident_id"]})
    try:
        table.update_item(
            Key=monitor_key(name),
            UpdateExpression="REMOVE alerting",
            ConditionExpression="alerting = :alerting",
            ExpressionAttributeValues={":alerting": item["alerting"]},
        )
    except ClientError as error:
        if not is_conditional_failure(error):
            raise
    return outcome
