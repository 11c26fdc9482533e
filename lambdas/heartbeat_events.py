"""API Gateway handler: `POST /v2/heartbeat/{token}`, one beat of a heartbeat monitor (escalation.alerts.heartbeats).

POST only. A beat changes state (it arms a monitor and resolves what its silence opened), and a GET is
fetched by things that are not the job: chat and mail link previews, crawlers, browser prefetch. A URL
pasted in a chat would then keep a dead job looking alive. API Gateway answers a GET with 405 itself
(stacks/heartbeats.py); this handler refuses any other method the same way. The body is ignored, so
`curl -fsS -X POST URL` (or `curl -fsS -d '' URL`) from cron or a job's last line is enough.

Responses: 200 `{"status": "ok", "monitor", "outcome", "state", "deadline"?}` (outcome: armed, beat,
coalesced, recovered, paused); 404 for a token no monitor has; 410 for a deleted monitor's (for 30 days);
503 when the beat could not be recorded now (the sender retries, or its next beat counts). The token is
never logged: the access log records the route, not the path.
"""

import json
import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from escalation.alerts import heartbeat_monitors, heartbeat_schedules, heartbeats
from escalation.alerts.short_ids import AlertsBusy
from escalation.platform import aws_clients
from escalation.platform.observability import EVENTS_BUSY, count, logger, metrics
from escalation.platform.wiring import dependencies


@cache
def integrations_table() -> Any:
    """The integrations table (monitors and their token hashes live there too)."""
    return aws_clients.dynamodb().Table(os.environ["INTEGRATIONS_TABLE"])


@cache
def schedules() -> heartbeat_schedules.Schedules:
    """The schedule group deadlines go to, and the checker each invokes (set by the stack)."""
    return heartbeat_schedules.Schedules(
        client=heartbeat_schedules.scheduler_client(),
        group=os.environ["HEARTBEAT_SCHEDULE_GROUP"],
        function_arn=os.environ["HEARTBEAT_CHECK_ARN"],
        role_arn=os.environ["HEARTBEAT_SCHEDULER_ROLE_ARN"],
        dead_letter_arn=os.environ.get("HEARTBEAT_DEAD_LETTER_ARN", ""),
    )


def _response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json", **(headers or {})}, "body": json.dumps(body)}


def handle(request: dict[str, Any]) -> dict[str, Any]:
    """One API Gateway proxy request."""
    if request.get("httpMethod") != "POST":
        return _response(405, {"status": "method not allowed", "message": "A beat is a POST"}, {"Allow": "POST"})
    token = str((request.get("pathParameters") or {}).get("token") or "")
    try:
        result = heartbeats.beat(dependencies(), integrations_table(), schedules(), token)
    except heartbeat_monitors.UnknownToken:
        return _response(404, {"status": "not found", "message": "No heartbeat monitor has this URL"})
    except heartbeat_monitors.DeletedMonitor:
        return _response(410, {"status": "gone", "message": "This heartbeat monitor was deleted"})
    except (heartbeat_monitors.HeartbeatsBusy, AlertsBusy) as error:
        logger.warning("beat not recorded now; the sender retries", extra={"error": str(error)})
        count(EVENTS_BUSY)  # not a failure: the 5xx alarm leaves these out
        return _response(503, {"status": "unavailable", "message": "Try again shortly"})
    count("HeartbeatBeats")
    logger.info("beat", extra={"monitor": result.monitor, "outcome": result.outcome, "resolved": result.resolved})
    return _response(200, result.answer())


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Entry point: API Gateway (REST, proxy integration) `POST /v2/heartbeat/{token}`."""
    return handle(event)
