"""Starting an escalation: a new incident's first pass, or a new pass an alert asked for, and which stream records are which.

Each execution is named after its stream record (a new incident) or by the item (a new pass), so a
redelivered record never starts a second one.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from escalation.incidents.item import Incident, InvalidIncident, parse_incident
from escalation.incidents.levels import policy_level
from escalation.incidents.maintenance import covering
from escalation.incidents.status import Status
from escalation.incidents.timeline import utc_now
from escalation.platform.observability import INCIDENTS_INVALID, INCIDENTS_STARTED, count, logger
from escalation.platform.wiring import Dependencies

if TYPE_CHECKING:
    from escalation.oncall.definitions import Definitions

_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
NOT_ACKNOWLEDGED = Status.NOT_ACKNOWLEDGED.value


def execution_name(incident_id: str, stream_record_id: str) -> str:
    """A name unique to this stream record, so a redelivered record cannot start a second execution."""
    digest = hashlib.sha256(f"{incident_id}\n{stream_record_id}".encode()).hexdigest()[:16]
    return f"incident-{_NAME_UNSAFE.sub('_', incident_id)[:40]}-{digest}"


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN Step Functions gives an execution of state_machine_arn called name."""
    prefix, _, machine = state_machine_arn.rpartition(":stateMachine:")
    return f"{prefix}:execution:{machine}:{name}"


def _deployed_policies(deps: Dependencies, image: dict[str, Any]) -> Definitions | None:
    """The deployed on-call definitions, read only for an item that names a policy; None when none are deployed."""
    if "policy" not in image or deps.oncall_table is None:
        return None
    from escalation.oncall.store import NoDefinitions, OncallStore  # noqa: PLC0415 (pydantic only when paging by policy)

    try:
        return OncallStore(deps.oncall_table).definitions()
    except NoDefinitions:
        return None


def _chain_of(deps: Dependencies, incident: Incident, definitions: Definitions | None) -> tuple[list[str], list[int]]:
    """The levels to page, in order, repeats included, and each level's acknowledgement window."""
    if incident.policy is None or definitions is None:
        chain = list(incident.contacts) * (deps.settings.repeat + 1)
        return chain, [deps.settings.ack_timeout_seconds] * len(chain)
    policy = definitions.policies[incident.policy]
    levels = [policy_level(incident.policy, index) for index in range(len(policy.levels))]
    windows = [level.ack_timeout_seconds for level in policy.levels]
    return levels * (policy.repeat + 1), windows * (policy.repeat + 1)


def _held_for_maintenance(deps: Dependencies, image: dict[str, Any], incident: Incident) -> str | None:
    """Hold the incident when a maintenance window covers its integration or policy now; None: page it.

    Read when the escalation would start, every time: a record of an incident already held (its own hold, a repeat)
    finds it held and writes nothing; one whose window has ended finds none and pages.
    """
    integration = string_leaf(image, "integration")
    if deps.oncall_table is None or (integration is None and incident.policy is None):
        return None
    from escalation.store.maintenance_windows import MaintenanceWindows, hold  # noqa: PLC0415 (only for such items)

    windows = MaintenanceWindows(deps.oncall_table)
    window = covering(windows.all(), integration, incident.policy, time.time())
    if window is None:
        return None
    if string_leaf(image, "maintenance_window") == window.id:
        return "in_maintenance"
    if hold(windows, deps.incidents.table, incident.incident_id, window):
        logger.info("incident held by a maintenance window", extra={"incident_id": incident.incident_id, "window": window.id})
        return "in_maintenance"
    return "not_held"  # started, closed or held by this window already (a record racing another)


