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
superseded (one the next beat could not delete, or one of a beat that lost a race) does nothing.
Schedules fire within the minute they are set for, so each is set for the minute its deadline falls in,
and a checker invoked before the deadline waits for it.

Items of the integrations table:

    heartbeat#<name>   monitor_id, token_hash, integration, interval_seconds, grace_seconds, created_at, state,
                       beat_seq, last_beat_at, deadline (epoch seconds), schedule (its name), alerting (the beat_seq
                       whose deadline expired, while its incident may be open), expired_at, incident_id
    hbtoken#<sha256>   monitor (name), monitor_id, created_at; deleted_at and expires_at once deleted
    heartbeats         names: every monitor's name (listing needs no Scan)

States: `waiting` (created or resumed: armed by the next beat), `up` (a deadline is set), `expired` (the
deadline passed: paged), `paused` (beats are recorded, nothing is armed or paged).

Race safety. Every change to a monitor is one conditional write on its item. A beat reads the item and
writes `beat_seq + 1` on the condition that `beat_seq` (and the state and the monitor's id) are still what
it read, and tries again on a conflict. The checker writes `expired` on the condition that `beat_seq`,
`deadline` and `up` are still those of its schedule: of a beat and a deadline racing, exactly one write
wins. A beat that finds `alerting` set resolves the monitor's incident, then clears `alerting`. The beat
may come while the checker's trigger is still opening that incident: the checker reads the item again
once its trigger is done and resolves the incident itself when a beat came in meanwhile.
"""

import hashlib
import json
import math
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import boto3
from botocore.exceptions import ClientError

from escalation.alerts.events import AlertEvent
from escalation.alerts.incidents import incident_for, trigger
from escalation.alerts.integrations import NAME, Integration, by_name
from escalation.incidents.resolve import resolve
from escalation.incidents.timeline import utc_now
from escalation.platform.aws_clients import SDK_CONFIG
from escalation.platform.observability import count, logger
from escalation.platform.wiring import Dependencies
from escalation.store.incident_table import is_conditional_failure

MONITOR_PREFIX = "heartbeat#"
URL_KEY_PREFIX = "hbtoken#"  # hbtoken#<sha256 of the token in a monitor's URL>
REGISTRY = "heartbeats"
TOKEN = re.compile(r"^[0-9a-f]{32}$")
MIN_INTERVAL_SECONDS = 60
MAX_INTERVAL_SECONDS = 31 * 86_400
MAX_GRACE_SECONDS = 86_400
DEFAULT_GRACE_SECONDS = 60
# A beat this soon after the last one to an armed monitor is acknowledged without a write or a schedule: a
# job beating in a loop (or a leaked URL) costs one schedule per this many seconds, and the deadline it keeps
# is at most this much earlier than the latest beat would have set (intervals are 60 s or more).
COALESCE_SECONDS = 5
BEAT_ATTEMPTS = 8  # conflicting writes (concurrent beats, a pause) before the beat answers 503
MAX_EARLY_SECONDS = 90  # a checker invoked earlier than this before its deadline raises instead of waiting
DELETED_TOKEN_TTL_SECONDS = 30 * 86_400  # a deleted monitor's URL answers 410, then 404
SCHEDULE_RETRY_ATTEMPTS = 10  # Scheduler's retries of an invoke it could not make (throttled, denied)
SCHEDULE_MAX_EVENT_AGE_SECONDS = 3_600
SOURCE = "heartbeat"


class HeartbeatError(ValueError):
    """A request about monitors cannot be done; the message names the field and the problem."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class UnknownToken(LookupError):
    """No monitor has this token (404)."""


class DeletedMonitor(LookupError):
    """The token's monitor was deleted (410)."""


class HeartbeatsBusy(Exception):
    """The beat kept conflicting with other writes; the sender should retry (503)."""


class NotRouted(RuntimeError):
    """The monitor's integration is gone: it cannot page (raised, so the checker's failure alarms)."""


def token_hash(token: str) -> str:
    """How a monitor's token is stored: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def dedup_key(name: str) -> str:
    """The dedup key of a monitor's incidents: one open incident per monitor, however many deadlines pass."""
    return f"heartbeat:{name}"


def monitor_key(name: str) -> dict[str, str]:
    """A monitor's item."""
    return {"pk": f"{MONITOR_PREFIX}{name}"}


def iso(epoch: float) -> str:
    """An epoch time as the app stores times (ISO 8601 UTC, milliseconds)."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# -- schedules ---------------------------------------------------------------------------------------


@cache
def scheduler_client() -> Any:
    """The EventBridge Scheduler client (created once per container)."""
    return boto3.client("scheduler", config=SDK_CONFIG)


@dataclass(frozen=True)
class Schedules:
    """One-time schedules of one schedule group, invoking the checker (target) with a payload each."""

    client: Any
    group: str
    function_arn: str = ""  # the checker
    role_arn: str = ""  # the role Scheduler assumes to invoke it
    dead_letter_arn: str = ""  # where Scheduler puts an invoke it could not make

    def create(self, name: str, deadline: int, payload: dict[str, Any]) -> None:
        """A schedule firing in the minute the deadline falls in (Scheduler's precision), then deleted."""
        minute = datetime.fromtimestamp(deadline - deadline % 60, UTC)
        target: dict[str, Any] = {
            "Arn": self.function_arn,
            "RoleArn": self.role_arn,
            "Input": json.dumps(payload),
            "RetryPolicy": {
                "MaximumRetryAttempts": SCHEDULE_RETRY_ATTEMPTS,
                "MaximumEventAgeInSeconds": SCHEDULE_MAX_EVENT_AGE_SECONDS,
            },
        }
        if self.dead_letter_arn:
            target["DeadLetterConfig"] = {"Arn": self.dead_letter_arn}
        self.client.create_schedule(
            Name=name,
            GroupName=self.group,
            ScheduleExpression=f"at({minute:%Y-%m-%dT%H:%M:%S})",
            ScheduleExpressionTimezone="UTC",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target=target,
            ActionAfterCompletion="DELETE",
            Description=f"heartbeat {payload['monitor']}: deadline {iso(deadline)}",
        )

    def delete(self, name: str) -> None:
        """Delete a schedule; one already gone (fired, or deleted by another request) is fine."""
        try:
            self.client.delete_schedule(Name=name, GroupName=self.group)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise

    def delete_quietly(self, name: str | None) -> None:
        """Delete a superseded schedule, best effort: if it stays, it fires and does nothing."""
        if not name:
            return
        try:
            self.delete(name)
        except ClientError as error:
            logger.warning("a superseded schedule was not deleted", extra={"schedule": name, "error": str(error)})


def schedule_name(monitor_id: str, seq: int) -> str:
    """Unique per beat attempt (a beat that loses a race deletes its own schedule, never another's); <= 64 characters."""
    return f"hb-{monitor_id}-{seq}-{secrets.token_hex(4)}"


# -- managing monitors (the CLI) ---------------------------------------------------------------------


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not NAME.match(name):
        raise HeartbeatError("name", "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")


def create_monitor(
    table: Any, name: str, *, integration: str, interval_seconds: int, grace_seconds: int = DEFAULT_GRACE_SECONDS
) -> dict[str, Any]:
    """Create a monitor; returns it with its token (shown once: only its hash is stored)."""
    _check_name(name)
    if not MIN_INTERVAL_SECONDS <= interval_seconds <= MAX_INTERVAL_SECONDS:
        raise HeartbeatError("interval", f"must be from 1 minute to {MAX_INTERVAL_SECONDS // 86_400} days")
    if not 0 <= grace_seconds <= MAX_GRACE_SECONDS:
        raise HeartbeatError("grace", "must be from 0 to 1 day")
    if by_name(table, integration) is None:
        raise HeartbeatError("integration", f"no integration {integration!r}")
    token = secrets.token_hex(16)
    hashed = token_hash(token)
    monitor_id = secrets.token_hex(6)
    at = utc_now()
    table.put_item(
        Item={"pk": f"{URL_KEY_PREFIX}{hashed}", "monitor": name, "monitor_id": monitor_id, "created_at": at},
        ConditionExpression="attribute_not_exists(pk)",
    )
    item = {
        **monitor_key(name), "name": name, "monitor_id": monitor_id, "integration": integration,
        "interval_seconds": interval_seconds, "grace_seconds": grace_seconds, "created_at": at, "state": "waiting",
        "beat_seq": 0, "token_hash": hashed,
    }  # fmt: skip
    try:
        table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
    except ClientError as error:
        table.delete_item(Key={"pk": f"{URL_KEY_PREFIX}{hashed}"})
        if is_conditional_failure(error):
            raise HeartbeatError("name", f"a heartbeat monitor {name!r} exists already") from error
        raise
    table.update_item(
        Key={"pk": REGISTRY},
        UpdateExpression="ADD #names :name",
        ExpressionAttributeNames={"#names": "names"},
        ExpressionAttributeValues={":name": {name}},
    )
    return {**_public(item), "token": token}


def _public(item: dict[str, Any]) -> dict[str, Any]:
    """What the CLI shows of a monitor (never the token or its hash)."""
    deadline = item.get("deadline")
    return {
        "name": item["name"],
        "integration": item["integration"],
        "interval_seconds": int(item["interval_seconds"]),
        "grace_seconds": int(item["grace_seconds"]),
        "state": item["state"],
        "last_beat_at": item.get("last_beat_at"),
        "deadline": iso(int(deadline)) if deadline is not None and item["state"] == "up" else None,
        "expired_at": item.get("expired_at") if item["state"] == "expired" or "alerting" in item else None,
        "incident_id": item.get("incident_id") if "alerting" in item else None,
        "created_at": item["created_at"],
    }


def get_monitor(table: Any, name: str) -> dict[str, Any] | None:
    """A monitor as the CLI shows it, or None."""
    item = table.get_item(Key=monitor_key(name), ConsistentRead=True).get("Item")
    return _public(item) if item else None


def list_monitors(table: Any) -> list[dict[str, Any]]:
    """Every monitor, by name: integration, interval, grace, state, last beat, deadline."""
    registry = table.get_item(Key={"pk": REGISTRY}, ConsistentRead=True).get("Item") or {}
    found = (table.get_item(Key=monitor_key(name), ConsistentRead=True).get("Item") for name in sorted(registry.get("names", ())))
    return [_public(item) for item in found if item is not None]


def pause_monitor(table: Any, name: str, schedules: Schedules | None) -> dict[str, Any]:
    """Stop watching: beats are still recorded, no deadline is armed and nothing pages until resumed."""
    _check_name(name)
    try:
        old = table.update_item(
            Key=monitor_key(name),
            UpdateExpression="SET #state = :paused, paused_at = :at REMOVE deadline, schedule",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={":paused": "paused", ":at": utc_now()},
            ReturnValues="ALL_OLD",
        )["Attributes"]
    except ClientError as error:
        if is_conditional_failure(error):
            raise HeartbeatError("name", f"no heartbeat monitor {name!r}") from error
        raise
    if schedules is not None:  # the pending deadline would fire and find the monitor paused: delete it now
        schedules.delete_quietly(old.get("schedule"))
    return {"name": name, "state": "paused", "was": old["state"]}


def resume_monitor(table: Any, name: str) -> dict[str, Any]:
    """Watch again: the monitor waits for its next beat, which arms it (as a new monitor's first beat does)."""
    _check_name(name)
    try:
        table.update_item(
            Key=monitor_key(name),
            UpdateExpression="SET #state = :waiting REMOVE paused_at",
            ConditionExpression="#state = :paused",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={":paused": "paused", ":waiting": "waiting"},
        )
    except ClientError as error:
        if is_conditional_failure(error):
            current = get_monitor(table, name)
            if current is None:
                raise HeartbeatError("name", f"no heartbeat monitor {name!r}") from error
            raise HeartbeatError("name", f"{name!r} is not paused (it is {current['state']})") from error
        raise
    return {"name": name, "state": "waiting"}


def delete_monitor(table: Any, name: str, schedules: Schedules | None) -> dict[str, Any]:
    """Delete a monitor: its URL answers 410 (then 404), its pending deadline is deleted; an open incident stays."""
    _check_name(name)
    item = table.get_item(Key=monitor_key(name), ConsistentRead=True).get("Item")
    if item is None:
        raise HeartbeatError("name", f"no heartbeat monitor {name!r}")
    at = utc_now()
    table.update_item(  # first: from now on its beats are refused
        Key={"pk": f"{URL_KEY_PREFIX}{item['token_hash']}"},
        UpdateExpression="SET deleted_at = :at, expires_at = :expires",
        ExpressionAttributeValues={":at": at, ":expires": int(time.time()) + DELETED_TOKEN_TTL_SECONDS},
    )
    old = table.delete_item(Key=monitor_key(name), ReturnValues="ALL_OLD").get("Attributes") or item
    table.update_item(
        Key={"pk": REGISTRY},
        UpdateExpression="DELETE #names :name",
        ExpressionAttributeNames={"#names": "names"},
        ExpressionAttributeValues={":name": {name}},
    )
    if schedules is not None:
        schedules.delete_quietly(old.get("schedule"))
    result = {"name": name, "deleted_at": at}
    if "alerting" in old and old.get("incident_id"):
        result["open_incident"] = str(old["incident_id"])
    return result


# -- beats (the endpoint) ----------------------------------------------------------------------------


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
        if state == "up" and "alerting" not in item and last and at - _epoch(str(last)) < COALESCE_SECONDS:
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
    outcome = "no_incident"  # the checker's trigger is still opening it: the checker resolves it (see check)
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


# -- deadlines (the checker) -------------------------------------------------------------------------


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
