"""SNS handler: a contact's SMS reply acknowledges (YES) or declines (NO) an incident that paged them.

Every side effect of a reply (the reply's timeline entry, completing the task token, the
confirmation, each notice to the other contacts, each automatic answer) has its own once-only key:
when a step fails the invocation fails, the inbound message is delivered again, and the retry redoes
what did not happen and skips what did. The state change itself is a conditional write that records
which inbound message made it (`acknowledged_via`), so a retry knows the incident is its own.
"""

import dataclasses
import hashlib
from collections.abc import Callable
from functools import partial
from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from escalation.incidents import acknowledgement
from escalation.incidents.levels import current_numbers, paged_contacts
from escalation.incidents.resolve import Outcome, resolve
from escalation.incidents.status import Event, Status, WorkflowError, is_open
from escalation.incidents.timeline import timeline_entry, utc_now
from escalation.platform import aws_clients
from escalation.platform.observability import (
    INCIDENTS_ACKNOWLEDGED,
    REPLIES_RECEIVED,
    count,
    logger,
    metrics,
    publish_time_to_acknowledge,
)
from escalation.platform.wiring import Dependencies, dependencies
from escalation.replies.grammar import Intent, Reply, id_key, parse_reply
from escalation.replies.inbound import InboundSms, InvalidInbound, parse_inbound
from escalation.replies.matching import Inbox
from escalation.sms import messages
from escalation.sms.messages import Sms
from escalation.sms.phone_numbers import mask

CLOSED_REPLIES_KEPT = 5  # reply entries a closed incident's timeline keeps; the rest are only counted


class _StaleToken(Exception):
    """The workflow no longer waits on the token: nothing was completed (the once-only key is given back)."""


class _Reply:
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
        except _StaleToken:
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


def incident_key(item: dict[str, Any]) -> str:
    """The incident id and its execution: a new incident written over an old id gets fresh once-only keys."""
    execution = str(item.get("execution_arn", "")).rsplit(":", 1)[-1]
    return f"{item['incident_id']}#{execution}"


def _complete_task(call: Callable[..., object], **kwargs: Any) -> None:
    """Complete a parked task token; raises _StaleToken when the workflow no longer waits on it."""
    try:
        call(**kwargs)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in acknowledgement.STALE_TOKEN_CODES:
            raise _StaleToken(str(error)) from error
        raise


# -- acknowledge -----------------------------------------------------------------------------------


def _take(ctx: _Reply, item: dict[str, Any]) -> dict[str, Any] | None:
    """Acknowledge item for this reply; the item as it now stands when it is ours, None when someone else has it."""
    ctx.record(item)
    taken = acknowledgement.take(ctx.deps.incidents, item, by=ctx.sender, via=ctx.inbound_id, at=utc_now())
    if taken is None:
        return None
    if taken.now:
        count(INCIDENTS_ACKNOWLEDGED)
    return taken.item


def _time_to_acknowledge(ctx: _Reply, item: dict[str, Any]) -> None:
    """Publish how long the incident waited for this acknowledgement: once per incident, however often the reply is retried."""
    created = [entry["at"] for entry in item.get("timeline", []) if entry.get("event") == Event.CREATED]
    if not created or "acknowledged_at" not in item:
        logger.warning("no creation time on the incident; time to acknowledge not published", extra={"id": item["incident_id"]})
        return
    level = int(item.get("escalation_level", 0))
    ctx.once(
        f"ack_metric#{incident_key(item)}",
        lambda: publish_time_to_acknowledge(str(created[-1]), str(item["acknowledged_at"]), level),
    )


def _stop_escalation(ctx: _Reply, item: dict[str, Any]) -> None:
    """Complete the parked task token of an incident this reply acknowledged (once), then drop the token."""
    token = item.get("task_token")
    if not token:
        return  # exhausted before the YES: no workflow waits
    sfn = aws_clients.stepfunctions()
    key = f"ack_task#{incident_key(item)}"
    output = acknowledgement.task_output(ctx.sender)
    ctx.once(key, partial(acknowledgement.complete_task, sfn.send_task_success, taskToken=token, output=output))
    if ctx.deps.once.done(key):
        ctx.deps.incidents.forget_token(str(item["incident_id"]), str(token))


