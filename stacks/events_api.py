"""The Events API v2 endpoint (stacks/alerts.py) with its function, alarm delivery and heartbeats (stacks/heartbeats.py)."""

from collections.abc import Callable
from dataclasses import dataclass

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs

from .alerts import FUNCTION_TIMEOUT_SECONDS as ALERT_EVENTS_TIMEOUT_SECONDS
from .alerts import Alerts
from .config import EscalationConfig
from .functions import HandlerFunction
from .heartbeats import Heartbeats
from .storage import Storage


@dataclass(frozen=True)
class EventsApi:
    """What add_events_api made."""

    alerts: Alerts
    alarm_rule: events.Rule
    heartbeats: Heartbeats


def add_events_api(  # noqa: PLR0917 - what the alerts function shares with the others
    stack: Stack,
    config: EscalationConfig,
    storage: Storage,
    ops_topic: sns.ITopic,
    alarm_dead_letters: sqs.IQueue,
    code: lambda_.Code,
    layer: lambda_.ILayerVersion,
    environment: dict[str, str],
    state_machine_arn: str,
    grant_sms: Callable[[iam.IRole], None],
) -> EventsApi:
    """The Events API v2 endpoint and what its function may touch in the stack."""
    function = HandlerFunction(
        stack, "AlertEvents", handler="alert_events.handler", description="Events API v2: opens, acknowledges, resolves",
        code=code, layer=layer, environment=dict(environment), timeout_seconds=ALERT_EVENTS_TIMEOUT_SECONDS,
    )  # fmt: skip
    alerts = Alerts(stack, "Alerts", function=function)
    function.function.add_environment("REPEAT_AFTER_SECONDS", str(config.repeat_after_seconds))
    alarm_rule = alerts.deliver_alarms(
        default_integration=config.alarm_integration,
        own_alarm_prefix=f"{stack.stack_name}-",
        dead_letters=alarm_dead_letters,
    )
    # It writes new incidents (PutItem, conditional: never over an open one) and updates them like the reply handler.
    # BatchGetItem: a new short id is drawn from a sample of ids read together (escalation.alerts.short_ids._draw).
    storage.incidents.grant(
        function.function, "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"
    )
    storage.messages.grant_read_write_data(function.function)
    grant_sms(function.role)
    function.role.add_to_policy(iam.PolicyStatement(actions=["states:SendTaskSuccess"], resources=[state_machine_arn]))
    CfnOutput(stack, "EventsApiUrl", value=alerts.url, description="Events API v2: POST events here")
    CfnOutput(stack, "IntegrationsTableName", value=alerts.integrations.table_name, description="Routing keys")
    # What the functions check each contact against, for the CLI's integration commands ("any": no limit).
    CfnOutput(
        stack,
        "AllowedCallingCodes",
        value=",".join(config.allowed_calling_codes) or "any",
        description="allowedCountries as calling codes",
    )
    # Heartbeat monitors (stacks/heartbeats.py): a route on this API, its function, the deadline checker.
    heartbeats = Heartbeats(
        stack, "Heartbeats", alerts=alerts, incidents=storage.incidents, messages=storage.messages,
        ops_topic=ops_topic, code=code, layer=layer, environment=dict(environment),
        state_machine_arn=state_machine_arn, grant_sms=grant_sms, repeat_after_seconds=config.repeat_after_seconds,
    )  # fmt: skip
    return EventsApi(alerts=alerts, alarm_rule=alarm_rule, heartbeats=heartbeats)
