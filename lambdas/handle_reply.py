"""SNS handler: a contact's SMS reply acknowledges (YES) or declines (NO) the incident paged."""

import dataclasses
import json
from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from escalation import aws_clients, messages
from escalation.inbound import InboundSms, InvalidInbound, parse_inbound
from escalation.observability import INCIDENTS_ACKNOWLEDGED, REPLIES_RECEIVED, count, logger, metrics
from escalation.phone_numbers import mask
from escalation.replies import Intent, parse_reply
from escalation.repository import is_open, paged_contacts, utc_now
from escalation.status import Event, Status, WorkflowError
from escalation.timeline import timeline_entry
from escalation.wiring import Dependencies, dependencies

# A token that timed out or was already answered: the workflow has moved on, nothing to complete.
_STALE_TOKEN_CODES = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})


def _find_incident(deps: Dependencies, sms: InboundSms, named_incident: str | None) -> dict[str, Any] | None:
    """The incident a reply is about: named in it, else the message it answers, else the sender's latest open page."""
    sender = sms.origination_number
    if named_incident:
        item = deps.incidents.get(named_incident)
        if item and sender in paged_contacts(item):
            return item
    if sms.previous_published_message_id:
        sent = deps.message_log.find(sms.previous_published_message_id)
        if sent and sent.get("contact") == sender:
            item = deps.incidents.get(str(sent["incident_id"]))
            if item:
                return item
    recent = deps.message_log.latest_for(sender)
    seen: set[str] = set()
    for sent in recent:
        incident_id = str(sent["incident_id"])
        if incident_id in seen:
            continue
        seen.add(incident_id)
        item = deps.incidents.get(incident_id)
        if item and is_open(item):
            return item
    return deps.incidents.get(str(recent[0]["incident_id"])) if recent else None


def _complete_task(call: Any, **kwargs: Any) -> bool:
    """Complete a parked task token; False when the workflow no longer waits on it."""
    try:
        call(**kwargs)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in _STALE_TOKEN_CODES:
            return False
        raise
    return True


def _tell_already_acknowledged(deps: Dependencies, item: dict[str, Any], sender: str) -> None:
    """Tell a contact who answers an incident someone else took who has it (nothing to its holder)."""
    holder = str(item.get("acknowledged_by", ""))
    if holder and holder != sender:
        incident_id = str(item["incident_id"])
        deps.notifier.send_best_effort(
            sender,
            messages.already_acknowledged(incident_id, holder),
            incident_id=incident_id,
            level=int(item.get("escalation_level", 0)),
            kind="reply",
        )


def _acknowledge(deps: Dependencies, item: dict[str, Any], sender: str, reply_entry: dict[str, Any]) -> str:
    incident_id = str(item["incident_id"])
    at = utc_now()
    level = int(item.get("escalation_level", 0))
    before = deps.incidents.acknowledge(
        incident_id, by=sender, at=at, entries=[reply_entry, timeline_entry(Event.ACKNOWLEDGED, at, level=level, phone=sender)]
    )
    if before is None:
        current = deps.incidents.get(incident_id) or {}
        if current.get("incident_stat") == Status.ACKNOWLEDGED:
            _tell_already_acknowledged(deps, current, sender)
        return "not_acknowledged"
    count(INCIDENTS_ACKNOWLEDGED)
    token = before.get("task_token")
    if token and is_open(before):
        sfn = aws_clients.stepfunctions()
        _complete_task(sfn.send_task_success, taskToken=token, output=json.dumps({"acknowledged_by": mask(sender)}))
    deps.notifier.send_best_effort(
        sender, messages.acknowledged_confirmation(incident_id), incident_id=incident_id, level=level, kind="confirmation"
    )
    for index, contact in enumerate(paged_contacts(before)):
        if contact != sender:
            deps.notifier.send_best_effort(
                contact,
                messages.acknowledged_notice(incident_id, sender),
                incident_id=incident_id,
                level=index,
                kind="acknowledged_notice",
            )
    return "acknowledged"


def _decline(deps: Dependencies, item: dict[str, Any], sender: str, reply_entry: dict[str, Any]) -> str:
    incident_id = str(item["incident_id"])
    level = int(item.get("escalation_level", 0))
    token = item.get("task_token")
    unrecorded = [reply_entry]  # the reply goes on the timeline once, whichever way it ends
    if is_open(item) and item.get("current_contact") == sender and token:
        deps.incidents.append(incident_id, reply_entry)
        unrecorded = []
        sfn = aws_clients.stepfunctions()
        if _complete_task(sfn.send_task_failure, taskToken=token, error=WorkflowError.DECLINED.value, cause="declined by SMS"):
            return "declined"
    if item.get("incident_stat") == Status.ACKNOWLEDGED:  # not open, so the reply is not recorded yet
        deps.incidents.append(incident_id, reply_entry)
        _tell_already_acknowledged(deps, item, sender)
        return "already_acknowledged"
    deps.incidents.mark_double_escalation(incident_id, entries=unrecorded)
    deps.notifier.send_best_effort(
        sender, messages.already_escalated(incident_id), incident_id=incident_id, level=level, kind="reply"
    )
    return "already_escalated"


def handle_inbound(sms: InboundSms) -> str:
    """Act on one inbound SMS; returns what was done (for logs and tests)."""
    deps = dependencies()
    sender = sms.origination_number
    reply = parse_reply(sms.message_body)
    if reply.intent == Intent.SERVICE_KEYWORD:
        return "service_keyword"  # STOP, HELP and friends are answered by End User Messaging itself
    item = _find_incident(deps, sms, reply.incident_id)
    if item is None or sender not in paged_contacts(item):
        logger.info("reply from a number with no page; ignored", extra={"from": mask(sender)})
        return "unknown_sender"
    incident_id = str(item["incident_id"])
    level = int(item.get("escalation_level", 0))
    reply_entry = timeline_entry(Event.REPLY, utc_now(), level=level, phone=sender, intent=str(reply.intent))
    count(REPLIES_RECEIVED)
    logger.info("reply received", extra={"incident_id": incident_id, "from": mask(sender), "intent": str(reply.intent)})
    if reply.intent == Intent.ACKNOWLEDGE:
        return _acknowledge(deps, item, sender, reply_entry)
    if reply.intent == Intent.DECLINE:
        return _decline(deps, item, sender, reply_entry)
    deps.incidents.append(incident_id, reply_entry)
    if not deps.message_log.claim_once(f"help#{incident_id}#{sender}"):
        return "help_already_sent"  # one help text per contact and incident: no loop with an auto-responder
    deps.notifier.send_best_effort(sender, messages.help_text(incident_id), incident_id=incident_id, level=level, kind="help")
    return "help"


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