def start_incident(deps: Dependencies, image: dict[str, Any], stream_record_id: str) -> str:
    """Validate one new item and start its escalation; returns what happened."""
    incident_id = image["incident_id"]["S"]
    at = utc_now()
    definitions = _deployed_policies(deps, image)
    try:
        incident = parse_incident(
            image,
            allowed_calling_codes=deps.settings.allowed_calling_codes,
            policies=None if definitions is None else definitions.policies.keys(),
        )
    except InvalidIncident as error:
        deps.incidents.mark_invalid(incident_id, str(error), at)
        logger.warning("incident not paged: invalid item", extra={"incident_id": incident_id, "error": str(error)})
        count(INCIDENTS_INVALID)
        return "invalid"
    held = _held_for_maintenance(deps, image, incident)
    if held is not None:
        return held
    name = execution_name(incident.incident_id, stream_record_id)
    arn = execution_arn(deps.settings.state_machine_arn, name)
    chain, windows = _chain_of(deps, incident, definitions)
    started = deps.incidents.record_started(incident.incident_id, chain, arn, at, policy=incident.policy)
    if not started:
        current = deps.incidents.get(incident_id)
        if current is None:
            logger.warning("incident deleted before it could be paged", extra={"incident_id": incident_id})
            return "deleted"
        if current.get("execution_arn") != arn:  # acknowledged or resolved before its start (an alert), or replaced
            logger.info("incident closed before its escalation started", extra={"incident_id": incident_id})
            return "closed_before_start"
    workflow_input = {
        "incident_id": incident.incident_id,
        "contacts": chain,
        "ack_timeouts": windows,  # each level's acknowledgement window (a policy sets its own per level)
        "timeout": windows[0],
        "level": 0,
        "attempt": 0,
        "error": None,
    }
    try:
        deps.stepfunctions().start_execution(
            stateMachineArn=deps.settings.state_machine_arn, name=name, input=json.dumps(workflow_input)
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
            raise
        logger.info("stream record redelivered; execution already started", extra={"incident_id": incident_id})
        return "already_started"
    logger.info(
        "escalation started",
        extra={"incident_id": incident_id, "execution": name, "levels": len(chain), "policy": incident.policy},
    )
    count(INCIDENTS_STARTED)
    return "started"


def start_pass(deps: Dependencies, image: dict[str, Any]) -> str:
    """Start the new pass an alert asked for (escalation.alerts.incidents.escalate_again); returns what happened.

    The chain is read afresh (a policy's levels as deployed now); the execution is the one the item names,
    so a redelivered record starts nothing twice.
    """
    incident_id = image["incident_id"]["S"]
    arn = image["execution_arn"]["S"]
    definitions = _deployed_policies(deps, image)
    at = utc_now()
    try:
        incident = parse_incident(
            image,
            allowed_calling_codes=deps.settings.allowed_calling_codes,
            policies=None if definitions is None else definitions.policies.keys(),
        )
    except InvalidIncident as error:  # e.g. its policy was removed since: it cannot be paged again; ops are told
        deps.incidents.fail(incident_id, execution=arn, error=str(error), at=at, entries=[])
        logger.error("incident cannot be escalated again", extra={"incident_id": incident_id, "error": str(error)})
        count(INCIDENTS_INVALID)
        return "invalid"
    chain, windows = _chain_of(deps, incident, definitions)
    if not deps.incidents.record_pass(incident_id, chain, execution=arn):
        return "closed"  # acknowledged or resolved before this pass started
    workflow_input = {
        "incident_id": incident_id,
        "contacts": chain,
        "ack_timeouts": windows,
        "timeout": windows[0],
        "level": 0,
        "attempt": 0,
        "error": None,
    }
    try:
        deps.stepfunctions().start_execution(
            stateMachineArn=deps.settings.state_machine_arn, name=arn.rsplit(":", 1)[-1], input=json.dumps(workflow_input)
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
            raise
        return "already_started"
    logger.info("escalation started again", extra={"incident_id": incident_id, "levels": len(chain)})
    count(INCIDENTS_STARTED)
    return "started_again"


def string_leaf(image: dict[str, Any], name: str) -> str | None:
    """The S value of an attribute of a stream image: what the mapping's filters test (they see leaves only)."""
    attribute = image.get(name)
    value = attribute.get("S") if isinstance(attribute, dict) else None
    return value if isinstance(value, str) else None


def is_new_incident(record: dict[str, Any]) -> bool:
    """An INSERT, or a MODIFY that left a fresh, never-started incident.

    The second is a PutItem over an old item with the same id (running the same put-item twice) or a
    fix to an item marked invalid: both must page. The app's own writes never match it: the first one
    sets execution_arn (or marks the item invalid). stacks/incident_stream.py new_incident_filters
    says the same to the stream mapping.
    """
    image = record.get("dynamodb", {}).get("NewImage") or {}
    if record.get("eventName") == "INSERT":
        return True
    fresh = string_leaf(image, "execution_arn") is None and string_leaf(image, "incident_stat") in (None, NOT_ACKNOWLEDGED)
    return record.get("eventName") == "MODIFY" and fresh


AGAIN_FROM = (Status.UNACKNOWLEDGED.value, Status.FAILED.value)


def is_new_pass(record: dict[str, Any]) -> bool:
    """A MODIFY that put an exhausted or failed incident back to open under a new execution: escalate it again.

    Only escalation.alerts.incidents.escalate_again writes that; stacks/incident_stream.py new_pass_filters says the same.
    """
    dynamodb = record.get("dynamodb", {})
    old, new = dynamodb.get("OldImage") or {}, dynamodb.get("NewImage") or {}
    execution = string_leaf(new, "execution_arn")
    return (
        record.get("eventName") == "MODIFY"
        and string_leaf(old, "incident_stat") in AGAIN_FROM
        and string_leaf(new, "incident_stat") == NOT_ACKNOWLEDGED
        and execution is not None
        and execution != string_leaf(old, "execution_arn")
    )
