"""API Gateway handler: `POST /v2/enqueue`, a PagerDuty Events API v2 compatible endpoint; and CloudWatch alarms.

The same function is the target of the EventBridge rule on CloudWatch alarm state changes
(escalation.alerts.alarm_incidents): ALARM opens or repeats, OK resolves, INSUFFICIENT_DATA changes nothing.

Responses are PagerDuty's: 202 `{"status": "success", "message": "Event processed", "dedup_key": ...}`;
400 `{"status": "invalid event", "message": "Event object is invalid", "errors": ["<field>: <problem>"]}`
(nothing changed; also for a body that is not UTF-8, over 512,000 bytes or nested over 32 levels deep:
escalation.alerts); 429 when the routing key sent more than EVENTS_PER_MINUTE events in the current minute;
503 when the event could not be completed now (the sender retries, as Alertmanager does on 429 and 5xx).
An acknowledge or resolve for a dedup key with no incident is accepted and changes nothing, as on PagerDuty.
"""

import json
import os
import time
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from escalation.alerts.alarm_incidents import apply_change
from escalation.alerts.alarms import InvalidAlarmEvent, is_alarm_event, parse_alarm_event
from escalation.alerts.events import InvalidEvent, parse_request
from escalation.alerts.intake import Throttled, accept
from escalation.alerts.short_ids import AlertsBusy
from escalation.platform import aws_clients
from escalation.platform.observability import EVENTS_BUSY, count, logger, metrics
from escalation.platform.wiring import dependencies

DEFAULT_EVENTS_PER_MINUTE = 120  # PagerDuty's documented per-integration-key limit


@cache
def integrations_table() -> Any:
    """The integrations table (routing keys, dedup and short-id claims, rate counters)."""
    return aws_clients.dynamodb().Table(os.environ["INTEGRATIONS_TABLE"])


def events_per_minute() -> int:
    """The per-routing-key limit of this deployment."""
    return int(os.environ.get("EVENTS_PER_MINUTE", DEFAULT_EVENTS_PER_MINUTE))


def alarm_integration() -> str:
    """The integration an untagged alarm pages ("" for none: untagged alarms are ignored)."""
    return os.environ.get("ALARM_INTEGRATION", "").strip()


def repeat_after_seconds() -> int:
    """How often an alert firing again may escalate an incident nobody is on (repeatAfterSeconds; 0: never)."""
    return int(os.environ.get("REPEAT_AFTER_SECONDS", "14400"))


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def invalid(errors: list[str]) -> dict[str, Any]:
    """PagerDuty's 400."""
    return _response(400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors})


def handle(request: dict[str, Any]) -> dict[str, Any]:
    """One API Gateway proxy request."""
    try:
        event = parse_request(request)
    except InvalidEvent as error:
        logger.info("event rejected", extra={"errors": error.errors})
        return invalid(error.errors)
    via = str((request.get("requestContext") or {}).get("requestId") or f"event-{time.time_ns()}")
    try:
        per_minute, repeat_after = events_per_minute(), repeat_after_seconds()
        result = accept(dependencies, integrations_table(), event, via=via, per_minute=per_minute, repeat_after=repeat_after)
    except InvalidEvent as error:  # a routing key unknown or revoked
        return invalid(error.errors)
    except Throttled:
        return _response(429, {"status": "throttled", "message": "Requests for this routing key are arriving too quickly"})
    except AlertsBusy as error:
        logger.warning("event not processed now; the sender retries", extra={"error": str(error)})
        count(EVENTS_BUSY)  # not a failure: the 5xx alarm leaves these out
        return _response(503, {"status": "unavailable", "message": "Try again shortly"})
    return _response(202, {"status": "success", "message": "Event processed", "dedup_key": result["dedup_key"]})


def handle_alarm(event: dict[str, Any]) -> dict[str, str]:
    """One EventBridge `CloudWatch Alarm State Change` event; a malformed one raises (retried, then dead-lettered)."""
    try:
        change = parse_alarm_event(event)
    except InvalidAlarmEvent as error:
        logger.error("alarm event rejected", extra={"error": str(error), "event_id": event.get("id")})
        raise
    result = apply_change(
        dependencies(), integrations_table(), change, default_integration=alarm_integration(), repeat_after=repeat_after_seconds()
    )
    count(f"Alarm{change.state.capitalize().replace('_', '')}")
    logger.info("alarm state change processed", extra=result)
    return result


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Entry point: API Gateway (REST, proxy integration) `POST /v2/enqueue`, or an EventBridge alarm event."""
    if is_alarm_event(event):
        return handle_alarm(event)
    return handle(event)
