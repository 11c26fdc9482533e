"""cdk-nag AwsSolutions: every configuration synthesizes with no unacknowledged finding, each with a reason."""

from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs
from cdk_nag import AwsSolutionsChecks

from tests.infra.support import Synth


def test_synth_passes_cdk_nag_with_no_unacknowledged_finding(any_synth: Synth) -> None:
    # Reaching here means app.synth() did not raise; the report says why.
    (report,) = any_synth.validation_report()["pluginReports"]
    assert report["pluginName"] == "AwsSolutions"
    assert report["conclusion"] == "success"
    assert report["violations"] == []
    assert report["suppressedViolations"], "cdk-nag found nothing at all: did the checks run?"


def test_every_suppressed_finding_carries_a_reason(any_synth: Synth) -> None:
    (report,) = any_synth.validation_report()["pluginReports"]
    for finding in report["suppressedViolations"]:
        assert finding["reason"].strip(), finding["ruleName"]
        assert finding["acknowledgedId"] == f"AwsSolutions::{finding['ruleName']}"


def test_every_recorded_acknowledgment_has_a_reason(any_synth: Synth) -> None:
    acknowledgments = any_synth.acknowledgments()
    assert acknowledgments
    for path, rule, reason in acknowledgments:
        assert rule.startswith("AwsSolutions::AwsSolutions-"), (path, rule)
        assert len(reason.strip()) >= 20, f"{path}: {rule} has no real reason: {reason!r}"


def test_every_acknowledgment_matches_a_finding(any_synth: Synth) -> None:
    # An acknowledgment nothing needs would silently cover a future finding of the same rule.
    (report,) = any_synth.validation_report()["pluginReports"]
    used = {(finding["acknowledgedAt"], finding["acknowledgedId"]) for finding in report["suppressedViolations"]}
    stale = [(path, rule) for path, rule, _ in any_synth.acknowledgments() if (path, rule) not in used]
    assert not stale


def test_custom_resource_provider_findings_are_acknowledged_only_when_it_exists(
    default_synth: Synth, two_way_synth: Synth, limited_synth: Synth
) -> None:
    def provider_acks(synth: Synth) -> list[str]:
        return [rule for path, rule, _ in synth.acknowledgments() if "AWS679f53fac002430cb0da5b7982bd2287" in path]

    # no two-way wiring, no on-call definitions, but the receipts' event destination on the configuration set it names
    assert provider_acks(limited_synth)
    assert provider_acks(two_way_synth)
    assert provider_acks(default_synth)  # it writes the on-call definitions


def test_an_unacknowledged_finding_fails_synth(tmp_path: Path) -> None:
    # The premise of the tests above: with the AwsSolutions plugin, a finding makes app.synth() raise.
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Probe")
    sqs.Queue(stack, "PlainQueue")  # no DLQ, no TLS enforcement
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(RuntimeError, match=r"ValidationFailed(.|\n)*AwsSolutions-SQS4"):
        app.synth()
