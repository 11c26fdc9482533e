"""EventBridge Scheduler target (selfTestSchedule): a test page to everyone on call, then one summary to ops.

Input (the schedule's): `{"scheduled": "<aws.scheduler.scheduled-time>"}`, which names the run, so a schedule
delivered twice tests nobody twice (escalation.oncall.self_test). The function waits for the replies
(SELF_TEST_REPLY_MINUTES, below its timeout). A fault raises: Scheduler's retries deliver the same run again.
"""

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from escalation.oncall import self_test
from escalation.oncall.store import OncallStore
from escalation.platform.observability import logger, metrics
from escalation.platform.wiring import dependencies


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Entry point: one scheduled run."""
    deps = dependencies()
    store = OncallStore(deps.oncall_table)
    return self_test.run(
        deps,
        store.definitions(),
        store.overrides(),
        run=self_test.run_id(event.get("scheduled")),
        at=self_test.scheduled_at(event.get("scheduled")),
        reply_minutes=int(os.environ.get("SELF_TEST_REPLY_MINUTES", "10")),
    )