def _tell_the_others(ctx: _Reply, item: dict[str, Any]) -> None:
    """Tell everyone else paged who took the incident (each once); courtesy texts skip unreachable numbers."""
    notice = messages.acknowledged_notice(str(item["incident_id"]), ctx.sender)
    for contact in paged_contacts(item):
        if contact != ctx.sender:
            ctx.text("ack_notice", contact, notice, item, kind="acknowledged_notice")


def _someone_else_has_it(ctx: _Reply, item: dict[str, Any]) -> str:
    """A YES or NO about an incident already acknowledged: who has it (once), nothing to its holder."""
    current = ctx.deps.incidents.get(str(item["incident_id"])) or item
    if current.get("incident_stat") == Status.RESOLVED:
        return _already_resolved(ctx, current)
    holder = str(current.get("acknowledged_by", ""))
    if holder == ctx.sender:
        return "already_yours"
    return ctx.answer("already_acknowledged", messages.already_acknowledged(str(item["incident_id"]), holder), current)


def _acknowledge(ctx: _Reply, inbox: Inbox, item: dict[str, Any]) -> str:
    taken = _take(ctx, item)
    if taken is None:
        return ctx.finish(_someone_else_has_it(ctx, item))
    incident_id = str(item["incident_id"])
    _time_to_acknowledge(ctx, taken)
    _stop_escalation(ctx, taken)
    also_open = inbox.open_ids(exclude=(incident_id,))
    ctx.text("confirmation", ctx.sender, messages.acknowledged_confirmation(incident_id, also_open), taken, kind="confirmation")
    _tell_the_others(ctx, taken)
    return ctx.finish("acknowledged")


def _acknowledge_all(ctx: _Reply, inbox: Inbox) -> str:
    """YES ALL: take every incident open for the sender (however many), confirm at once, then stop and tell.

    The others paged get one digest each (one notice when a single incident paged them), not one text per incident.
    """
    targets = inbox.all_open(ctx.inbound_id)
    if not targets:
        return _nothing_open(ctx, inbox)
    taken = [item for item in (_take(ctx, target) for target in targets) if item is not None]
    if not taken:
        return ctx.finish(_someone_else_has_it(ctx, targets[0]))
    ids = [str(item["incident_id"]) for item in taken]
    confirmation = messages.acknowledged_all_confirmation(ids, inbox.open_ids(exclude=tuple(ids)))
    ctx.send_once(f"confirmation_all#{ctx.inbound_id}", ctx.sender, confirmation, ids[0], kind="confirmation")
    for item in taken:
        _time_to_acknowledge(ctx, item)
        _stop_escalation(ctx, item)
    _tell_the_others_at_once(ctx, taken)
    return ctx.finish(f"acknowledged_all:{len(ids)}")


def _tell_the_others_at_once(ctx: _Reply, taken: list[dict[str, Any]]) -> None:
    """Who took these incidents, to everyone else they paged: a digest per person, or the notice when only one paged them."""
    owed: dict[str, list[dict[str, Any]]] = {}
    for item in taken:
        for contact in paged_contacts(item):
            if contact != ctx.sender:
                owed.setdefault(contact, []).append(item)
    for contact, items in owed.items():
        if len(items) == 1:
            ctx.text("ack_notice", contact, messages.acknowledged_notice(str(items[0]["incident_id"]), ctx.sender), items[0],
                     kind="acknowledged_notice")  # fmt: skip
            continue
        keys = [f"ack_notice#{incident_key(item)}#{contact}" for item in items]
        pending = [item for item, key in zip(items, keys, strict=True) if not ctx.deps.once.done(key)]
        if not pending:
            continue
        digest = messages.acknowledged_digest([str(item["incident_id"]) for item in pending], ctx.sender)

        def send(
            to: str = contact, sms: messages.Sms = digest, first: dict[str, Any] = pending[0], done: list[str] = keys
        ) -> None:
            ctx.deps.notifier.send_courtesy(
                to, sms, incident_id=str(first["incident_id"]), kind="acknowledged_notice",
                execution=str(first.get("execution_arn", "")) or None,
            )  # fmt: skip
            for key in done:  # each incident's own notice is then owed no more (an API repeat finishes nothing twice)
                ctx.deps.once.mark_done(key)

        ctx.once(f"ack_digest#{ctx.inbound_id}#{contact}", send)


