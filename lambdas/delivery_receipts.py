"""SNS handler: End User Messaging's text events (delivery receipts), recorded on the incidents they are about.

The stack's configuration set publishes every text event to the receipts topic, which delivers each to this
function (escalation.sms.receipts says what is recorded, and how each event counts once, in any order). A malformed
event is logged and dropped (retrying cannot fix it); a failure raises, so Lambda retries the event (twice, then
it waits in the dead-letter queue, which alarms).
"""

from functools import partial
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from escalation.paging.undelivered import page_undelivered
from escalation.platform import aws_clients
from escalation.platform.observability import logger, metrics
from escalation.platform.wiring import dependencies
from escalation.sms.receipt_events import InvalidReceipt, parse_receipt
from escalation.sms.receipts import apply
from escalation.store.receipt_book import ReceiptBook


def _book() -> ReceiptBook:
    settings = dependencies().settings
    resource = aws_clients.dynamodb()  # cached per container
    return ReceiptBook(resource.Table(settings.incidents_table), resource.Table(settings.messages_table))


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Entry point: SNS notification records, each carrying one text event."""
    deps = dependencies()
    outcomes = []
    for record in event.get("Records", []):
        try:
            receipt = parse_receipt(record.get("Sns", {}).get("Message"))
        except InvalidReceipt as error:
            logger.error("delivery receipt rejected", extra={"error": str(error)})
            outcomes.append({"result": "rejected", "error": str(error)})
            continue
        moved_on = partial(page_undelivered, deps)  # a page that will not arrive ends its level's wait
        outcomes.append(apply(receipt, log=deps.message_log, book=_book(), once=deps.once, undelivered=moved_on))
    return {"outcomes": outcomes}
