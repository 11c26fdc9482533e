"""Workflow task: the escalation ended without an acknowledgement; close the incident and tell ops first.

Two endings share this task: the chain is exhausted (`unacknowledged`: ops, then everyone paged, are
told), or a fault on our side outlasted its retries (`failed`: ops are told; no contact is blamed).
Each message has its own once-only key, so a retried task sends what it did not send yet, and only that.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from escalation.paging.ending import mark_unacknowledged
from escalation.platform.observability import logger, metrics


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Entry point for the "Mark unacknowledged" and "Mark paging failed" tasks."""
    return mark_unacknowledged(event)
