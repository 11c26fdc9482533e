"""EventBridge Scheduler target: a heartbeat monitor's deadline came (escalation.alerts.heartbeat_deadlines.check).

Input (the schedule's): `{"monitor", "monitor_id", "beat_seq", "deadline"}`. The monitor pages its
integration only when it still holds that beat and that deadline, and the deadline has passed; a schedule
a newer beat superseded does nothing. A fault (DynamoDB, an integration that no longer exists) raises:
Lambda retries the invocation twice, then keeps it in the dead-letter queue, and both alarm.
"""

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from escalation.alerts import heartbeat_deadlines
from escalation.platform import aws_clients
from escalation.platform.observability import logger, metrics
from escalation.platform.wiring import dependencies


@cache
def integrations_table() -> Any:
    """The integrations table (monitors, and the dedup and short-id claims a trigger takes)."""
    return aws_clients.dynamodb().Table(os.environ["INTEGRATIONS_TABLE"])


def repeat_after_seconds() -> int:
    """As for the events API: how often a trigger may start a new pass over an exhausted incident."""
    return int(os.environ.get("REPEAT_AFTER_SECONDS", "14400"))


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Entry point: one schedule's input."""
    result = heartbeat_deadlines.check(dependencies(), integrations_table(), event, repeat_after=repeat_after_seconds())
    logger.info("deadline checked", extra=result)
    return result
