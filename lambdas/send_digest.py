"""Storm digest function: invoked asynchronously by the notice that opened a person's digest; sends it when it closes.

In a storm, notices to one person (escalated, unacknowledged, acknowledged by, resolved) join a digest that
closes after a window (escalation.paging.storms). The notice that opened it hands it here instead of waiting:
this function sleeps until the digest closes, takes it and sends one text naming the ids. A retry (Lambda's async
retries) finds it sent; a digest another notice found due first is sent by that notice.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from escalation.platform.observability import logger, metrics
from escalation.platform.wiring import dependencies
from escalation.sms.digest_flush import parse_flush_event


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Send the digest the event names once it has closed; an event that names none is refused (and kept)."""
    number, flush_at, taker = parse_flush_event(event)
    message_id = dependencies().notifier.flush_digest(number, flush_at, taker)
    return {"outcome": "sent" if message_id else "sent_by_another", "message_id": message_id}