# -- decline ---------------------------------------------------------------------------------------


def _decline(ctx: _Reply, item: dict[str, Any]) -> str:
    incident_id = str(item["incident_id"])
    ctx.record(item)
    declined_key = f"decline#{ctx.inbound_id}"
    if ctx.deps.once.done(declined_key):
        return ctx.finish("declined")  # a retry of a NO that already completed the task
    token = item.get("task_token")
    # Any one of a level's targets (a policy level pages several together) can decline it; the others can still YES.
    if is_open(item) and ctx.sender in current_numbers(item) and token:
        sfn = aws_clients.stepfunctions()
        try:
            ctx.once(
                declined_key,
                lambda: _complete_task(
                    sfn.send_task_failure, taskToken=token, error=WorkflowError.DECLINED.value, cause="declined by SMS"
                ),
            )
            return ctx.finish("declined")
        except _StaleToken:
            pass  # timed out meanwhile: the escalation has already moved past this contact
    if item.get("incident_stat") in (Status.ACKNOWLEDGED, Status.RESOLVED):
        return ctx.finish(_someone_else_has_it(ctx, item))
    ctx.deps.incidents.mark_double_escalation(incident_id, entries=[])
    return ctx.finish(ctx.answer("already_escalated", messages.already_escalated(incident_id), item))


# -- resolve ---------------------------------------------------------------------------------------


def _already_resolved(ctx: _Reply, item: dict[str, Any], open_ids: tuple[str, ...] = ()) -> str:
    """A reply about a resolved incident: who resolved it, and what else is open (once per number).

    Its resolver gets nothing, unless something else is open for them.
    """
    holder = str(item.get("resolved_by", ""))
    if holder == ctx.sender and not open_ids:
        return "already_yours"
    return ctx.answer("already_resolved", messages.already_resolved(str(item["incident_id"]), holder, open_ids), item)


def _resolve(ctx: _Reply, item: dict[str, Any]) -> str:
    """RESOLVE from anyone the incident paged: stop the escalation and tell everyone paged (escalation.resolve)."""
    ctx.record(item)
    outcome = resolve(ctx.deps, str(item["incident_id"]), by=ctx.sender, via=ctx.inbound_id, at=utc_now())
    if outcome == Outcome.RESOLVED:
        return ctx.finish("resolved")
    current = ctx.deps.incidents.get(str(item["incident_id"])) or item
    if outcome == Outcome.ALREADY_RESOLVED:
        return ctx.finish(_already_resolved(ctx, current))
    return ctx.finish(ctx.answer("nothing_open", messages.nothing_open(str(item["incident_id"])), current))


# -- not understood, nothing open, unknown id ------------------------------------------------------


def _nothing_open(ctx: _Reply, inbox: Inbox) -> str:
    """The incident of the sender's latest page cannot take a bare keyword: say so once, listing what else is open.

    Nothing else happens: a bare keyword never falls through to an older incident.
    """
    latest = inbox.latest
    assert latest is not None  # the caller checked the inbox is not empty
    ctx.record(latest)
    others = tuple(inbox.open_ids(exclude=(str(latest["incident_id"]),)))
    if latest.get("incident_stat") == Status.RESOLVED:
        return ctx.finish(_already_resolved(ctx, latest, others))
    holder = str(latest.get("acknowledged_by", "")) if latest.get("incident_stat") == Status.ACKNOWLEDGED else None
    if holder == ctx.sender and not others:
        return ctx.finish("already_yours")  # they have the confirmation; an auto-responder gets nothing more
    sms = messages.nothing_open(str(latest["incident_id"]), holder, others)
    return ctx.finish(ctx.answer("nothing_open", sms, latest))


def _which_of_the_batch(ctx: _Reply, inbox: Inbox) -> str:
    """A bare keyword after a batch text: it acts on none of the batch; ask for YES ALL or YES <id> (once per batch)."""
    open_ids = set(inbox.open_ids())
    listed = [incident_id for incident_id in inbox.batch_ids if incident_id in open_ids]
    if not listed:
        return _nothing_open(ctx, inbox)
    latest = inbox.latest
    assert latest is not None  # the batch's incidents are in the inbox
    ctx.record(latest)
    sms = messages.batch_needs_id(listed, [other for other in inbox.open_ids() if other not in listed])
    return ctx.finish(ctx.answer("batch_needs_id", sms, latest))


