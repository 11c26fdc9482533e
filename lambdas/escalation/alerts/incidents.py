"""Incidents opened by alerts: dedup keys, short ids, and acknowledging or resolving by dedup key.

Short ids. An incident opened by an alert gets a short id (`4821`), unique among open incidents, and that
id IS its `incident_id`. Every text, every reply rule, the timeline and the CLI already speak `incident_id`,
so `YES 4821` works with no second name to match, and no text can show the wrong one. An id is reused only
after it has rested (reusable(): 7 days after its incident closed; an alert's incident nobody resolves
gives it back 7 days after its last change), and a reply reaches an incident only in the incarnation that
paged the person (escalation.matching), so a late `YES 4821` never acts on a newer 4821. Writing a new
incident over the old item is the app's ordinary "new incident reusing an id" path: the stream archives the
old item in IncidentHistory first, the new one gets its own execution, and once-only keys carry the
execution, so nothing of the old incident is lost or acted on twice. Ids have 4 digits while fewer than half
of those are in use (estimated from a random sample at each draw, published as ShortIdPoolUsed and alarmed
at 50%), then 5, up to 8: a trigger never fails for want of an id. An id is taken with a conditional put of
a `short#NNNN` claim item (integrations table), which matters for STALE_CLAIM_SECONDS (the item decides
after that) and expires; the incident put is conditional too, so an open incident, or one written by hand,
is never overwritten.

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
import json
import secrets
import time
from datetime import UTC, datetime
from functools import partial
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from escalation.alerts.events import AlertEvent, incident_item, new_dedup_key
from escalation.alerts.integrations import Integration
from escalation.incidents.acknowledgement import complete_task, public_name
from escalation.incidents.resolve import contacts_paged, incident_key, resolve
from escalation.incidents.status import RESOLVABLE_STATUSES, Event, Status
from escalation.incidents.timeline import timeline_entry
from escalation.platform import aws_clients
from escalation.platform.observability import INCIDENTS_ACKNOWLEDGED, count, logger, metrics
from escalation.platform.wiring import Dependencies
from escalation.sms import messages
from escalation.store.incident_table import is_conditional_failure

SHORT_ID_DIGITS = 4
MAX_SHORT_ID_DIGITS = 8
POOL_SAMPLE = 8  # ids read per draw (one BatchGetItem): the free ones are tried, the share in use estimated
SHORT_ID_ROUNDS = 4  # draws per pool before a longer id
HALF = 0.5
SHORT_ID_REST_SECONDS = 7 * 86_400  # a closed incident's id rests this long; an unresolved alert's is given back after it
SHORT_ID_POOL_USED = "ShortIdPoolUsed"  # percent of the 4-digit pool in use (stacks/monitoring.py alarms at 50)
STALE_CLAIM_SECONDS = 120  # a claim whose incident never appeared: its opener died
DEDUP_CLAIM_TTL_SECONDS = 90 * 86_400  # an alert silent this long with its incident still open then opens a new one
CLAIM_TTL_SECONDS = 86_400  # a short id's claim matters for STALE_CLAIM_SECONDS; DynamoDB deletes it (late) after this
PARKED = frozenset({Status.ACKNOWLEDGED.value, Status.UNACKNOWLEDGED.value, Status.FAILED.value})
WAIT_FOR_START_SECONDS = 10.0
REPEATS_ON_TIMELINE = 20
OPEN_FOR_DEDUP = frozenset(status.value for status in RESOLVABLE_STATUSES)


class AlertsBusy(Exception):
    """The request could not be completed now (no short id free, a claim in flux); the sender should retry."""


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


def _age_seconds(claimed_at: Any) -> float:
    return time.time() - float(claimed_at or 0)


def reusable(item: dict[str, Any] | None, now: float | None = None) -> bool:
    """True when an incident's short id may name a new incident: no item, or one that has rested long enough.

    A closed (resolved, invalid) incident's id rests SHORT_ID_REST_SECONDS from its last change, so a late
    reply or CLI command about it finds nothing rather than a newer incident. An alert's incident nobody
    resolves (acknowledged, exhausted, failed) gives its id back after the same time: the new incident is
    written over it and the stream archives the old one, timeline and all, in the history table. An incident
    being escalated, or one written by hand and not closed, keeps its id.
    """
    if item is None:
        return True
    cutoff = _iso(time.time() if now is None else now, -SHORT_ID_REST_SECONDS)
    rested = str(item.get("stat_date") or "") < cutoff
    status = item.get("incident_stat")
    if status in (Status.RESOLVED, Status.INVALID):
        return rested
    return rested and status in PARKED and "dedup_key" in item


def _iso(epoch: float, offset_seconds: int = 0) -> str:
    """An epoch time as the timeline writes times (ISO 8601 UTC, milliseconds), offset_seconds later."""
    moment = datetime.fromtimestamp(epoch + offset_seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _draw(deps: Dependencies, digits: int) -> tuple[list[str], float]:
    """POOL_SAMPLE random ids of that many digits, those free among them, and the share of the sample in use."""
    sample = list(dict.fromkeys(f"{secrets.randbelow(10**digits):0{digits}d}" for _ in range(POOL_SAMPLE)))
    found = deps.incidents.get_many(sample)
    free = [short_id for short_id in sample if reusable(found.get(short_id))]
    return free, 1 - len(free) / len(sample)


def _claim_short_id(deps: Dependencies, table: Any, owner: str) -> str:
    """Take a short id no open incident has: 4 digits while fewer than half of them are in use, then 5, and so on.

    The share in use is estimated from a random sample at each draw and published (SHORT_ID_POOL_USED, percent
    of the 4-digit pool, alarmed at 50). A trigger never fails for want of an id: the pools grow to 8 digits.
    """
    published = False
    for digits in range(SHORT_ID_DIGITS, MAX_SHORT_ID_DIGITS + 1):
        for _ in range(SHORT_ID_ROUNDS):
            free, used = _draw(deps, digits)
            if not published:
                metrics.add_metric(name=SHORT_ID_POOL_USED, unit=MetricUnit.Percent, value=round(100 * used, 1))
                published = True
            if used >= HALF and digits < MAX_SHORT_ID_DIGITS:
                break  # this pool is half used or more: a longer id, before draws start failing
            for short_id in free:
                if _take_claim(table, short_id, owner):
                    return short_id
    raise AlertsBusy("no free short id")  # only when every draw raced another opener


def _take_claim(table: Any, short_id: str, owner: str) -> bool:
    """Hold the `short#` claim of an id about to be written (a concurrent opener drawing it backs off)."""
    key = {"pk": f"short#{short_id}"}
    now = int(time.time())
    claim = table.get_item(Key=key, ConsistentRead=True).get("Item")
    if claim is not None and now - int(claim.get("claimed_at", 0)) < STALE_CLAIM_SECONDS:
        return False  # being opened right now (or just opened: the item decides from here on)
    item = {"pk": key["pk"], "owner": owner, "claimed_at": now, "expires_at": now + CLAIM_TTL_SECONDS}
    try:
        if claim is None:
            table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
        else:
            table.put_item(
                Item=item,
                ConditionExpression="#owner = :old",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":old": claim["owner"]},
            )
    except ClientError as error:
        if is_conditional_failure(error):
            return False
        raise
    return True


def _release_short_id(table: Any, short_id: str, owner: str) -> None:
    try:
        table.delete_item(
            Key={"pk": f"short#{short_id}"},
            ConditionExpression="#owner = :me",
            ExpressionAttributeNames={"#owner": "owner"},
            ExpressionAttributeValues={":me": owner},
        )
    except ClientError as error:
        if not is_conditional_failure(error):
            raise


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
    short_id = _claim_short_id(deps, table, via)
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
        _release_short_id(table, short_id, via)
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
                ":cutoff": _iso(time.time(), -SHORT_ID_REST_SECONDS),
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
            sfn = aws_clients.stepfunctions()
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
    """Resolve for an integration (escalation.resolve); returns what happened."""
    return str(resolve(deps, incident_id, by=by, via=via, at=at))
