"""EscalationPages counts the pages that reached a contact after the first level; reminders and notices do not count."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.stub import Stubber

from escalation.platform import observability
from tests.conftest import Aws
from tests.unit.conftest import run_page


def _counts(capsys: pytest.CaptureFixture[str]) -> dict[str, float]:
    """Sum of each metric in the EMF records printed so far."""
    totals: dict[str, float] = {}
    for line in capsys.readouterr().out.splitlines():
        try:
            record: Any = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict) or "_aws" not in record:
            continue
        for definition in record["_aws"]["CloudWatchMetrics"]:
            for metric in definition["Metrics"]:
                totals[metric["Name"]] = totals.get(metric["Name"], 0) + sum(record[metric["Name"]])
    return totals


def test_first_page_is_not_an_escalation(
    aws: Aws,
    sms_stub: Stubber,
    started_incident: dict[str, Any],
    lambda_context: LambdaContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    capsys.readouterr()
    run_page(sms_stub, lambda_context, level=0, token="token-0", message_id="msg-1")
    counts = _counts(capsys)
    assert counts[observability.SMS_SENT] == 1
    assert observability.ESCALATION_PAGES not in counts


def test_page_of_the_next_level_counts_once_and_its_notice_does_not(
    paged: Aws, sms_stub: Stubber, lambda_context: LambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    run_page(sms_stub, lambda_context, level=1, token="token-1", message_id="msg-2")  # the page, then the notice to FIRST
    counts = _counts(capsys)
    assert counts[observability.SMS_SENT] == 2
    assert counts[observability.ESCALATION_PAGES] == 1


def test_a_reminder_at_a_later_level_is_not_an_escalation(
    paged: Aws, sms_stub: Stubber, lambda_context: LambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    run_page(sms_stub, lambda_context, level=1, token="token-1", message_id="msg-2")
    capsys.readouterr()
    run_page(sms_stub, lambda_context, level=1, token="token-2", message_id="msg-3", attempt=1)
    counts = _counts(capsys)
    assert counts[observability.SMS_SENT] == 1
    assert observability.ESCALATION_PAGES not in counts
