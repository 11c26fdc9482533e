"""NO, RESOLVE, and the answers to a reply that cannot act (someone else has it, nothing open, unknown id, not understood).

Each automatic answer goes at most once per kind, number and incident (escalation.replies.context), so an
auto-responder never starts a loop.
"""

import hashlib
from typing import Any

from escalation.incidents.levels import current_numbers
from escalation.incidents.resolve import Outcome, resolve
from escalation.incidents.status import Status, WorkflowError, is_open
from escalation.incidents.timeline import utc_now
from escalation.replies.context import ReplyContext, StaleToken, complete_task
from escalation.replies.grammar import id_key
from escalation.replies.matching import Inbox
from escalation.sms import messages

# -- someone else has it, already resolved ---------------------------------------------------------


def someone_else_has_it(ctx: ReplyContext, item: dict[str, Any]) -> str:
    """A YES or NO about an incident already acknowledged: who has it (once), nothing to its holder."""
    current = ctx.deps.incidents.get(str(item["incident_id"])) or item
    if current.get("incident_stat") == Status.RESOLVED:
        return already_resolved(ctx, current)
    holder = str(current.get("acknowledged_by", ""))
    if holder == ctx.sender:
        return "already_yours"
    return ctx.answer("already_acknowledged", messages.already_acknowledged(str(item["incident_id"]), holder), current)


def already_resolved(ctx: ReplyContext, item: dict[str, Any], open_ids: tuple[str, ...] = ()) -> str:
    """A reply about a resolved incident: who resolved it, and what else is open (once per number).

    Its resolver gets nothing, unless something else is open for them.
    """
    holder = str(item.get("resolved_by", ""))
    if holder == ctx.sender and not open_ids:
        return "already_yours"
    return ctx.answer("already_resolved", messages.already_resolved(str(item["incident_id"]), holder, open_ids), item)


# -- decline ---------------------------------------------------------------------------------------


def decline(ctx: ReplyContext, item: dict[str, Any]) -> str:
    """NO from a contact of the current level: fail the parked task so the escalation moves on at once."""
    incident_id = str(item["incident_id"])
    ctx.record(item)
    declined_key = f"decline#{ctx.inbound_id}"
    if ctx.deps.once.done(declined_key):
        return ctx.finish("declined")  # a retry of a NO that already completed the task
    token = item.get("task_token")
    # Any one of a level's targets (a policy level pages several together) can decline it; the others can still YES.
    if is_open(item) and ctx.sender in current_numbers(item) and token:
        sfn = ctx.deps.stepfunctions()
        try:
            ctx.once(
                declined_key,
                lambda: complete_task(
                    sfn.send_task_failure, taskToken=token, error=WorkflowError.DECLINED.value, cause="declined by SMS"
                ),
            )
            return ctx.finish("declined")
        except StaleToken:
            pass  # timed out meanwhile: the escalation has already moved past this contact
    if item.get("incident_stat") in (Status.ACKNOWLEDGED, Status.RESOLVED):
        return ctx.finish(someone_else_has_it(ctx, item))
    ctx.deps.incidents.mark_double_escalation(incident_id, entries=[])
    return ctx.finish(ctx.answer("already_escalated", messages.already_escalated(incident_id), item))


# -- resolve ---------------------------------------------------------------------------------------


def resolve_by_reply(ctx: ReplyContext, item: dict[str, Any]) -> str:
    """RESOLVE from anyone the incident paged: stop the escalation and tell everyone paged (escalation.incidents.resolve)."""
    ctx.record(item)
    outcome = resolve(ctx.deps, str(item["incident_id"]), by=ctx.sender, via=ctx.inbound_id, at=utc_now())
    if outcome == Outcome.RESOLVED:
        return ctx.finish("resolved")
    current = ctx.deps.incidents.get(str(item["incident_id"])) or item
    if outcome == Outcome.ALREADY_RESOLVED:
        return ctx.finish(already_resolved(ctx, current))
    return ctx.finish(ctx.answer("nothing_open", messages.nothing_open(str(item["incident_id"])), current))


# -- not understood, nothing open, unknown id ------------------------------------------------------


def nothing_open(ctx: ReplyContext, inbox: Inbox) -> str:
    """The incident of the sender's latest page cannot take a bare keyword: say so once, listing what else is open.

    Nothing else happens: a bare keyword never falls through to an older incident.
    """
    latest = inbox.latest
    assert latest is not None  # the caller checked the inbox is not empty
    ctx.record(latest)
    others = tuple(inbox.open_ids(exclude=(str(latest["incident_id"]),)))
    if latest.get("incident_stat") == Status.RESOLVED:
        return ctx.finish(already_resolved(ctx, latest, others))
    holder = str(latest.get("acknowledged_by", "")) if latest.get("incident_stat") == Status.ACKNOWLEDGED else None
    if holder == ctx.sender and not others:
        return ctx.finish("already_yours")  # they have the confirmation; an auto-responder gets nothing more
    sms = messages.nothing_open(str(latest["incident_id"]), holder, others)
    return ctx.finish(ctx.answer("nothing_open", sms, latest))


def which_of_the_batch(ctx: ReplyContext, inbox: Inbox) -> str:
    """A bare keyword after a batch text: it acts on none of the batch; ask for YES ALL or YES <id> (once per batch)."""
    open_ids = set(inbox.open_ids())
    listed = [incident_id for incident_id in inbox.batch_ids if incident_id in open_ids]
    if not listed:
        return nothing_open(ctx, inbox)
    latest = inbox.latest
    assert latest is not None  # the batch's incidents are in the inbox
    ctx.record(latest)
    sms = messages.batch_needs_id(listed, [other for other in inbox.open_ids() if other not in listed])
    return ctx.finish(ctx.answer("batch_needs_id", sms, latest))


def unknown_incident(ctx: ReplyContext, inbox: Inbox, named: str) -> str:
    """An id that matches no incident paged to the sender: say which are open, do nothing else."""
    context = inbox.current(ctx.inbound_id) or inbox.latest
    assert context is not None
    ctx.record(context, named=named[:128])
    sms = messages.unknown_incident(named, inbox.open_ids())
    named_key = hashlib.sha256(id_key(named).encode()).hexdigest()[:16]
    sent = ctx.text(f"unknown_id#{named_key}", ctx.sender, sms, context, kind="reply")
    return ctx.finish("unknown_incident" if sent else "unknown_incident_already_sent")


def help_answer(ctx: ReplyContext, inbox: Inbox, item: dict[str, Any]) -> str:
    """A reply not understood: what the sender can reply about item, and what else is open (once)."""
    ctx.record(item)
    incident_id = str(item["incident_id"])
    return ctx.finish(ctx.answer("help", messages.help_text(incident_id, inbox.open_ids()), item))
