"""Incidents opened by alerts: dedup keys, and what a trigger does with them.

Short ids: short_ids.py. Acknowledging and resolving by dedup key: closing.py.

Dedup. A `dedup#<integration>#<sha256 of the dedup key>` claim names the incident a dedup key opened. What a
trigger with the key does depends on that incident's status:
- being escalated (not_acknowledged, escalation) or acknowledged: a repeat. It adds one to `alert_count` and
  appends an `alert_repeated` entry (the first 20 only), and pages nobody;
- exhausted (unacknowledged) or failed, nobody on it: a new pass over the chain on the same incident (an
  `escalated_again` entry; the stream starts it), at most once per repeatAfterSeconds from the start of the
  current pass (default 4 h, Alertmanager's default repeat_interval); a repeat in between;
- resolved or invalid (or its id was reused): a new incident. The claim moves with a conditional write
  naming the old incident, so two triggers at the same instant open one incident: one wins the claim, the
  other counts as a repeat.
Every accepted trigger counts once; a request the sender retries after a timeout or a 5xx counts again, as
it would on PagerDuty (which does not deduplicate requests either, only incidents). A repeat waits (up to
WAIT_FOR_START_SECONDS) for its incident's escalation to start: the app never writes to a fresh incident
before its execution is recorded, or the stream would take the write for a new one. Dedup claims expire
DEDUP_CLAIM_TTL_SECONDS after the last trigger that used them (refreshed as they near it); the incident
item, read on every trigger, is what decides, so a claim DynamoDB has not deleted yet is never trusted alone.
"""

import hashlib
import time
from typing import Any

from botocore.exceptions import ClientError

from escalation.alerts.events import AlertEvent, new_dedup_key
from escalation.alerts.integrations import Integration
from escalation.alerts.page_facts import incident_item
from escalation.alerts.short_ids import SHORT_ID_REST_SECONDS, AlertsBusy, claim_short_id, iso_at, release_short_id
from escalation.incidents.status import RESOLVABLE_STATUSES, Event, Status
from escalation.incidents.timeline import timeline_entry
from escalation.incidents.urgency import raises_urgency
from escalation.platform import aws_clients
from escalation.platform.observability import logger
from escalation.platform.wiring import Dependencies
from escalation.store.incident_table import is_conditional_failure

DEDUP_CLAIM_TTL_SECONDS = 90 * 86_400  # an alert silent this long with its incident still open then opens a new one
WAIT_FOR_START_SECONDS = 10.0
REPEATS_ON_TIMELINE = 20
OPEN_FOR_DEDUP = frozenset(status.value for status in RESOLVABLE_STATUSES)


def dedup_claim_key(integration: str, dedup_key: str) -> str:
    """The claim item of a dedup key (hashed: a dedup key may be up to 255 characters of anything)."""
    return f"dedup#{integration}#{hashlib.sha256(dedup_key.encode()).hexdigest()}"


def _is_open_for(item: dict[str, Any] | None, integration: str, dedup_key: str) -> bool:
    """True while item is the open incident this integration's dedup key opened."""
    return (
        item is not None
        and item.get("dedup_key") == dedup_key
        and item.get("integration") == integration
        and item.get("incident_stat") in OPEN_FOR_DEDUP
    )


def _open_incident(deps: Dependencies, claim: dict[str, Any] | None, integration: str, dedup_key: str) -> dict[str, Any] | None:
    """The open incident a dedup claim names, or None."""
    if claim is None:
        return None
    item = deps.incidents.get(str(claim["incident_id"]))
    return item if _is_open_for(item, integration, dedup_key) else None


