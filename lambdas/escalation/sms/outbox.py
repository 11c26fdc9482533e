"""Sending a text to a contact and remembering it, so that replies can be matched.

Send slots (escalation.send_rate): a page's slot is reserved by the page task, which sends at its start
(`slot_reserved`). Any other text (acknowledged, resolved and escalated notices, confirmations, handoff
notices, a batched page) takes a slot only if one starts within MAX_COURTESY_WAIT_SECONDS, and waits for
it; otherwise it goes out at once without reserving one, so the queue never holds a slot nobody uses and
a page never waits behind notices that already went out. Such a text may be throttled by the service:
nothing retries it here (the SMS client makes one attempt); send_courtesy raises SmsThrottled so that its
caller gives back the once-only key and a retry sends it, send_best_effort logs it and drops it.

Storms (escalation.paging.storms): a notice (escalated, unacknowledged, acknowledged, resolved) to a person in a
storm joins their digest instead of going alone; confirmations and answers are never held. The notice that opens a
digest hands it to the storm digest function (escalation.sms.digest_flush), which sends it when it closes, or
leaves it to a page batch to the person closing within seconds, whose text takes it along (escalation.paging.batch_pages).
"""

import time
from typing import Any

from escalation.incidents.timeline import utc_now
from escalation.paging.batching import Batches
from escalation.paging.digests import MERGE_SECONDS, Digests
from escalation.paging.storms import Storms
from escalation.paging.storms import now_ms as storm_now_ms
from escalation.platform.observability import ESCALATION_PAGES, SMS_CEILING_REACHED, SMS_SEGMENTS, SMS_SENT, count, logger
from escalation.sms.ceiling import SmsCeiling, SmsCeilingReached
from escalation.sms.client import SmsAccountFault, SmsFailed, SmsSender, SmsThrottled
from escalation.sms.digest_flush import DigestFlusher
from escalation.sms.messages import Sms
from escalation.sms.phone_numbers import mask
from escalation.sms.send_rate import SendRate, now_ms
from escalation.sms.storm_messages import storm_digest
from escalation.store.message_log import MessageLog

COURTESY_TTL_SECONDS = 3600  # a notice or confirmation delivered an hour late only confuses
DIGEST_SLEEP_STEP_SECONDS = 30.0  # a digest's wait, in steps (a clock that jumps, a window that moved)
MERGE_GRACE_SECONDS = 5.0  # how long past a page batch's closing a digest waits for the batch to take it along
MAX_COURTESY_WAIT_SECONDS = 1.0  # a slot this close is reserved and waited for; past it, send now and reserve none
DIGESTED_KINDS = frozenset({"escalated_notice", "exhausted_notice", "acknowledged_notice", "resolved_notice", "reminder"})


