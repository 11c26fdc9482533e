"""Invoked by the incidents CLI: acknowledge or resolve an incident as an operator (`cli:<name>`).

The request and every answer are escalation.incidents.operator's: an acknowledgement there has every
effect of a YES by SMS, a resolve is escalation.incidents.resolve. Answers the person can act on are
data; a fault of ours raises, so the CLI sees a function error and retries.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from escalation.incidents.operator import handle
from escalation.platform.observability import logger, metrics
from escalation.platform.wiring import dependencies


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Entry point: a synchronous lambda:InvokeFunction from the incidents CLI (or a maintenance window's schedule)."""
    return handle(event, dependencies, function_arn=context.invoked_function_arn)
