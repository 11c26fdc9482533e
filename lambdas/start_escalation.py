"""Stream handler: validates each new incident item and starts its escalation workflow."""

import hashlib
import json
import re
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from escalation import aws_clients
from escalation.incident import InvalidIncident, parse_incident
from escalation.observability import INCIDENTS_INVALID, INCIDENTS_STARTED, count, logger, metrics
from escalation.repository import utc_now
from escalation.status import Status
from escalation.wiring import dependencies

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)

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


def start_incident(image: dict[str, Any], stream_record_id: str) -> str:
    """Validate one new item and start its escalation; returns what happened."""
    deps = dependencies()
    incident_id = image["incident_id"]["S"]
    at = utc_now()
    try:
        incident = parse_incident(image, allowed_calling_codes=deps.settings.allowed_calling_codes)
    except InvalidIncident as error:
        deps.incidents.mark_invalid(incident_id, str(error), at)
        logger.warning("incident not paged: invalid item", extra={"incident_id": incident_id, "error": str(error)})
        count(INCIDENTS_INVALID)
        return "invalid"
    name = execution_name(incident.incident_id, stream_record_id)
    arn = execution_arn(deps.settings.state_machine_arn, name)
    chain = list(incident.contacts) * (deps.settings.repeat + 1)
    if not deps.incidents.record_started(incident.incident_id, chain, arn, at) and deps.incidents.get(incident_id) is None:
        logger.warning("incident deleted before it could be paged", extra={"incident_id": incident_id})
        return "deleted"
    workflow_input = {"incident_id": incident.incident_id, "contacts": chain, "level": 0, "attempt": 0, "error": None}
    try:
        aws_clients.stepfunctions().start_execution(
            stateMachineArn=deps.settings.state_machine_arn, name=name, input=json.dumps(workflow_input)
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
            raise
        logger.info("stream record redelivered; execution already started", extra={"incident_id": incident_id})
        return "already_started"
    logger.info("escalation started", extra={"incident_id": incident_id, "execution": name, "contacts": len(incident.contacts)})
    count(INCIDENTS_STARTED)
    return "started"


def is_new_incident(record: dict[str, Any]) -> bool:
    """An INSERT, or a MODIFY that left a fresh, never-started incident.

    The second is a PutItem over an old item with the same id (running the same put-item twice) or a
    fix to an item marked invalid: both must page. The app's own writes never match it: the first one
    sets execution_arn (or marks the item invalid).
    """
    image = record.get("dynamodb", {}).get("NewImage") or {}
    if record.get("eventName") == "INSERT":
        return True
    fresh = "execution_arn" not in image and image.get("incident_stat", {"S": NOT_ACKNOWLEDGED}) == {"S": NOT_ACKNOWLEDGED}
    return record.get("eventName") == "MODIFY" and fresh


def _record_handler(record: DynamoDBRecord) -> str:
    if not is_new_incident(record.raw_event):  # the mapping's filters say the same; a second guard costs nothing
        return "ignored"
    dynamodb = record.raw_event["dynamodb"]
    return start_incident(dynamodb["NewImage"], str(dynamodb.get("SequenceNumber") or record.event_id))


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """Entry point: one batch of stream records; failed records are reported for retry."""
    return process_partial_response(event=event, record_handler=_record_handler, processor=processor, context=context)