def _unknown_incident(ctx: _Reply, inbox: Inbox, named: str) -> str:
    """An id that matches no incident paged to the sender: say which are open, do nothing else."""
    context = inbox.current(ctx.inbound_id) or inbox.latest
    assert context is not None
    ctx.record(context, named=named[:128])
    sms = messages.unknown_incident(named, inbox.open_ids())
    named_key = hashlib.sha256(id_key(named).encode()).hexdigest()[:16]
    sent = ctx.text(f"unknown_id#{named_key}", ctx.sender, sms, context, kind="reply")
    return ctx.finish("unknown_incident" if sent else "unknown_incident_already_sent")


def _help(ctx: _Reply, inbox: Inbox, item: dict[str, Any]) -> str:
    ctx.record(item)
    incident_id = str(item["incident_id"])
    return ctx.finish(ctx.answer("help", messages.help_text(incident_id, inbox.open_ids()), item))


def handle_inbound(sms: InboundSms) -> str:
    """Act on one inbound SMS; returns what was done (for logs and tests)."""
    deps = dependencies()
    reply = parse_reply(sms.message_body)
    if reply.intent == Intent.SERVICE_KEYWORD:
        return "service_keyword"  # STOP, HELP and friends are answered by End User Messaging itself
    sender = sms.origination_number
    inbox = Inbox(deps.incidents, deps.message_log, sender)
    if not inbox:
        logger.info("reply from a number with no page; ignored", extra={"from": mask(sender)})
        return "unknown_sender"
    count(REPLIES_RECEIVED)
    ctx = _Reply(deps, sms, reply)
    if reply.intent == Intent.ACKNOWLEDGE_ALL:
        return _acknowledge_all(ctx, inbox)
    if reply.incident_id is not None:
        item = inbox.named(reply.incident_id)
        if item is None:
            return _unknown_incident(ctx, inbox, reply.incident_id)
    elif reply.intent == Intent.RESOLVE:
        item = inbox.to_resolve(ctx.inbound_id)  # an acknowledged incident can still be resolved
    else:
        item = inbox.current(ctx.inbound_id)
    logger.info(
        "reply received",
        extra={"incident_id": item and item["incident_id"], "from": mask(sender), "intent": str(reply.intent)},
    )
    if item is None and inbox.batch_ids and reply.incident_id is None:
        return _which_of_the_batch(ctx, inbox)
    if item is None:
        return _nothing_open(ctx, inbox)
    if reply.intent == Intent.ACKNOWLEDGE:
        return _acknowledge(ctx, inbox, item)
    if reply.intent == Intent.DECLINE:
        return _decline(ctx, item)
    if reply.intent == Intent.RESOLVE:
        return _resolve(ctx, item)
    return _help(ctx, inbox, item)


def _process_once(deps: Dependencies) -> Any:
    """handle_inbound wrapped so each inboundMessageId is processed once (stored in the message table)."""
    config = IdempotencyConfig(
        event_key_jmespath="inbound_message_id", expires_after_seconds=deps.settings.message_ttl_days * 86400
    )

    @idempotent_function(data_keyword_argument="message", config=config, persistence_store=deps.inbound_store)  # type: ignore[untyped-decorator]
    def process(message: dict[str, Any]) -> str:
        return handle_inbound(InboundSms(**message))

    return process, config


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Entry point: SNS notification records carrying inbound SMS payloads."""
    process, config = _process_once(dependencies())
    config.register_lambda_context(context)
    outcomes = []
    for record in event.get("Records", []):
        try:
            sms = parse_inbound(record.get("Sns", {}).get("Message"))
        except InvalidInbound as error:
            # Retrying cannot fix a malformed payload; say what is wrong and drop it.
            logger.error("inbound SMS payload rejected", extra={"error": str(error)})
            outcomes.append("rejected")
            continue
        outcomes.append(process(message=dataclasses.asdict(sms)))
    return {"outcomes": outcomes}
