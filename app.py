#!/usr/bin/env python3
"""Builds the CDK app from cdk.json context, runs the cdk-nag AwsSolutions checks, synthesizes."""

import sys

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.config import load_config
from stacks.config_errors import ConfigError
from stacks.escalation_stack import EscalationStack
from stacks.nag import acknowledge_findings

CONTEXT_KEYS = (
    "originationIdentity", "smsApi", "pinpointApplicationId", "configurationSet", "ackTimeoutSeconds", "reminders",
    "repeat", "maxSmsSegments", "configureTwoWay", "opsEmail", "powertoolsLayerVersion", "messageTtlDays", "stackName",
    "twoWayManagedElsewhere", "allowedCountries", "smsPartsPerSecond", "faultRetrySeconds", "maxSmsPerIncident",
    "maxSmsPerHour", "oncallFile", "handoffNoticeMinutes", "alarmIntegration",
    "stormBatchSeconds", "maxSmsSegmentsUnicode", "repeatAfterSeconds",
    "selfTestSchedule", "selfTestTimezone", "selfTestReplyMinutes", "workingHours", "workingHoursZone", "voiceAfterSeconds",
    "voiceId", "voiceMaxPricePerMinute", "spendBudgetUsd",
)  # fmt: skip


def build_app(app: cdk.App) -> EscalationStack:
    """Create the stack on app from its context, with cdk-nag validating every synth."""
    context = {key: app.node.try_get_context(key) for key in CONTEXT_KEYS}
    config = load_config({key: value for key, value in context.items() if value is not None})
    stack = EscalationStack(app, context.get("stackName") or "IncidentEscalation", config=config)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    acknowledge_findings(stack)
    return stack


def main() -> None:
    """Entry point of `cdk synth` / `cdk deploy`."""
    app = cdk.App()
    try:
        build_app(app)
    except ConfigError as error:
        print(f"Invalid configuration: {error}", file=sys.stderr)
        sys.exit(1)
    app.synth()


if __name__ == "__main__":
    main()
