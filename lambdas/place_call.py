"""EventBridge Scheduler target: a call the page step scheduled has come due (escalation.voice.calls.place_call).

Input (the schedule's): `{"incident_id", "execution", "level", "number", "due"}`. The call is placed only while
the incident is still open at that level for that number; once per call, within the daily budget and the pace,
one call per person per storm. Malformed input is logged and dropped (retrying cannot fix it). A fault (DynamoDB,
throttling, a queue of calls too long to wait for) raises: Lambda retries the invocation twice, then keeps it in
the dead-letter queue, which alarms.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from escalation.platform import aws_clients
from escalation.platform.observability import logger, metrics
from escalation.platform.wiring import dependencies
from escalation.voice.calls import InvalidCall, parse_request, place_call
from escalation.voice.sender import VoiceSender


def sender() -> VoiceSender:
    """The voice sender of this deployment (its origination identity, configuration set, protect configuration).

    Cheap to make: the client under it is made once per container (aws_clients).
    """
    settings = dependencies().settings
    return VoiceSender(
        aws_clients.sms_v2(),
        origination_identity=settings.origination_identity,
        configuration_set=settings.configuration_set,
        protect_configuration_id=settings.protect_configuration_id,
        voice_id=settings.voice_id,
        max_price_per_minute=settings.voice_max_price_per_minute,
    )


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
