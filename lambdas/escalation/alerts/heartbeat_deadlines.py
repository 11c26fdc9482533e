"""A heartbeat monitor's deadline came: the checker each deadline's schedule invokes (lambdas/heartbeat_check.py).

A schedule carries the monitor's id, the beat's sequence number and its deadline. The checker pages only when the
monitor still holds exactly that beat and that deadline, and the deadline has passed: a schedule a newer beat
superseded, a paused or deleted monitor, does nothing. Scheduler fires within the deadline's minute, so a checker
invoked before the deadline waits for it (up to MAX_EARLY_SECONDS; earlier raises).

Expiry is one conditional write (`expired`, with `alerting` naming the beat) on the condition that `beat_seq`,
`deadline` and `up` are still those of the schedule: of a beat and a deadline racing, exactly one write wins. The
page is the Events API v2 trigger the monitor stands for (expiry_event, dedup key `heartbeat:<name>`), through the
same `trigger` the events API uses. A beat may come while that trigger is still opening the incident: the checker
reads the item again once its trigger is done and resolves the incident itself when a beat came in meanwhile.
"""

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from escalation.alerts.events import AlertEvent
from escalation.alerts.heartbeat_monitors import MAX_EARLY_SECONDS, SOURCE, NotRouted, dedup_key, monitor_key
from escalation.alerts.heartbeat_schedules import iso
from escalation.alerts.incidents import trigger
from escalation.alerts.integrations import by_name
from escalation.incidents.resolve import resolve
from escalation.incidents.timeline import utc_now
from escalation.platform.observability import count, logger
from escalation.platform.wiring import Dependencies
from escalation.store.incident_table import is_conditional_failure


def summary(name: str, last_beat_at: str | None, now: float) -> str:
    """`Heartbeat NAME expired: last beat 12:03 UTC` (with the date when the last beat was on another day)."""
    if not last_beat_at:
        return f"Heartbeat {name} expired"
    last = datetime.fromisoformat(last_beat_at.replace("Z", "+00:00")).astimezone(UTC)
    when = f"{last:%H:%M}" if last.date() == datetime.fromtimestamp(now, UTC).date() else f"{last:%Y-%m-%d %H:%M}"
    return f"Heartbeat {name} expired: last beat {when} UTC"


def expiry_event(item: dict[str, Any], now: float) -> AlertEvent:
    """The Events API v2 trigger an expired monitor stands for (dedup key: heartbeat:<name>)."""
    name = str(item["name"])
    return AlertEvent(
        routing_key="",  # routed by the monitor's integration, not by a key
        action="trigger",
        dedup_key=dedup_key(name),
        summary=summary(name, item.get("last_beat_at"), now),
        source=f"{SOURCE}:{name}",
        severity="critical",
        timestamp=iso(now),
        custom_details={
            "heartbeat": name,
            "last_beat_at": item.get("last_beat_at"),
            "deadline": iso(int(item["deadline"])),
            "interval_seconds": int(item["interval_seconds"]),
            "grace_seconds": int(item["grace_seconds"]),
        },
        client="heartbeat monitor",
    )


def _parse_request(request: Any) -> tuple[str, str, int, int]:
    """(monitor, monitor_id, beat_seq, deadline) of a schedule's payload; ValueError when malformed."""
    if not isinstance(request, dict):
        raise ValueError("the checker's input must be a JSON object")
    name, monitor_id, seq, deadline = (request.get(key) for key in ("monitor", "monitor_id", "beat_seq", "deadline"))
    if not isinstance(name, str) or not isinstance(monitor_id, str) or not isinstance(seq, int) or not isinstance(deadline, int):
        raise ValueError(f"malformed checker input: {request!r}")
    return name, monitor_id, seq, deadline


def check(
    deps: Dependencies,
    table: Any,
    request: Any,
    *,
    repeat_after: int = 0,
    now: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """A schedule fired: page when the monitor still holds that beat and its deadline has passed; {outcome, ...}."""
    name, monitor_id, seq, deadline = _parse_request(request)
    base = {"monitor": name, "beat_seq": seq, "deadline": iso(deadline)}
    item = table.get_item(Key=monitor_key(name), ConsistentRead=True).get("Item")
    if item is None or item.get("monitor_id") != monitor_id:
        return {**base, "outcome": "deleted"}
    if int(item["beat_seq"]) != seq or int(item.get("deadline", -1)) != deadline:
        return {**base, "outcome": "superseded"}  # a newer beat (or a pause, a resume) moved it
    retry = item["state"] == "expired" and int(item.get("alerting", -1)) == seq
    if item["state"] != "up" and not retry:
        return {**base, "outcome": str(item["state"])}  # paused (or resumed: waiting)
    if retry and int(item.get("paged_seq", -1)) == seq:
        return {**base, "outcome": "already_paged"}
    if not retry:
        early = deadline - now()
        if early > MAX_EARLY_SECONDS:
            raise RuntimeError(f"heartbeat {name}: invoked {early:.0f} s before its deadline")
        if early > 0:
            sleep(early)  # Scheduler fires within the deadline's minute: wait out the rest of it
        item = _expire(table, item, now())
        if item is None:
            return {**base, "outcome": "superseded"}  # a beat came first
    integration = by_name(table, str(item["integration"]))
    if integration is None:
        raise NotRouted(f"heartbeat {name}: no integration named {item['integration']!r} (its deadline passed)")
    at = now()
    result = trigger(deps, table, integration, expiry_event(item, at), via=f"heartbeat-{monitor_id}-{seq}", at=iso(at),
                     repeat_after=repeat_after)  # fmt: skip
    count("HeartbeatExpired")
    logger.warning("heartbeat expired", extra={**base, **result})
    latest = table.update_item(
        Key=monitor_key(name),
        UpdateExpression="SET paged_seq = :seq, incident_id = :incident",
        ConditionExpression="monitor_id = :id",
        ExpressionAttributeValues={":seq": seq, ":incident": result["incident_id"], ":id": monitor_id},
        ReturnValues="ALL_NEW",
    )["Attributes"]
    if int(latest["beat_seq"]) != seq:  # a beat came while the trigger was being applied: it may have found nothing
        outcome = str(resolve(deps, result["incident_id"], by=integration.name, via=f"heartbeat-{monitor_id}-{seq}-back",
                              at=utc_now()))  # fmt: skip
        return {**base, "outcome": f"{result['outcome']}_then_{outcome}", "incident_id": result["incident_id"]}
    return {**base, "outcome": result["outcome"], "incident_id": result["incident_id"]}


def _expire(table: Any, item: dict[str, Any], at: float) -> dict[str, Any] | None:
    """Mark the monitor expired if it still holds the same beat and deadline, and the deadline has passed; the item after."""
    seq, deadline = int(item["beat_seq"]), int(item["deadline"])
    if at < deadline:
        return None
    values = {":expired": "expired", ":at": iso(at), ":seq": seq, ":id": item["monitor_id"], ":deadline": deadline, ":up": "up"}
    try:
        attributes: dict[str, Any] = table.update_item(
            Key=monitor_key(str(item["name"])),
            UpdateExpression="SET #state = :expired, expired_at = :at, alerting = :seq",
            ConditionExpression="monitor_id = :id AND beat_seq = :seq AND deadline = :deadline AND #state = :up",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )["Attributes"]
    except ClientError as error:
        if is_conditional_failure(error):
            return None
        raise
    return attributes