def _open(
    deps: Dependencies,
    table: Any,
    integration: Integration,
    event: AlertEvent,
    *,
    dedup_key: str,
    stale: dict[str, Any] | None,
    via: str,
    at: str,
) -> str | None:
    """Open a new incident for dedup_key; its id, or None when a concurrent trigger took the dedup key first."""
    claim_pk = dedup_claim_key(integration.name, dedup_key)
    short_id = claim_short_id(deps, table, via)
    now = int(time.time())
    claim = {"pk": claim_pk, "incident_id": short_id, "claimed_at": now, "expires_at": now + DEDUP_CLAIM_TTL_SECONDS}
    try:
        if stale is None:
            table.put_item(Item=claim, ConditionExpression="attribute_not_exists(pk)")
        else:
            table.put_item(
                Item=claim, ConditionExpression="incident_id = :old", ExpressionAttributeValues={":old": stale["incident_id"]}
            )
    except ClientError as error:
        release_short_id(table, short_id, via)
        if is_conditional_failure(error):
            return None
        raise
    item = incident_item(
        event,
        incident_id=short_id,
        integration=integration.name,
        contacts=integration.contacts,
        policy=integration.policy,
        dedup_key=dedup_key,
        at=at,
        page_template=integration.page_template,
        urgency=integration.urgency,
    )
    try:
        aws_clients.dynamodb().Table(deps.settings.incidents_table).put_item(
            Item=item,
            # The same rule as reusable(), where it counts: never over an open incident, nor one resting.
            ConditionExpression="attribute_not_exists(incident_id) OR (stat_date < :cutoff AND (incident_stat IN "
            "(:resolved, :invalid) OR (incident_stat IN (:acked, :exhausted, :failed) AND attribute_exists(dedup_key))))",
            ExpressionAttributeValues={
                ":resolved": Status.RESOLVED.value,
                ":invalid": Status.INVALID.value,
                ":acked": Status.ACKNOWLEDGED.value,
                ":exhausted": Status.UNACKNOWLEDGED.value,
                ":failed": Status.FAILED.value,
                ":cutoff": iso_at(time.time(), -SHORT_ID_REST_SECONDS),
            },
        )
    except ClientError as error:
        if not is_conditional_failure(error):
            raise
        raise AlertsBusy(f"incident {short_id} was written by hand meanwhile") from error  # the claims expire by staleness
    logger.info("incident opened by an alert", extra={"incident_id": short_id, "integration": integration.name})
    return short_id


def wait_until_started(deps: Dependencies, incident_id: str, integration: str, dedup_key: str) -> dict[str, Any] | None:
    """The open incident once its escalation has started, or once it was acknowledged before its start; None if closed.

    The app never writes to a fresh, unstarted incident (the stream would take the write for a new one).
    """
    deadline = time.monotonic() + WAIT_FOR_START_SECONDS
    while True:
        item = deps.incidents.get(incident_id)
        if item is not None and not _is_open_for(item, integration, dedup_key):
            return None
        if item is not None and ("execution_arn" in item or item.get("incident_stat") == Status.ACKNOWLEDGED):
            return item
        if item is not None and "maintenance_window" in item:  # held by a maintenance window: repeats dedup into it
            return item
        if time.monotonic() >= deadline:
            if item is None:
                return None  # the opener died between its claim and its write: the claim is stale
            raise AlertsBusy(f"incident {incident_id} has not started yet")
        time.sleep(0.2)


def next_pass_execution(item: dict[str, Any]) -> str:
    """The execution of the pass after item's current one: named after it, so concurrent triggers name the same one."""
    previous = str(item["execution_arn"])
    prefix, _, _name = previous.rpartition(":")
    digest = hashlib.sha256(f"{item['incident_id']}\n{previous}".encode()).hexdigest()[:16]
    safe = "".join(character if character.isalnum() or character in "-_" else "_" for character in str(item["incident_id"]))
    return f"{prefix}:incident-{safe[:40]}-{digest}"


