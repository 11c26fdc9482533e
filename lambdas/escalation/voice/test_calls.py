"""Test calls: `incidents test-page --voice` rings the phone too, so a person learns before an incident that calls reach them.

The operator function sends the test text (escalation.sms.test_pages), then places one call that asks for the
same reply ("This is a test page ... Reply TEST 4 8 2 1 9 3 by text"). The call obeys the limits every call does
(escalation.voice.limits): it takes a place in the number's daily budget of five (never the last one, which is
kept for a critical incident) and a slot of the calls' pace. A call that cannot be made is recorded on the test
(`call_not_placed`, why) and the text stands; its voice receipts record how it went (test_pages.record_call).

Once per test: a retried request (the same code) finds its call placed, or its reason recorded, and calls no more.
"""

from __future__ import annotations

import time

from escalation.incidents.timeline import utc_now
from escalation.platform.observability import logger
from escalation.platform.wiring import Dependencies
from escalation.sms import test_pages
from escalation.sms.client import SmsAccountFault, SmsFailed
from escalation.sms.phone_numbers import mask
from escalation.voice.calls import BUDGET_REASONS, CALL_TTL_SECONDS
from escalation.voice.limits import Budget, VoiceLimits
from escalation.voice.sender import VoiceSender
from escalation.voice.ssml import test_call_script

MAX_PACING_WAIT_SECONDS = 20  # the operator function answers the CLI: a test call does not queue behind a storm


def _not_placed(deps: Dependencies, code: str, reason: str) -> None:
    test_pages.record_call_not_placed(deps.once.table, code, reason)
    logger.warning("test call not placed", extra={"code": code, "reason": reason})


def _place(deps: Dependencies, code: str, number: str, sender: VoiceSender) -> None:
    limits = VoiceLimits(deps.once.table)
    call = f"test#{code}"
    budget = limits.take(number, call, critical=False)
    if budget is not Budget.OK:
        _not_placed(deps, code, BUDGET_REASONS[budget])
        return
    slot = limits.pace().reserve_within(1, MAX_PACING_WAIT_SECONDS * 1000)
    if slot is None:
        limits.give_back(number, call)
        _not_placed(deps, code, f"calls are busy: the next call slot is more than {MAX_PACING_WAIT_SECONDS} s away")
        return
    time.sleep(max(0.0, slot / 1000 - time.time()))
    key = test_pages.incident_key(code)
    try:
        message_id = sender.call(number, test_call_script(code), incident_id=key, ttl_seconds=CALL_TTL_SECONDS)
    except (SmsFailed, SmsAccountFault) as error:
        limits.give_back(number, call)
        _not_placed(deps, code, f"the call could not be placed: {str(error)[:300]}")
        return
    at = utc_now()
    deps.message_log.record(message_id, incident_id=key, contact=number, level=0, kind=test_pages.CALL_KIND, at=at)
    test_pages.record_call_placed(deps.once.table, code, message_id=message_id, at=at)
    logger.info("test call placed", extra={"code": code, "to": mask(number), "message_id": message_id})


def place_test_call(deps: Dependencies, code: str, number: str, sender: VoiceSender) -> None:
    """Place the test's call once (see the module's docstring); a throttled call raises for the CLI to retry."""
    deps.once.once(f"test_call#{code}", lambda: _place(deps, code, number, sender))