class Notifier:
    """Sends SMS through the configured API at the identity's send rate, and logs each MessageId with its incident."""

    def __init__(
        self,
        sender: SmsSender,
        message_log: MessageLog,
        *,
        send_rate: SendRate | None = None,
        ceiling: SmsCeiling | None = None,
        storms: Storms | None = None,
        digest_segments: int = 1,
        flusher: DigestFlusher | None = None,
        batches: Batches | None = None,
    ) -> None:
        self.storms = storms
        self.digests = Digests(storms) if storms is not None else None
        self._batches = batches
        self._flusher = flusher
        self._digest_segments = digest_segments
        self._sender = sender
        self._log = message_log
        self._rate = send_rate
        self._ceiling = ceiling

    def seconds_to_slot(self, sms: Sms) -> float:
        """Reserve the next send slot for sms, however far; how long until it starts (0 when it is free now).

        For a page only: its caller must send it when the slot starts, then with slot_reserved.
        """
        if self._rate is None:
            return 0.0
        return max(0.0, (self._rate.reserve(sms.segments) - now_ms()) / 1000)

    def send(
        self,
        to: str,
        sms: Sms,
        *,
        incident_id: str,
        level: int,
        kind: str,
        ttl_seconds: int,
        slot_reserved: bool = False,
        execution: str | None = None,
        batch: str | None = None,
    ) -> str:
        """Send sms to a contact; raises SmsThrottled, SmsFailed or SmsAccountFault (SmsCeilingReached included).

        slot_reserved: the caller reserved this text's slot and it has started (a page); otherwise the text
        takes a slot only if one is free within MAX_COURTESY_WAIT_SECONDS (see the module's docstring).
        execution: the incarnation of the incident the text is about (the per-incident ceiling counts its texts).
        batch: the batch a page text lists (its message log rows say so: a bare keyword then acts on none).
        """
        if self._ceiling is not None:
            try:
                self._ceiling.take(incident_id, execution=execution, to=to, kind=kind)
            except SmsCeilingReached:
                count(SMS_CEILING_REACHED)
                raise
        if (
            not slot_reserved
            and self._rate is not None
            and not self._rate.take(sms.segments, max_wait_seconds=MAX_COURTESY_WAIT_SECONDS)
        ):
            logger.info(
                "sms sent without a send slot: the next free one is further than a courtesy text waits",
                extra={"incident_id": incident_id, "to": mask(to), "kind": kind},
            )
        message_id = self._sender.send(to, sms.body, incident_id=incident_id, ttl_seconds=ttl_seconds)
        self._log.record(
            message_id, incident_id=incident_id, contact=to, level=level, kind=kind, at=utc_now(), execution=execution,
            batch=batch,
        )  # fmt: skip
        count(SMS_SENT)
        count(SMS_SEGMENTS, sms.segments)
        if kind == "page" and level > 0:  # reminders and courtesy texts are not escalations
            count(ESCALATION_PAGES)
        logger.info(
            "sms sent",
            extra={
                "incident_id": incident_id,
                "to": mask(to),
                "kind": kind,
                "level": level,
                "segments": sms.segments,
                "encoding": sms.encoding,
                "message_id": message_id,
            },
        )
        return message_id

    def send_courtesy(
        self, to: str, sms: Sms, *, incident_id: str, kind: str, level: int = 0, execution: str | None = None
    ) -> str | None:
        """Send a courtesy text under a once-only key; None when the number can never get it.

        A number opted out or invalid, or a ceiling reached, is logged and counts as done; throttling and faults
        of our account raise, so the key is given back and a retry sends it. A notice in a storm is held for the
        person's digest (None unless this call sent the digest).
        """
        try:
            if self._held(to, kind, incident_id=incident_id, execution=execution):
                return self._send_digest(to, incident_id=incident_id, kind=kind, execution=execution)
            return self.send(
                to, sms, incident_id=incident_id, level=level, kind=kind, ttl_seconds=COURTESY_TTL_SECONDS, execution=execution
            )
        except (SmsFailed, SmsCeilingReached) as error:  # retrying cannot help: done, not sent
            logger.warning(
                "courtesy sms not deliverable",
                extra={"incident_id": incident_id, "to": mask(to), "kind": kind, "error": str(error)},
            )
            return None

    def send_best_effort(
        self, to: str, sms: Sms, *, incident_id: str, level: int, kind: str, execution: str | None = None
    ) -> str | None:
        """Send a courtesy text (notice, confirmation); a failure is logged, never raised."""
        try:
            if self._held(to, kind, incident_id=incident_id, execution=execution):
                return self._send_digest(to, incident_id=incident_id, kind=kind, execution=execution)
            return self.send(
                to, sms, incident_id=incident_id, level=level, kind=kind, ttl_seconds=COURTESY_TTL_SECONDS, execution=execution
            )
        except (SmsFailed, SmsThrottled, SmsAccountFault) as error:
            logger.warning(
                "courtesy sms not sent", extra={"incident_id": incident_id, "to": mask(to), "kind": kind, "error": str(error)}
            )
            return None

    def hold_reminder(self, to: str, *, incident_id: str, execution: str) -> bool:
        """In a storm, hold a reminder for the person's digest instead of sending it alone; False outside a storm."""
        if not self._held(to, "reminder", incident_id=incident_id, execution=execution):
            return False
        self._send_digest(to, incident_id=incident_id, kind="reminder", execution=execution)
        return True

    def _held(self, to: str, kind: str, *, incident_id: str, execution: str | None) -> bool:
        """True when this notice goes to a person in a storm: it is held for their digest, not sent alone."""
        return self.storms is not None and kind in DIGESTED_KINDS and self.storms.note(to, incident_id)

    def _send_digest(self, to: str, *, incident_id: str, kind: str, execution: str | None) -> str | None:
        """Add the notice to the person's digest; the notice that opened it hands it to the storm digest function.

        Without that function (a deployment without storms' own function, or a test), the opener waits for the
        digest to close and sends it itself.
        """
        assert self.storms is not None and self.digests is not None
        key = f"{kind}#{incident_id}#{execution or ''}#{to}"
        flush_at, opener = self.digests.hold(to, {"key": key, "kind": kind, "incident_id": incident_id})
        self.storms.extend(to, beyond=flush_at / 1000)  # the storm outlasts what it holds for the person
        if not opener:
            logger.info("notice held for a storm digest", extra={"incident_id": incident_id, "to": mask(to), "kind": kind})
            return None
        if self._flusher is not None:
            self._flusher.flush_later(to, flush_at, key)
            logger.info("storm digest opened", extra={"incident_id": incident_id, "to": mask(to), "flush_at": flush_at})
            return None
        return self.flush_digest(to, flush_at, key)

    def flush_digest(self, to: str, flush_at: int, taker: str) -> str | None:
        """Wait until the digest closing at flush_at has closed, then send it, once; None when someone else sent it.

        Called by the storm digest function with the opener's key (or by the opener itself); a retry finds it sent.
        A page batch to the person closing within MERGE_SECONDS is waited for: it takes the digest along (one text).
        A send that fails gives the digest back before it raises: the retry takes it again, and a notice meanwhile
        joins it rather than replacing it. Only a crash between the send and its record sends it twice (a courtesy
        text: better twice than never).
        """
        assert self.storms is not None and self.digests is not None
        _sleep_until(flush_at)
        self._wait_for_closing_batch(to)
        members = self.digests.take(to, flush_at, taker=taker)
        if members is None:
            members = self._take_back(to, flush_at, taker)
        if not members:
            return None  # a batch sent it along, or a later notice found it due first and sends it
        self.storms.extend(to)
        digest = storm_digest(members, self._digest_segments)
        first = str(members[0]["incident_id"])
        try:
            message_id = self.send(to, digest, incident_id=first, level=0, kind="storm_digest", ttl_seconds=COURTESY_TTL_SECONDS)
        except (SmsFailed, SmsThrottled, SmsAccountFault):
            # Given back before the retry: a notice meanwhile then joins this digest instead of replacing it.
            due = self.digests.give_back(to, flush_at, members, taker=taker)
            if due is not None and due != flush_at:
                self._hand_over(to, due, taker)  # a newer digest replaced it: its notices opened the next one
            raise
        self.digests.sent(to, flush_at)
        return message_id

    def _wait_for_closing_batch(self, to: str) -> None:
        """If a page batch to the person closes within MERGE_SECONDS (or just closed), wait until it has had its go."""
        closes = self._batches.closes_at(to) if self._batches is not None else None
        if closes is not None and -MERGE_GRACE_SECONDS * 1000 <= closes - storm_now_ms() <= MERGE_SECONDS * 1000:
            _sleep_until(closes + int(MERGE_GRACE_SECONDS * 1000))

    def _take_back(self, to: str, flush_at: int, taker: str) -> list[dict[str, Any]] | None:
        """A page batch took the digest along: wait for its lease; the members if it never sent it, else None."""
        assert self.digests is not None
        while (lease := self.digests.lease_until(to, flush_at)) is not None:
            _sleep_until(lease + 500)
            members = self.digests.reclaim(to, flush_at, taker=taker)
            if members is not None:
                logger.warning("a page batch took this digest along and never sent it: sent alone", extra={"to": mask(to)})
                return members
        return None

    def take_digest_along(self, to: str, *, taker: str) -> tuple[int, list[dict[str, Any]]] | None:
        """For a page batch about to go: the person's digest due within MERGE_SECONDS, (flush_at, members), or None.

        The caller sends it with the batch and then calls digest_sent_along, or give_digest_back if the text failed.
        """
        return self.digests.take_along(to, taker) if self.digests is not None else None

    def digest_sent_along(self, to: str, flush_at: int) -> None:
        """The digest closing at flush_at went out with a page batch."""
        assert self.digests is not None
        self.digests.sent(to, flush_at)

    def give_digest_back(self, to: str, flush_at: int, members: list[dict[str, Any]], *, taker: str) -> None:
        """The page batch that took a digest along could not send it: the digest goes out on its own after all."""
        assert self.digests is not None
        due = self.digests.give_back(to, flush_at, members, taker=taker)
        if due is not None:  # else its own function took it back, or its notices joined an open digest
            self._hand_over(to, due, taker)

    def _hand_over(self, to: str, flush_at: int, taker: str) -> None:
        """Have the digest closing at flush_at, of which taker is the opener, sent by the storm digest function."""
        if self._flusher is not None:
            self._flusher.flush_later(to, flush_at, taker)
            return
        try:  # no digest function (tests): now, here
            self.flush_digest(to, flush_at, taker)
        except (SmsFailed, SmsThrottled, SmsAccountFault) as error:
            logger.warning("storm digest not sent", extra={"to": mask(to), "error": str(error)})


def _sleep_until(at_ms: int) -> None:
    """Sleep until at_ms (epoch ms), in steps (a clock that jumps, a window that moved)."""
    while (wait := (at_ms - storm_now_ms()) / 1000) > 0:
        time.sleep(min(wait, DIGEST_SLEEP_STEP_SECONDS))
