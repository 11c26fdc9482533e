"""Short ids for incidents opened by alerts: drawn, claimed, rested, and given back.

Short ids. An incident opened by an alert gets a short id (`4821`), unique among open incidents, and that
id IS its `incident_id`. Every text, every reply rule, the timeline and the CLI already speak `incident_id`,
so `YES 4821` works with no second name to match, and no text can show the wrong one. An id is reused only
after it has rested (reusable(): 7 days after its incident closed; an alert's incident nobody resolves
gives it back 7 days after its last change), and a reply reaches an incident only in the incarnation that
paged the person (escalation.replies.matching), so a late `YES 4821` never acts on a newer 4821. Writing a new
incident over the old item is the app's ordinary "new incident reusing an id" path: the stream archives the
old item in IncidentHistory first, the new one gets its own execution, and once-only keys carry the
execution, so nothing of the old incident is lost or acted on twice. Ids have 4 digits while fewer than half
of those are in use (estimated from a random sample at each draw, published as ShortIdPoolUsed and alarmed
at 50%), then 5, up to 8: a trigger never fails for want of an id. An id is taken with a conditional put of
a `short#NNNN` claim item (integrations table), which matters for STALE_CLAIM_SECONDS (the item decides
after that) and expires; the incident put is conditional too, so an open incident, or one written by hand,
is never overwritten.
"""

import secrets
import time
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from escalation.incidents.status import Status
from escalation.platform.observability import metrics
from escalation.platform.wiring import Dependencies
from escalation.store.incident_table import is_conditional_failure

SHORT_ID_DIGITS = 4
MAX_SHORT_ID_DIGITS = 8
POOL_SAMPLE = 8  # ids read per draw (one BatchGetItem): the free ones are tried, the share in use estimated
SHORT_ID_ROUNDS = 4  # draws per pool before a longer id
HALF = 0.5
SHORT_ID_REST_SECONDS = 7 * 86_400  # a closed incident's id rests this long; an unresolved alert's is given back after it
SHORT_ID_POOL_USED = "ShortIdPoolUsed"  # percent of the 4-digit pool in use (stacks/monitoring.py alarms at 50)
STALE_CLAIM_SECONDS = 120  # a claim whose incident never appeared: its opener died
CLAIM_TTL_SECONDS = 86_400  # a short id's claim matters for STALE_CLAIM_SECONDS; DynamoDB deletes it (late) after this

PARKED = frozenset({Status.ACKNOWLEDGED.value, Status.UNACKNOWLEDGED.value, Status.FAILED.value})


class AlertsBusy(Exception):
    """The request could not be completed now (no short id free, a claim in flux); the sender should retry."""


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
    cutoff = iso_at(time.time() if now is None else now, -SHORT_ID_REST_SECONDS)
    rested = str(item.get("stat_date") or "") < cutoff
    status = item.get("incident_stat")
    if status in (Status.RESOLVED, Status.INVALID):
        return rested
    return rested and status in PARKED and "dedup_key" in item


def iso_at(epoch: float, offset_seconds: int = 0) -> str:
    """An epoch time as the timeline writes times (ISO 8601 UTC, milliseconds), offset_seconds later."""
    moment = datetime.fromtimestamp(epoch + offset_seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _draw(deps: Dependencies, digits: int) -> tuple[list[str], float]:
    """POOL_SAMPLE random ids of that many digits, those free among them, and the share of the sample in use."""
    sample = list(dict.fromkeys(f"{secrets.randbelow(10**digits):0{digits}d}" for _ in range(POOL_SAMPLE)))
    found = deps.incidents.get_many(sample)
    free = [short_id for short_id in sample if reusable(found.get(short_id))]
    return free, 1 - len(free) / len(sample)


def claim_short_id(deps: Dependencies, table: Any, owner: str) -> str:
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


def release_short_id(table: Any, short_id: str, owner: str) -> None:
    """Give back a short id this opener claimed but did not use (its incident was never written)."""
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
