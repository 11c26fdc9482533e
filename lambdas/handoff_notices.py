"""Scheduled: text each person whose shift starts within handoffNoticeMinutes (once per shift); off by default.

EventBridge Scheduler invokes this every 15 minutes (stacks/handoff.py). A notice that fails
because of the person's number is logged and skipped; a fault of ours (throttling, spend limit) fails
the run after the other notices were tried, and the next run sends what is missing (once-only keys).
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from escalation.oncall.store import NoDefinitions, OncallStore
from escalation.paging.handoff import handoff_notice, notice_key, notices_due
from escalation.platform.observability import logger, metrics
from escalation.platform.settings import ConfigurationError
from escalation.platform.wiring import dependencies
from escalation.sms.client import SmsAccountFault, SmsFailed, SmsThrottled
from escalation.sms.outbox import COURTESY_TTL_SECONDS
from escalation.sms.phone_numbers import mask


def send_notices(now: datetime) -> dict[str, Any]:
    """Send the notices due at now; returns how many were sent now, already sent, and not deliverable."""
    deps = dependencies()
    if deps.oncall_table is None or deps.settings.handoff_notice_minutes <= 0:
        raise ConfigurationError("handoff notices need ONCALL_TABLE and HANDOFF_NOTICE_MINUTES > 0")
    store = OncallStore(deps.oncall_table)
    try:
        definitions = store.definitions()
    except NoDefinitions:
        return {"sent": 0, "already_sent": 0, "undeliverable": 0}
    due = notices_due(definitions, store.overrides(), now, timedelta(minutes=deps.settings.handoff_notice_minutes))
    counts = {"sent": 0, "already_sent": 0, "undeliverable": 0}
    fault: Exception | None = None
    for rotation, shift in due:
        assert shift.person is not None  # notices_due keeps shifts with someone on call
        phone = shift.person.phone
        sms = handoff_notice(rotation, shift)

        def send(phone: str = phone, sms: Any = sms, rotation: str = rotation) -> None:
            deps.notifier.send(
                phone, sms, incident_id=f"handoff:{rotation}", level=0, kind="handoff_notice", ttl_seconds=COURTESY_TTL_SECONDS
            )

        try:
            counts["sent" if deps.once.once(notice_key(rotation, shift), send) else "already_sent"] += 1
        except SmsFailed as error:
            counts["undeliverable"] += 1
            logger.warning("handoff notice not deliverable", extra={"rotation": rotation, "to": mask(phone), "error": str(error)})
        except (SmsThrottled, SmsAccountFault) as error:
            fault = fault or error
    if fault is not None:
        raise fault
    logger.info("handoff notices", extra=counts)
    return counts


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Entry point for the schedule."""
    return send_notices(datetime.now(UTC))