def escalate_again(deps: Dependencies, item: dict[str, Any], *, via: str, at: str, repeat_after: int) -> bool:
    """Start a new pass over the chain of an incident nobody is on (exhausted, failed); False when too soon or not so.

    At most one pass per `repeat_after` seconds (from the start of the current pass); 0 never starts one.
    The new pass is started by the stream handler (start_escalation), which sees the status go back to open.
    """
    if (
        repeat_after <= 0
        or item.get("incident_stat") not in (Status.UNACKNOWLEDGED, Status.FAILED)
        or "execution_arn" not in item
    ):
        return False
    execution = next_pass_execution(item)
    entry = timeline_entry(Event.ESCALATED_AGAIN, at, via=via[:128], passes=int(item.get("passes", 1)) + 1)
    started = deps.incidents.start_new_pass(
        item, execution=execution, not_before=int(time.time()) - repeat_after, at=at, entries=[entry]
    )
    if started is not None:
        logger.info("alert fired again with nobody on it: escalating again", extra={"incident_id": item["incident_id"]})
    return started is not None


def trigger(
    deps: Dependencies, table: Any, integration: Integration, event: AlertEvent, *, via: str, at: str, repeat_after: int = 0
) -> dict[str, str]:
    """Open an incident for the event, or act on the one its dedup key opened: {outcome, dedup_key, incident_id}.

    By the status of that incident: being escalated or acknowledged, a repeat (counted); exhausted or failed,
    escalated again once per `repeat_after` seconds (a repeat in between); resolved or invalid, a new incident.
    """
    dedup_key = event.dedup_key or new_dedup_key()
    claim_pk = dedup_claim_key(integration.name, dedup_key)
    for _ in range(5):
        claim = table.get_item(Key={"pk": claim_pk}, ConsistentRead=True).get("Item")
        if claim is not None:
            incident_id = str(claim["incident_id"])
            item = wait_until_started(deps, incident_id, integration.name, dedup_key)
            if item is not None and escalate_again(deps, item, via=via, at=at, repeat_after=repeat_after):
                return {"outcome": "escalated_again", "dedup_key": dedup_key, "incident_id": incident_id}
            if item is not None:
                entry = timeline_entry(Event.ALERT_REPEATED, at, source=event.source[:128] or None, via=via[:128])
                if deps.incidents.record_repeat(incident_id, dedup_key=dedup_key, entry=entry, cap=REPEATS_ON_TIMELINE):
                    _keep(table, claim)
                    if raises_urgency(item.get("urgency"), event.severity, integration.urgency):
                        deps.incidents.raise_urgency(incident_id, severity=event.severity, at=at)
                    return {"outcome": "repeated", "dedup_key": dedup_key, "incident_id": incident_id}
                continue  # closed meanwhile: look again
        opened = _open(deps, table, integration, event, dedup_key=dedup_key, stale=claim, via=via, at=at)
        if opened is not None:
            return {"outcome": "opened", "dedup_key": dedup_key, "incident_id": opened}
    raise AlertsBusy("the dedup key kept changing hands")


def _keep(table: Any, claim: dict[str, Any]) -> None:
    """Push back the expiry of a dedup claim still in use, once it is within a third of its life of expiring."""
    now = int(time.time())
    if int(claim.get("expires_at", 0)) - now < DEDUP_CLAIM_TTL_SECONDS // 3:
        table.update_item(
            Key={"pk": claim["pk"]},
            UpdateExpression="SET expires_at = :expires",
            ExpressionAttributeValues={":expires": now + DEDUP_CLAIM_TTL_SECONDS},
        )


def incident_for(deps: Dependencies, table: Any, integration: Integration, dedup_key: str) -> dict[str, Any] | None:
    """The latest incident this integration's dedup key opened (open or not), or None."""
    claim = table.get_item(Key={"pk": dedup_claim_key(integration.name, dedup_key)}, ConsistentRead=True).get("Item")
    if claim is None:
        return None
    item = deps.incidents.get(str(claim["incident_id"]))
    if item is None or item.get("dedup_key") != dedup_key or item.get("integration") != integration.name:
        return None
    return item
