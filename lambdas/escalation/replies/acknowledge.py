"""YES and YES ALL: take the incident (one conditional write), stop its escalation, confirm, tell the others paged.

The rules of taking an incident are escalation.incidents.acknowledgement's (the incidents CLI shares
them); here are a reply's effects, each under its own once-only key (escalation.replies.context).
"""

from functools import partial
from typing import Any

from escalation.incidents import acknowledgement
from escalation.incidents.levels import paged_contacts
from escalation.incidents.resolve import incident_key
from escalation.incidents.status import Event
from escalation.incidents.timeline import utc_now
from escalation.platform.observability import INCIDENTS_ACKNOWLEDGED, count, logger, publish_time_to_acknowledge
from escalation.replies.answers import nothing_open, someone_else_has_it
from escalation.replies.context import ReplyContext
from escalation.replies.matching import Inbox
from escalation.sms import messages


def _take(ctx: ReplyContext, item: dict[str, Any]) -> dict[str, Any] | None:
    """Acknowledge item for this reply; the item as it now stands when it is ours, None when someone else has it."""
    ctx.record(item)
    taken = acknowledgement.take(ctx.deps.incidents, item, by=ctx.sender, via=ctx.inbound_id, at=utc_now())
    if taken is None:
        return None
    if taken.now:
        count(INCIDENTS_ACKNOWLEDGED)
    return taken.item


def _time_to_acknowledge(ctx: ReplyContext, item: dict[str, Any]) -> None:
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


def _stop_escalation(ctx: ReplyContext, item: dict[str, Any]) -> None:
    """Complete the parked task token of an incident this reply acknowledged (once), then drop the token."""
    token = item.get("task_token")
    if not token:
        return  # exhausted before the YES: no workflow waits
    sfn = ctx.deps.stepfunctions()
    key = f"ack_task#{incident_key(item)}"
    output = acknowledgement.task_output(ctx.sender)
    ctx.once(key, partial(acknowledgement.complete_task, sfn.send_task_success, taskToken=token, output=output))
    if ctx.deps.once.done(key):
        ctx.deps.incidents.forget_token(str(item["incident_id"]), str(token))


def _tell_the_others(ctx: ReplyContext, item: dict[str, Any]) -> None:
    """Tell everyone else paged who took the incident (each once); courtesy texts skip unreachable numbers."""
    notice = messages.acknowledged_notice(str(item["incident_id"]), ctx.sender)
    for contact in paged_contacts(item):
        if contact != ctx.sender:
            ctx.text("ack_notice", contact, notice, item, kind="acknowledged_notice")


def acknowledge(ctx: ReplyContext, inbox: Inbox, item: dict[str, Any]) -> str:
    """YES (or YES <id>): take item, stop its escalation, confirm to the sender (naming what else is open), tell the others."""
    taken = _take(ctx, item)
    if taken is None:
        return ctx.finish(someone_else_has_it(ctx, item))
    incident_id = str(item["incident_id"])
    _time_to_acknowledge(ctx, taken)
    _stop_escalation(ctx, taken)
    also_open = inbox.open_ids(exclude=(incident_id,))
    ctx.text("confirmation", ctx.sender, messages.acknowledged_confirmation(incident_id, also_open), taken, kind="confirmation")
    _tell_the_others(ctx, taken)
    return ctx.finish("acknowledged")


def acknowledge_all(ctx: ReplyContext, inbox: Inbox) -> str:
    """YES ALL: take every incident open for the sender (however many), confirm at once, then stop and tell.

    The others paged get one digest each (one notice when a single incident paged them), not one text per incident.
    """
    targets = inbox.all_open(ctx.inbound_id)
    if not targets:
        return nothing_open(ctx, inbox)
    taken = [item for item in (_take(ctx, target) for target in targets) if item is not None]
    if not taken:
        return ctx.finish(someone_else_has_it(ctx, targets[0]))
    ids = [str(item["incident_id"]) for item in taken]
    confirmation = messages.acknowledged_all_confirmation(ids, inbox.open_ids(exclude=tuple(ids)))
    ctx.send_once(f"confirmation_all#{ctx.inbound_id}", ctx.sender, confirmation, ids[0], kind="confirmation")
    for item in taken:
        _time_to_acknowledge(ctx, item)
        _stop_escalation(ctx, item)
    _tell_the_others_at_once(ctx, taken)
    return ctx.finish(f"acknowledged_all:{len(ids)}")


def _tell_the_others_at_once(ctx: ReplyContext, taken: list[dict[str, Any]]) -> None:
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
