"""Heartbeat monitors, stored: create, read, list, pause, resume and delete, and the errors they raise.

Items of the integrations table:

    heartbeat#<name>   monitor_id, token_hash, integration, interval_seconds, grace_seconds, created_at, state,
                       beat_seq, last_beat_at, deadline (epoch seconds), schedule (its name), alerting (the beat_seq
                       whose deadline expired, while its incident may be open), expired_at, incident_id
    hbtoken#<sha256>   monitor (name), monitor_id, created_at; deleted_at and expires_at once deleted
    heartbeats         names: every monitor's name (listing needs no Scan)

States: `waiting` (created or resumed: armed by the next beat), `up` (a deadline is set), `expired` (the
deadline passed: paged), `paused` (beats are recorded, nothing is armed or paged).
"""

import hashlib
import re
import secrets
import time
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from escalation.alerts.heartbeat_schedules import Schedules, iso
from escalation.alerts.integration_checks import NAME
from escalation.alerts.integrations import by_name
from escalation.incidents.timeline import utc_now
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


def epoch(text: str) -> float:
    """Epoch seconds of an ISO-8601 time as the items keep it."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


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
