"""EventBridge Scheduler target: a call the page step scheduled has come due (escalation.voice.calls.place_call).

Input (the schedule's): `{"incident_id", "execution", "level", "number", "due"}`. The call is placed only while
the incident is still open at that level for that number; once per call, within the daily budget and the pace,
one call per person per storm. Malformed input is logged and dropped (retrying cannot fix it). A fault (DynamoDB,
throttling, a queue of calls too long to wait for) raises: Lambda retries the invocation twice, then keeps it in
the dead-letter queue, which alarms.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from escalation.platform.observability import logger, metrics
from escalation.platform.wiring import dependencies
from escalation.voice.calls import InvalidCall, parse_request, place_call
from escalation.voice.sender import VoiceSender, deployment_sender


def sender() -> VoiceSender:
    """The voice sender of this deployment."""
    return deployment_sender(dependencies().settings)


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Entry point: one schedule's input."""
    try:
        request = parse_request(event)
    except InvalidCall as error:
        logger.error("call schedule input rejected", extra={"error": str(error)})
        return {"result": "rejected", "error": str(error)}
    result = place_call(dependencies(), request, sender())
    logger.info("call schedule done", extra={"incident_id": request.incident_id, **result})
    return result
