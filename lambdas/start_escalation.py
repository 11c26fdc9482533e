"""Stream handler: archives each replaced incident item, validates each new one and starts its escalation workflow.

Which records start what, and the starting itself, are escalation.incidents.start's; the archive is
escalation.store.history's.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from escalation.incidents.start import is_new_incident, is_new_pass, start_incident, start_pass, string_leaf
from escalation.platform.observability import logger, metrics
from escalation.platform.wiring import dependencies
from escalation.store.history import history_archive, is_replacement

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def _record_handler(record: DynamoDBRecord) -> str:
    raw = record.raw_event
    outcomes = []
    archive_failure: Exception | None = None
    if is_replacement(raw):
        try:
            archived = history_archive().keep(raw)
        except Exception as error:  # the new incident is paged all the same; the record is retried for its archive
            archive_failure = error
        else:
            incident_id = string_leaf(raw["dynamodb"]["Keys"], "incident_id")
            logger.info("replaced incident archived", extra={"incident_id": incident_id, "first_time": archived})
            outcomes.append("archived" if archived else "already_archived")
    if is_new_incident(raw):  # the mapping's filters say the same; a second guard costs nothing
        dynamodb = raw["dynamodb"]
        outcomes.append(
            start_incident(dependencies(), dynamodb["NewImage"], str(dynamodb.get("SequenceNumber") or record.event_id))
        )
    elif is_new_pass(raw):
        outcomes.append(start_pass(dependencies(), raw["dynamodb"]["NewImage"]))
    if archive_failure is not None:
        raise archive_failure  # both steps are idempotent: the retry archives once and starts nothing twice
    return "+".join(outcomes) or "ignored"


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """Entry point: one batch of stream records; failed records are reported for retry."""
    return process_partial_response(event=event, record_handler=_record_handler, processor=processor, context=context)
