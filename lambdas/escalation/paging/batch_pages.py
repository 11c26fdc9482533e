"""Sending a storm's pages as one text (escalation.paging.batching keeps the batches; storms says when to batch)."""

import time
from typing import Any

from escalation.incidents.status import Event, is_open
from escalation.incidents.timeline import timeline_entry, utc_now
from escalation.paging.batching import Batches
from escalation.paging.batching import now_ms as batching_now_ms
from escalation.platform.observability import (
    PAGES_BATCHED,
    count,
    logger,
)
from escalation.platform.wiring import Dependencies
from escalation.sms import messages, storm_messages
from escalation.sms.client import SmsAccountFault, SmsFailed, SmsThrottled
from escalation.sms.send_rate import MAX_INLINE_WAIT_SECONDS
from escalation.store.once import SideEffectInProgress


def in_storm(deps: Dependencies, number: str, incident_id: str, *, busy: bool) -> bool:
    """Count this page as a text to number; True when it should join a batch: the person is in a storm.

    In a storm a page joins a batch even when no other page to the person is unanswered: pages racing to a person
    at the same instant each find none unanswered yet, and would otherwise each go alone. Without storm tracking
    (no digests deployed), a page joins one when another incident is open for the person (busy).
    """
    storms = deps.notifier.storms
    return storms.note(number, incident_id) if storms is not None else busy


def batch(deps: Dependencies, event: dict[str, Any], item: dict[str, Any], number: str, *, ttl: int, busy: bool) -> float:
    """Storm batching (escalation.batching): seconds this page waits for its batch; 0 when it needs no batch now.

    Only a first page (not a reminder) to a number in a storm (escalation.storms: texts coming fast) joins a batch:
    an isolated second page goes at once. A page that opens a batch for a person with no other incident open (busy)
    opens it for stormBatchSeconds only, not the storm's longer later windows: it may be the only page. A page
    that joined one goes with it even if the other incident closed meanwhile (the person acknowledged their first
    page within the window: the rest still arrive as one text). 0 also when the batch was sent (this page with
    it) or could not be: the page then goes out on its own.
    """
    incident_id: str = event["incident_id"]
    level, attempt = int(event["level"]), int(event.get("attempt", 0))
    page_key = f"{incident_id}#{event['execution']}#{level}#{attempt}#{number}"
    window = deps.settings.storm_batch_seconds
    if window <= 0 or attempt > 0 or deps.once.done(f"sent#{page_key}"):
        return 0.0
    batches = Batches(deps.once.table, window_seconds=window)
    if batches.joined(page_key) is None and not in_storm(deps, number, incident_id, busy=busy):
        return 0.0
    member: dict[str, Any] = {
        "page_key": page_key,
        "incident_id": incident_id,
        "execution": event["execution"],
        "level": level,
        "description": str(item.get("description", ""))[:80],
    }
    storms = deps.notifier.storms
    window_ms = storms.batch_window_ms(number, batches.window_ms) if storms is not None and busy else None
    flush_at = batches.join(number, page_key, member, window_ms=window_ms)
    if storms is not None:
        storms.extend(number, beyond=flush_at / 1000)  # the storm outlasts the batch it holds for the person
    wait = (flush_at - batching_now_ms()) / 1000
    if wait > MAX_INLINE_WAIT_SECONDS:
        return wait
    time.sleep(max(wait, 0.0))
    members = batches.take(number, flush_at)
    if members is None:  # another page of the batch took it: wait until it has held the pages, this one included
        batches.wait_held(number, flush_at)
        return 0.0  # the send below then finds this page's key held (and waits for the text) or sent, or free
    if len(members) == 1:
        batches.mark_held(number, flush_at)
        return 0.0  # a batch of one: the ordinary page
    # Hold each page's once-only key while the text goes: a page of the batch running now waits for it instead of
    # going out alone; one already going out alone (its key held elsewhere) is left out of the text.
    held: list[dict[str, Any]] = []
    for joined in members:
        try:
            if not deps.once.hold(f"sent#{joined['page_key']}"):
                continue
        except SideEffectInProgress:
            continue
        if joined["incident_id"] == incident_id or is_open(deps.incidents.get(str(joined["incident_id"])) or {}):
            held.append(joined)
        else:  # closed during the window (resolved, replaced): not listed; its own task ends without paging
            deps.once.release(f"sent#{joined['page_key']}")
    batches.mark_held(number, flush_at)
    if len(held) <= 1:
        for joined in held:
            deps.once.release(f"sent#{joined['page_key']}")
        return 0.0
    _send(deps, event, number, held, flush_at=flush_at, ttl=ttl)
    return 0.0


def _send(deps: Dependencies, event: dict[str, Any], number: str, held: list[dict[str, Any]], *, flush_at: int, ttl: int) -> None:
    """Send the batch's held pages as one text (with the person's digest if one is due), or release them to go alone."""
    incident_id: str = event["incident_id"]
    level = int(event["level"])
    batch = f"{number}#{flush_at}"
    pages = [(str(joined["incident_id"]), str(joined["description"])) for joined in held]
    # A digest of notices due for the person within seconds goes with the batch: one text wakes them once.
    along = deps.notifier.take_digest_along(number, taker=f"batch#{batch}")
    if along is None:
        text = messages.batch_page(pages, max_segments=deps.settings.max_sms_segments)
    else:
        text = storm_messages.batch_page_with_digest(pages, along[1], max_segments=deps.settings.max_sms_segments)
    # Every incident of the batch is on record as paged to this number before the text goes: a YES ALL sent the
    # instant it arrives must find them all (a record without the send is harmless: the pages then go out alone).
    # Each row names the batch, so a bare YES after the batch text acts on none of them (escalation.matching).
    at = utc_now()
    for index, joined in enumerate(held):
        deps.message_log.record(
            f"batch#{number}#{flush_at}#{index}", incident_id=str(joined["incident_id"]), contact=number,
            level=int(joined["level"]), kind="page", at=at, execution=joined.get("execution"), batch=batch,
        )  # fmt: skip
    try:
        message_id = deps.notifier.send(
            number, text, incident_id=incident_id, level=level, kind="page", ttl_seconds=ttl, execution=event["execution"],
            batch=batch,
        )  # fmt: skip
    except (SmsFailed, SmsThrottled, SmsAccountFault) as error:
        for joined in held:
            deps.once.release(f"sent#{joined['page_key']}")
        logger.warning("batched page not sent; each page goes out alone", extra={"incident_id": incident_id, "error": str(error)})
        if along is not None:
            deps.notifier.give_digest_back(number, along[0], along[1], taker=f"batch#{batch}")
        return
    count(PAGES_BATCHED, len(held))
    if along is not None:
        deps.notifier.digest_sent_along(number, along[0])
    if deps.notifier.storms is not None:
        deps.notifier.storms.batch_sent(number)
    sent_at = utc_now()
    for joined in held:
        entry = timeline_entry(
            Event.PAGED, sent_at, level=int(joined["level"]), phone=number, message_id=message_id, segments=text.segments,
            batched=len(held),
        )  # fmt: skip
        deps.incidents.record_sent(str(joined["incident_id"]), entry)
        deps.once.mark_done(f"sent#{joined['page_key']}")
