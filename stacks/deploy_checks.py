"""What synth warns about and what a deployment refuses: no way to hear replies, a short window, no country limit."""

from aws_cdk import Annotations, CfnRule, CfnRuleAssertion, Fn, Stack

from .config import EscalationConfig

ALLOWED_COUNTRIES_WARNING = "incident-escalation:allowedCountries"
SHORT_WINDOW_WARNING = "incident-escalation:shortAcknowledgementWindow"
DEPLOY_REFUSED_WARNING = "incident-escalation:deployRefused"


def check_deployable(stack: Stack, config: EscalationConfig, *, page_timeout_seconds: int) -> None:
    """Refuse, at deploy time, a configuration that cannot hear replies; warn about a missing country limit.

    Synth must keep working without settings (make synth, the local sandbox, the tests), so the refusal is a
    CloudFormation rule: its assertions are evaluated when a change set is created, before any resource
    exists, and the deployment fails with the assertion's description, which names the context key.
    """
    blockers = config.deploy_blockers()
    if blockers:
        CfnRule(
            stack,
            "RepliesMustReachTheStack",
            assertions=[
                CfnRuleAssertion(assert_=Fn.condition_contains(["deployable"], "refused"), assert_description=blocker)
                for blocker in blockers
            ],
        )
        for blocker in blockers:
            Annotations.of(stack).add_warning_v2(DEPLOY_REFUSED_WARNING, f"this template cannot be deployed: {blocker}")
    if config.ack_timeout_seconds < 2 * page_timeout_seconds:
        Annotations.of(stack).add_warning_v2(
            SHORT_WINDOW_WARNING,
            f"ackTimeoutSeconds={config.ack_timeout_seconds}: the acknowledgement window also covers the page "
            "function's own run (normally under a second, up to its timeout when the SMS API is slow); with a window "
            f"under {2 * page_timeout_seconds} s a very slow send can use it up and count as silence",
        )
    if not config.allowed_countries:
        Annotations.of(stack).add_warning_v2(
            ALLOWED_COUNTRIES_WARNING,
            "allowedCountries is empty: SMS may be sent to any country; set it (e.g. -c allowedCountries=GB,IE) "
            "to block every other destination",
        )
