"""Acting on one inbound SMS: which incident it is about (escalation.replies.matching), then the answer its words ask for."""

from escalation.platform.observability import REPLIES_RECEIVED, count, logger
from escalation.platform.wiring import Dependencies
from escalation.replies.acknowledge import acknowledge, acknowledge_all
from escalation.replies.answers import decline, help_answer, nothing_open, resolve_by_reply, unknown_incident, which_of_the_batch
from escalation.replies.context import ReplyContext
from escalation.replies.grammar import Intent, parse_reply
from escalation.replies.inbound import InboundSms
from escalation.replies.matching import Inbox
from escalation.sms import messages, test_pages
from escalation.sms.phone_numbers import mask


def handle_inbound(deps: Dependencies, sms: InboundSms) -> str:
    """Act on one inbound SMS; returns what was done (for logs and tests)."""
    reply = parse_reply(sms.message_body)
    if reply.intent == Intent.SERVICE_KEYWORD:
        return "service_keyword"  # STOP, HELP and friends are answered by End User Messaging itself
    sender = sms.origination_number
    if reply.intent == Intent.TEST and reply.incident_id is not None:
        return answer_test(deps, sms, reply.incident_id)
    inbox = Inbox(deps.incidents, deps.message_log, sender)
    if not inbox:
        logger.info("reply from a number with no page; ignored", extra={"from": mask(sender)})
        return "unknown_sender"
    count(REPLIES_RECEIVED)
    ctx = ReplyContext(deps, sms, reply)
    if reply.intent == Intent.ACKNOWLEDGE_ALL:
        return acknowledge_all(ctx, inbox)
    if reply.incident_id is not None:
        item = inbox.named(reply.incident_id)
        if item is None:
            return unknown_incident(ctx, inbox, reply.incident_id)
    elif reply.intent == Intent.RESOLVE:
        item = inbox.to_resolve(ctx.inbound_id)  # an acknowledged incident can still be resolved
    else:
        item = inbox.current(ctx.inbound_id)
    logger.info(
        "reply received",
        extra={"incident_id": item and item["incident_id"], "from": mask(sender), "intent": str(reply.intent)},
    )
    if item is None and inbox.batch_ids and reply.incident_id is None:
        return which_of_the_batch(ctx, inbox)
    if item is None:
        return nothing_open(ctx, inbox)
    if reply.intent == Intent.ACKNOWLEDGE:
        return acknowledge(ctx, inbox, item)
    if reply.intent == Intent.DECLINE:
        return decline(ctx, item)
    if reply.intent == Intent.RESOLVE:
        return resolve_by_reply(ctx, item)
    return help_answer(ctx, inbox, item)


def answer_test(deps: Dependencies, sms: InboundSms, code: str) -> str:
    """`TEST <code>`: record the test page's round trip (if it was sent to this number) and say so, once."""
    sender = sms.origination_number
    answered = test_pages.record_reply(deps.once.table, code, sender, sms.inbound_message_id)
    deps.once.once(
        f"test_answer#{code.casefold()}#{sender}",
        lambda: deps.notifier.send_best_effort(
            sender, messages.test_answered(code, answered), incident_id=test_pages.incident_key(code), level=0,
            kind="test_answer",
        ),
    )  # fmt: skip
    logger.info("test page answered" if answered else "reply to an unknown test page", extra={"from": mask(sender)})
    return "test_answered" if answered else "test_unknown"
