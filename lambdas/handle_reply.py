"""SNS handler: a contact's SMS reply acknowledges (YES) or declines (NO) an incident that paged them.

The handler parses each SNS record and processes each inbound message once; what a reply does is
escalation.replies.handling's (every side effect under its own once-only key: escalation.replies.context).
"""

import dataclasses
from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.typing import LambdaContext

from escalation.platform.observability import logger, metrics
from escalation.platform.wiring import Dependencies, dependencies
from escalation.replies.handling import handle_inbound
from escalation.replies.inbound import InboundSms, InvalidInbound, parse_inbound


def _process_once(deps: Dependencies) -> Any:
    """handle_inbound wrapped so each inboundMessageId is processed once (stored in the message table)."""
    config = IdempotencyConfig(
        event_key_jmespath="inbound_message_id", expires_after_seconds=deps.settings.message_ttl_days * 86400
    )

    @idempotent_function(data_keyword_argument="message", config=config, persistence_store=deps.inbound_store)  # type: ignore[untyped-decorator]
    def process(message: dict[str, Any]) -> str:
        return handle_inbound(deps, InboundSms(**message))

    return process, config


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Entry point: SNS notification records carrying inbound SMS payloads."""
    process, config = _process_once(dependencies())
    config.register_lambda_context(context)
    outcomes = []
    for record in event.get("Records", []):
        try:
            sms = parse_inbound(record.get("Sns", {}).get("Message"))
        except InvalidInbound as error:
            # Retrying cannot fix a malformed payload; say what is wrong and drop it.
            logger.error("inbound SMS payload rejected", extra={"error": str(error)})
            outcomes.append("rejected")
            continue
        outcomes.append(process(message=dataclasses.asdict(sms)))
    return {"outcomes": outcomes}
