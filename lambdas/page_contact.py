"""Workflow task (waitForTaskToken): page the contact of the current level, or remind them.

A new level's page also records why the previous level ended and, once the page is out, tells that
level's contact: no Lambda stands between a NO and the next page.

Faults are classified once (escalation.sms): only a fault of the contact's number (opted out, invalid
or blocked destination) ends the level. Throttling and faults of our own (quota, spend limit, access,
identity, a crash) raise, so the state machine retries them with backoff, and are shown on the incident
and told to ops at once; they never walk the chain.

Send rate: a page whose send slot is more than a moment away is not sent now. The task completes with
`queued` and the slot's wait, the state machine waits, and the page is sent by a fresh task whose
acknowledgement window starts when the text goes out.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from escalation.paging.page import page_contact
from escalation.platform.observability import logger, metrics


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Entry point for the "Page contact" task."""
    return page_contact(event)
