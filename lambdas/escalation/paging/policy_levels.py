"""A policy level, paged: who is on call is resolved when the level is first paged, and kept on the item.

Nobody on call: ops are told once, and the level ends so the chain moves on.
"""

from datetime import datetime
from typing import Any

from escalation.incidents import ops_notices
from escalation.incidents.levels import label, parse_policy_level
from escalation.incidents.status import Event, WorkflowError
from escalation.incidents.timeline import timeline_entry
from escalation.platform import aws_clients
from escalation.platform.observability import (
    NOBODY_ON_CALL,
    count,
    logger,
)
from escalation.platform.wiring import Dependencies


def resolve_policy_level(deps: Dependencies, event: dict[str, Any], entry: str, at: str) -> list[str] | None:
    """Who a policy level pages: resolved now the first time (on call now, overrides first), then kept on the item.

    Returns the numbers (empty when nobody is on call), or None when the incident is closed or not this execution's.
    """
    from escalation.oncall.schedule import resolve_level  # noqa: PLC0415 (pydantic only when paging by policy)
    from escalation.oncall.store import NoDefinitions, OncallStore  # noqa: PLC0415

    incident_id: str = event["incident_id"]
    level = int(event["level"])
    kept = ((deps.incidents.get(incident_id) or {}).get("level_contacts") or {}).get(str(level))
    if kept is not None:
        return [str(number) for number in kept]  # a reminder or a retry pages whoever the level first resolved to
    policy, index = parse_policy_level(entry) or ("", 0)
    reason = ""
    people = []
    if deps.oncall_table is None:
        reason = "this deployment has no on-call table"
    else:
        try:
            store = OncallStore(deps.oncall_table)
            definitions = store.definitions()
            if policy not in definitions.policies or index >= len(definitions.policies[policy].levels):
                reason = f"policy {policy!r} has no level {index + 1} in the deployed definitions"
            else:
                now = datetime.fromisoformat(at.replace("Z", "+00:00"))
                people = resolve_level(definitions, store.overrides(), policy, index, now)
                if not people:
                    reason = "every rotation of the level has a gap at this time"
        except NoDefinitions as error:
            reason = str(error)
    if people:
        on_call = timeline_entry(Event.ON_CALL, at, level=level, target=label(entry), people=[person.id for person in people])
    else:
        on_call = timeline_entry(Event.NOBODY_ON_CALL, at, level=level, target=label(entry), error=reason)
    return deps.incidents.resolve_level(
        incident_id, execution=event["execution"], level=level, numbers=[person.phone for person in people], entries=[on_call]
    )


def nobody_on_call(deps: Dependencies, event: dict[str, Any], item: dict[str, Any], entry: str) -> dict[str, Any]:
    """A policy level with nobody on call: tell ops (once), then end the level so the chain moves on."""
    incident_id: str = event["incident_id"]
    level = int(event["level"])
    reason = next(
        (str(e.get("error", "")) for e in reversed(item.get("timeline", [])) if e.get("event") == Event.NOBODY_ON_CALL),
        "nobody is on call",
    )
    count(NOBODY_ON_CALL)
    logger.error("nobody on call for a policy level; moving on", extra={"incident_id": incident_id, "level": level})
    if deps.settings.ops_topic_arn:
        subject, body = ops_notices.ops_nobody_on_call_notification(
            incident_id, str(item.get("description", "")), label(entry), reason
        )
        deps.once.once(
            f"ops#nobody#{event['execution']}#{level}",
            lambda: aws_clients.sns().publish(TopicArn=deps.settings.ops_topic_arn, Subject=subject, Message=body),
        )
    aws_clients.stepfunctions().send_task_failure(
        taskToken=event["token"], error=WorkflowError.NOBODY_ON_CALL.value, cause=f"{label(entry)}: {reason}"[:32000]
    )
    return {"outcome": "nobody_on_call"}
