"""One inbound reply being acted on: who sent it, what it says, and the side effects it still owes.

Every side effect of a reply (the reply's timeline entry, completing the task token, the
confirmation, each notice to the other contacts, each automatic answer) has its own once-only key:
when a step fails the invocation fails, the inbound message is delivered again, and the retry redoes
what did not happen and skips what did. The state change itself is a conditional write that records
which inbound message made it (`acknowledged_via`), so a retry knows the incident is its own.
"""

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from escalation.incidents import acknowledgement
from escalation.incidents.resolve import incident_key
from escalation.incidents.status import Event
from escalation.incidents.timeline import timeline_entry, utc_now
from escalation.platform.observability import logger
from escalation.platform.wiring import Dependencies
from escalation.replies.grammar import Reply
from escalation.replies.inbound import InboundSms
from escalation.sms.messages import Sms

CLOSED_REPLIES_KEPT = 5  # reply entries a closed incident's timeline keeps; the rest are only counted


class StaleToken(Exception):
    """The workflow no longer waits on the token: nothing was completed (the once-only key is given back)."""


class ReplyContext:
    """One inbound reply being acted on: its sender, its words, and the side effects still owed."""

    def __init__(self, deps: Dependencies, sms: InboundSms, reply: Reply) -> None:
        self.deps = deps
        self.sms = sms
        self.reply = reply
        self.sender = sms.origination_number
        self.inbound_id = sms.inbound_message_id
        self.failures: list[Exception] = []

    # -- once-only side effects -----------------------------------------------------------------

    def once(self, key: str, action: Callable[[], object]) -> bool:
        """Run action under its once-only key; a failure is kept (raised at the end) so the rest still runs."""
        try:
            return self.deps.once.once(key, action)
        except StaleToken:
            raise
        except Exception as error:  # every failure is re-raised by finish()
            logger.warning("reply side effect failed; the retry redoes it", extra={"key": key, "error": str(error)})
            self.failures.append(error)
            return False

    def text(self, key: str, to: str, sms: Sms, item: dict[str, Any], kind: str) -> bool:
        """Send one text once per key, incident and number (see send_once)."""
        execution = str(item.get("execution_arn", "")) or None
        return self.send_once(f"{key}#{incident_key(item)}#{to}", to, sms, str(item["incident_id"]), kind, execution)

    def send_once(  # noqa: PLR0917 - the parts of one text
        self, key: str, to: str, sms: Sms, incident_id: str, kind: str, execution: str | None = None
    ) -> bool:
        """Send one text under key; a number that can never receive it (opted out, invalid) counts as done.

        Throttling and faults of our account raise: the key is given back and the retry sends it.
        """
        return self.once(
            key, lambda: self.deps.notifier.send_courtesy(to, sms, incident_id=incident_id, kind=kind, execution=execution)
        )

    def answer(self, kind: str, sms: Sms, item: dict[str, Any]) -> str:
        """An automatic answer: at most one of each kind per number and incident (no loop with an auto-responder)."""
        return kind if self.text(kind, self.sender, sms, item, kind="reply") else f"{kind}_already_sent"

    def record(self, item: dict[str, Any], **detail: Any) -> None:
        """Put the reply on the incident's timeline, once however often it is retried (capped once closed)."""
        level = int(item.get("escalation_level", 0))
        entry = timeline_entry(Event.REPLY, utc_now(), level=level, phone=self.sender, intent=str(self.reply.intent), **detail)
        incident_id = str(item["incident_id"])
        self.once(
            f"reply#{self.inbound_id}#{incident_id}",
            lambda: self.deps.incidents.record_reply(incident_id, entry, closed_cap=CLOSED_REPLIES_KEPT),
        )

    def finish(self, outcome: str) -> str:
        """The outcome, or the first failure so the message is delivered again and the rest redone."""
        if self.failures:
            raise self.failures[0]
        return outcome


def complete_task(call: Callable[..., object], **kwargs: Any) -> None:
    """Complete a parked task token; raises StaleToken when the workflow no longer waits on it."""
    try:
        call(**kwargs)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in acknowledgement.STALE_TOKEN_CODES:
            raise StaleToken(str(error)) from error
        raise
