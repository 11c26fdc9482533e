"""The stack: composes storage, functions, workflow, messaging and monitoring, and grants between them."""

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from aws_cdk import Annotations, ArnFormat, Aws, CfnOutput, CfnRule, CfnRuleAssertion, Duration, Fn, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_smsvoice as smsvoice
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from .alerts import FUNCTION_TIMEOUT_SECONDS as ALERT_EVENTS_TIMEOUT_SECONDS
from .alerts import Alerts
from .config import HANDOFF_NOTICE_PERIOD_MINUTES, EscalationConfig
from .dashboard import OperationsDashboard
from .digests import StormDigests
from .functions import HandlerFunction, lambda_code, powertools_layer
from .heartbeats import Heartbeats
from .messaging import Messaging
from .monitoring import Monitoring
from .oncall import Oncall
from .oncall_config import Definitions, check_destinations, load_oncall
from .receipts import Receipts, own_configuration_set_name
from .storage import Storage, replaced_incident_filters
from .workflow import EscalationWorkflow

MAX_CONTACTS = 10  # the chain cap enforced by the start handler (lambdas/escalation/incidents/item.py)

# What each handler does to the incidents table (lambdas/escalation/store/repository.py IncidentRepository): reads it
# and updates items conditionally. Nobody puts (replaces) or deletes an incident: the table is the audit log.
INCIDENT_TABLE_ACTIONS = {
    "start": ("dynamodb:GetItem", "dynamodb:UpdateItem"),
    # page and reply read every incident paged to a number (escalation.replies.matching.Inbox), 100 per BatchGetItem.
    "page": ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:UpdateItem"),
    "unacknowledged": ("dynamodb:GetItem", "dynamodb:UpdateItem"),
    "reply": ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:UpdateItem"),
    "operator": ("dynamodb:GetItem", "dynamodb:UpdateItem"),
}
# Every SDK call gives up after at most ~24 s (lambdas/escalation/platform/aws_clients.py); a function does a few in a row,
# and the senders may wait a little for a send slot. The reply handler may send a confirmation and up to ten notices
# (a YES ALL: one confirmation, then a digest per other person, whatever the number of incidents).
# The operator function (the CLI's acknowledge and resolve) sends what a YES or a RESOLVE sends.
FUNCTION_TIMEOUT_SECONDS = {
    "StartEscalation": 60, "PageContact": 90, "MarkUnacknowledged": 180, "HandleReply": 180, "HandoffNotices": 180,
    "Operator": 180,
}  # fmt: skip
# What the operator function does in the messages table: once-only keys (put, get, update, delete), the outbound
# message log (put), the send rate and the SMS ceilings (update). It never matches replies, so no index.
OPERATOR_MESSAGES_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
SMS_ARN_PREFIX = "arn:<AWS::Partition>:sms-voice:<AWS::Region>:<AWS::AccountId>:"
ALLOWED_COUNTRIES_WARNING = "incident-escalation:allowedCountries"
SHORT_WINDOW_WARNING = "incident-escalation:shortAcknowledgementWindow"
DEPLOY_REFUSED_WARNING = "incident-escalation:deployRefused"


def sms_send_resources(config: EscalationConfig) -> list[str]:
    """What SendTextMessage is authorized against, with <AWS::...> for the pseudo parameters (cdk-nag's notation).

    The service checks the origination identity (phone number, pool or sender ID), the configuration set, the
    opt-out list and the protect configuration of each send. The origination identity is the configured one;
    an E.164 number is matched by its id in ARNs, unknown at synth, so it allows this account's numbers
    (configure the phone-... id to scope it to the number). With no identity at all (synth for the demo and the
    tests; such a template is refused at deploy) it allows this account's numbers, pools and sender IDs.
    Opt-out lists are assigned to the identity outside this stack, and a protect configuration can only block
    sends, so those are allowed in this account and region; the stack's own protect configuration, when
    allowedCountries is set, is added by the stack.
    """
    identity = config.origination_identity
    if identity.startswith("arn:"):
        resources = [identity]
    elif identity.startswith("phone-"):
        resources = [f"{SMS_ARN_PREFIX}phone-number/{identity}"]
    elif identity.startswith("pool-"):
        resources = [f"{SMS_ARN_PREFIX}pool/{identity}"]
    elif identity.startswith("+"):
        resources = [f"{SMS_ARN_PREFIX}phone-number/*"]
    elif identity:  # a sender ID, registered per country
        resources = [f"{SMS_ARN_PREFIX}sender-id/{identity}/*"]
    else:
        resources = [f"{SMS_ARN_PREFIX}{kind}/*" for kind in ("phone-number", "pool", "sender-id")]
    name = config.configuration_set
    if name:
        resources.append(name if name.startswith("arn:") else f"{SMS_ARN_PREFIX}configuration-set/{name}")
    resources.append(f"{SMS_ARN_PREFIX}opt-out-list/*")
    if not config.allowed_countries:
        resources.append(f"{SMS_ARN_PREFIX}protect-configuration/*")
    return resources


def _resolved(resource: str) -> str:
    return (
        resource.replace("<AWS::Partition>", Aws.PARTITION)
        .replace("<AWS::Region>", Aws.REGION)
        .replace("<AWS::AccountId>", Aws.ACCOUNT_ID)
    )


def _oncall_definitions(config: EscalationConfig) -> Definitions | None:
    """oncall.yaml (oncallFile), checked: a broken file or a person outside allowedCountries fails synth."""
    if not config.oncall_file:
        return None
    definitions = load_oncall(Path(config.oncall_file))
    check_destinations(definitions, config.allowed_calling_codes, source=config.oncall_file)
    return definitions


class EscalationStack(Stack):
    """Everything one `cdk deploy` creates."""

    handoff_dlq: sqs.Queue | None = None  # handoff runs that failed for good (set when handoff notices are on)

    def __init__(self, scope: Construct, construct_id: str, *, config: EscalationConfig, **kwargs: object) -> None:  # noqa: PLR0915 - it composes every part
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.config = config = self._name_configuration_set(config)
        storage = Storage(self, "Storage")
        definitions = _oncall_definitions(config)
        self.oncall = Oncall(self, "Oncall", definitions=definitions)
        messaging = Messaging(self, "Messaging", ops_email=config.ops_email)
        protect_configuration = messaging.limit_destinations(config.allowed_countries) if config.allowed_countries else None
        self._check_deployable()
        code = lambda_code()
        layer = powertools_layer(self, config.powertools_layer_version)
        state_machine_name = f"{self.stack_name}-escalation"
        state_machine_arn = self.format_arn(
            service="states", resource="stateMachine", resource_name=state_machine_name, arn_format=ArnFormat.COLON_RESOURCE_NAME
        )
        common_env = {
            "INCIDENTS_TABLE": storage.incidents.table_name,
            "MESSAGES_TABLE": storage.messages.table_name,
            "SMS_API": config.sms_api,
            "ORIGINATION_IDENTITY": config.origination_identity,
            "CONFIGURATION_SET": config.configuration_set,
            "PINPOINT_APPLICATION_ID": config.pinpoint_application_id,
            "MAX_SMS_SEGMENTS": str(config.max_sms_segments),
            "MAX_SMS_SEGMENTS_UNICODE": str(config.max_sms_segments_unicode),
            "MESSAGE_TTL_DAYS": str(config.message_ttl_days),
            "ALLOWED_COUNTRIES": ",".join(config.allowed_countries),  # empty: any destination
            # The item check compares numbers with these (the protect configuration is the precise guard).
            "ALLOWED_CALLING_CODES": ",".join(config.allowed_calling_codes),
            "ONCALL_TABLE": self.oncall.table.table_name,  # deployed definitions and overrides (policies)
        }
        # Limits of every function that sends SMS.
        sms_env = {
            "SMS_PARTS_PER_SECOND": str(config.sms_parts_per_second),
            "FAULT_RETRY_SECONDS": str(config.fault_retry_seconds),
            "MAX_SMS_PER_INCIDENT": str(config.max_sms_per_incident),
            "MAX_SMS_PER_HOUR": str(config.max_sms_per_hour),
            "ACK_TIMEOUT_SECONDS": str(config.ack_timeout_seconds),  # a page's TimeToLive: moot after its window
            # Storms (escalation.paging.storms): page batches and notice digests, whichever function sends the text.
            "STORM_BATCH_SECONDS": str(config.storm_batch_seconds),
            # Ref is the ProtectConfigurationId (its primary identifier); pass it as ProtectConfigurationId on each send.
            "PROTECT_CONFIGURATION_ID": protect_configuration.ref if protect_configuration else "",
        }

        # Storm digests: the notice that opens one hands it to this function (every sender may invoke it).
        self.digests: StormDigests | None = None
        if config.storm_batch_seconds:
            self.digests = StormDigests(
                self, "StormDigests", code=code, layer=layer, environment={**common_env, **sms_env},
                messages=storage.messages, grant_sms=lambda role: self._grant_sms(role, protect_configuration),
            )  # fmt: skip
            sms_env["STORM_DIGEST_FUNCTION"] = self.digests.function.function_name

        def function(construct_id: str, handler: str, description: str, **extra_env: str) -> HandlerFunction:
            return HandlerFunction(
                self, construct_id, handler=handler, description=description, code=code, layer=layer,
                environment={**common_env, **extra_env}, timeout_seconds=FUNCTION_TIMEOUT_SECONDS[construct_id],
            )  # fmt: skip

        self.start = function(
            "StartEscalation", "start_escalation.handler", "Validates new incidents and starts their escalation",
            STATE_MACHINE_ARN=state_machine_arn, REPEAT=str(config.repeat), HISTORY_TABLE=storage.history.table_name,
            ACK_TIMEOUT_SECONDS=str(config.ack_timeout_seconds),  # each contact level's window (policies set their own)
        )  # fmt: skip
        self.page = function(
            "PageContact", "page_contact.handler", "Pages the contact of the current level",
            OPS_TOPIC_ARN=messaging.ops_topic.topic_arn, **sms_env,
        )  # fmt: skip
        self.unacknowledged = function(
            "MarkUnacknowledged", "mark_unacknowledged.handler", "Closes an incident nobody acknowledged",
            OPS_TOPIC_ARN=messaging.ops_topic.topic_arn, **sms_env,
        )  # fmt: skip
        self.reply = function("HandleReply", "handle_reply.handler", "Acts on YES/NO SMS replies", **sms_env)
        self.operator = self._operator(
            function("Operator", "operator_actions.handler", "Acknowledges and resolves for the incidents CLI", **sms_env),
            storage,
            state_machine_arn,
            protect_configuration,
        )

        self.workflow = EscalationWorkflow(
            self,
            "Workflow",
            state_machine_name=state_machine_name,
            page_contact=self.page.function,
            mark_unacknowledged=self.unacknowledged.function,
            ack_timeout_seconds=config.ack_timeout_seconds,
            reminders=config.reminders,
            max_levels=MAX_CONTACTS * (config.repeat + 1),
            longest_policy_seconds=max(
                (
                    policy.pass_seconds() * (policy.repeat + 1)
                    for policy in (definitions.policies.values() if definitions else ())
                ),
                default=0,
            ),
            fault_retry_seconds=config.fault_retry_seconds,
        )

        # Start: stream -> function, new incidents and replaced ones (archived), nothing dropped silently.
        self.stream_dlq = _dead_letter_queue(self, "StreamFailures")
        self.start.function.add_event_source(
            sources.DynamoEventSource(
                storage.incidents,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=10,
                bisect_batch_on_error=True,
                retry_attempts=5,
                max_record_age=Duration.days(1),
                report_batch_item_failures=True,
                on_failure=sources.SqsDlq(self.stream_dlq),
                filters=[*new_incident_filters(), *new_pass_filters(), *replaced_incident_filters()],
            )
        )
        # Replies: inbound topic -> function; failed async invokes land in a queue, not in the void.
        self.reply_dlq = _dead_letter_queue(self, "ReplyFailures")
        self.alarm_event_dlq = _dead_letter_queue(self, "AlarmEventFailures")  # alarm changes not applied (stacks/alerts.py)
        self.reply.function.configure_async_invoke(retry_attempts=2, on_failure=destinations.SqsDestination(self.reply_dlq))
        messaging.inbound_topic.add_subscription(subscriptions.LambdaSubscription(self.reply.function))

        # Grants: each function gets what it touches, nothing more.
        for name, actions in INCIDENT_TABLE_ACTIONS.items():
            storage.incidents.grant(getattr(self, name).function, *actions)
        storage.history.grant(self.start.function, "dynamodb:PutItem")  # append-only: nothing may change the archive
        # Definitions (start: which policies exist; page: who is on call) and overrides: read only.
        for handler in (self.start, self.page):
            self.oncall.table.grant(handler.function, "dynamodb:GetItem", "dynamodb:Query")
        self.workflow.state_machine.grant_start_execution(self.start.function)
        for handler in (self.page, self.unacknowledged, self.reply):
            # The message log, the by_contact index, once-only keys and the reply idempotency records.
            storage.messages.grant_read_write_data(handler.function)
            self._grant_sms(handler.role, protect_configuration)
        for handler in (self.page, self.reply):
            handler.role.add_to_policy(
                iam.PolicyStatement(actions=["states:SendTaskSuccess", "states:SendTaskFailure"], resources=[state_machine_arn])
            )
        for handler in (self.page, self.unacknowledged):  # a fault of ours is told to ops at once; so is an exhausted chain
            messaging.ops_topic.grant_publish(handler.function)

        self.handoff = (
            self._handoff_notices(function, storage, protect_configuration, sms_env) if config.handoff_notice_minutes else None
        )

        if config.configure_two_way:
            messaging.configure_two_way(phone_number_id=config.two_way_phone_number_id)

        self.storage = storage
        self.messaging = messaging
        self._add_alerts(common_env, sms_env, code, layer, state_machine_arn, protect_configuration)
        self.receipts = self._receipts(code, layer, common_env) if config.sms_api == "v2" else None
        if self.receipts is not None:  # a page that will not arrive ends its level's wait; a fault of ours tells ops
            receipts = self.receipts.function
            receipts.role.add_to_policy(iam.PolicyStatement(actions=["states:SendTaskFailure"], resources=[state_machine_arn]))
            messaging.ops_topic.grant_publish(receipts.function)
            receipts.function.add_environment("OPS_TOPIC_ARN", messaging.ops_topic.topic_arn)

        self.monitoring = self._monitoring(messaging.ops_topic)
        self.dashboard = OperationsDashboard(
            self,
            "Dashboard",
            dashboard_name=f"{self.stack_name}-operations",
            state_machine=self.workflow.state_machine,
            alarms=[*self.monitoring.alarms, *self.heartbeats.alarms, *(self.receipts.alarms if self.receipts else [])],
        )
        CfnOutput(self, "IncidentsTableName", value=storage.incidents.table_name, description="Write incidents here")
        CfnOutput(self, "IncidentHistoryTableName", value=storage.history.table_name, description="Replaced, deleted incidents")
        CfnOutput(self, "InboundSmsTopicArn", value=messaging.inbound_topic.topic_arn, description="Two-way SMS destination")
        CfnOutput(self, "OpsTopicArn", value=messaging.ops_topic.topic_arn, description="Unacknowledged incidents, alarms")
        CfnOutput(self, "StateMachineArn", value=self.workflow.state_machine.state_machine_arn)
        CfnOutput(self, "OncallTableName", value=self.oncall.table.table_name, description="On-call definitions, overrides")
        CfnOutput(self, "DashboardName", value=self.dashboard.dashboard.dashboard_name, description="CloudWatch dashboard")

    def _name_configuration_set(self, config: EscalationConfig) -> EscalationConfig:
        """The configuration every text names: the stack's own unless configurationSet names one managed elsewhere.

        The legacy Pinpoint API has no configuration sets (nor receipts). Sets owns_configuration_set.
        """
        self.owns_configuration_set = config.sms_api == "v2" and not config.configuration_set
        if not self.owns_configuration_set:
            return config
        return dataclasses.replace(config, configuration_set=own_configuration_set_name(self.stack_name))

    def _receipts(self, code: lambda_.Code, layer: lambda_.ILayerVersion, environment: dict[str, str]) -> Receipts:
        """Delivery receipts and spend (stacks/receipts.py): the configuration set's destination, the functions, alarms."""
        return Receipts(
            self, "Receipts", configuration_set=self.config.configuration_set, owned=self.owns_configuration_set,
            incidents=self.storage.incidents, messages=self.storage.messages, ops_topic=self.messaging.ops_topic,
            code=code, layer=layer, environment=environment, message_ttl_days=self.config.message_ttl_days,
        )  # fmt: skip

    def _monitoring(self, ops_topic: sns.ITopic) -> Monitoring:
        """The alarms, to the ops topic."""
        # Every function of ours alarms on its errors, except those that raise on purpose so that what invoked
        # them retries (alert events for an alarm change, handoff notices): their dead-letter queues alarm instead.
        dead_letter_queues: dict[str, sqs.IQueue] = {
            "StreamFailures": self.stream_dlq,
            "ReplyFailures": self.reply_dlq,
            "AlarmEventFailures": self.alarm_event_dlq,
        }
        if self.handoff_dlq is not None:
            dead_letter_queues["HandoffFailures"] = self.handoff_dlq
        if self.digests is not None:
            dead_letter_queues["StormDigestFailures"] = self.digests.dead_letters
        return Monitoring(
            self,
            "Monitoring",
            ops_topic=ops_topic,
            dead_letter_queues=dead_letter_queues,
            state_machine=self.workflow.state_machine,
            functions={
                "StartEscalation": self.start.function,
                "PageContact": self.page.function,
                "MarkUnacknowledged": self.unacknowledged.function,
                "HandleReply": self.reply.function,
                "Operator": self.operator.function,
            },
            stream_function=self.start.function,
            events_api=self.alerts.api,
        )

    def _add_alerts(  # noqa: PLR0917 - what the alerts function shares with the others
        self,
        common_env: dict[str, str],
        sms_env: dict[str, str],
        code: lambda_.Code,
        layer: lambda_.ILayerVersion,
        state_machine_arn: str,
        protect_configuration: smsvoice.CfnProtectConfiguration | None,
    ) -> None:
        """The Events API v2 endpoint (stacks/alerts.py) and what its function may touch here."""
        function = HandlerFunction(
            self, "AlertEvents", handler="alert_events.handler", description="Events API v2: opens, acknowledges, resolves",
            code=code, layer=layer, environment={**common_env, **sms_env}, timeout_seconds=ALERT_EVENTS_TIMEOUT_SECONDS,
        )  # fmt: skip
        self.alerts = Alerts(self, "Alerts", function=function)
        function.function.add_environment("REPEAT_AFTER_SECONDS", str(self.config.repeat_after_seconds))
        self.alarm_rule = self.alerts.deliver_alarms(
            default_integration=self.config.alarm_integration,
            own_alarm_prefix=f"{self.stack_name}-",
            dead_letters=self.alarm_event_dlq,
        )
        # It writes new incidents (PutItem, conditional: never over an open one) and updates them like the reply handler.
        # BatchGetItem: a new short id is drawn from a sample of ids read together (escalation.alerts.short_ids._draw).
        self.storage.incidents.grant(
            function.function, "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"
        )
        self.storage.messages.grant_read_write_data(function.function)
        self._grant_sms(function.role, protect_configuration)
        function.role.add_to_policy(iam.PolicyStatement(actions=["states:SendTaskSuccess"], resources=[state_machine_arn]))
        CfnOutput(self, "EventsApiUrl", value=self.alerts.url, description="Events API v2: POST events here")
        CfnOutput(self, "IntegrationsTableName", value=self.alerts.integrations.table_name, description="Routing keys")
        # What the functions check each contact against, for the CLI's integration commands ("any": no limit).
        CfnOutput(
            self,
            "AllowedCallingCodes",
            value=",".join(self.config.allowed_calling_codes) or "any",
            description="allowedCountries as calling codes",
        )
        # Heartbeat monitors (stacks/heartbeats.py): a route on this API, its function, the deadline checker.
        self.heartbeats = Heartbeats(
            self, "Heartbeats", alerts=self.alerts, incidents=self.storage.incidents, messages=self.storage.messages,
            ops_topic=self.messaging.ops_topic, code=code, layer=layer, environment={**common_env, **sms_env},
            state_machine_arn=state_machine_arn, grant_sms=lambda role: self._grant_sms(role, protect_configuration),
            repeat_after_seconds=self.config.repeat_after_seconds,
        )  # fmt: skip

    def _operator(
        self,
        operator: HandlerFunction,
        storage: Storage,
        state_machine_arn: str,
        protect_configuration: smsvoice.CfnProtectConfiguration | None,
    ) -> HandlerFunction:
        """The operator function (the CLI's acknowledge and resolve), with what it touches besides the incidents table."""
        role = operator.role
        # Message items only (Table.grant would add the indexes): once-only keys, the outbound log, send rate, ceilings.
        role.add_to_policy(iam.PolicyStatement(actions=list(OPERATOR_MESSAGES_ACTIONS), resources=[storage.messages.table_arn]))
        self._grant_sms(role, protect_configuration)
        # Acknowledging and resolving both complete the parked task with success; an operator never declines.
        role.add_to_policy(iam.PolicyStatement(actions=["states:SendTaskSuccess"], resources=[state_machine_arn]))
        CfnOutput(self, "OperatorFunctionName", value=operator.function.function_name, description="The CLI's ack, resolve")
        return operator

    def _handoff_notices(
        self,
        function: Callable[..., HandlerFunction],
        storage: Storage,
        protect_configuration: smsvoice.CfnProtectConfiguration | None,
        sms_env: Mapping[str, str],
    ) -> HandlerFunction:
        """The function that texts incoming on-call people, run every 15 minutes by EventBridge Scheduler."""
        handoff: HandlerFunction = function(
            "HandoffNotices", "handoff_notices.handler", "Texts the incoming on-call person before a shift",
            HANDOFF_NOTICE_MINUTES=str(self.config.handoff_notice_minutes), **sms_env,
        )  # fmt: skip
        self.oncall.table.grant(handoff.function, "dynamodb:GetItem", "dynamodb:Query")
        storage.messages.grant_read_write_data(handoff.function)  # the message log and once-only keys
        self._grant_sms(handoff.role, protect_configuration)
        # A run that meets a fault of ours (throttling, spend limit) raises: retried twice, then kept, and that alarms.
        self.handoff_dlq = _dead_letter_queue(self, "HandoffFailures")
        period = Duration.minutes(HANDOFF_NOTICE_PERIOD_MINUTES)
        handoff.function.configure_async_invoke(
            retry_attempts=2, max_event_age=period, on_failure=destinations.SqsDestination(self.handoff_dlq)
        )
        scheduler.Schedule(
            self,
            "HandoffSchedule",
            description="Handoff notices: texts each person whose on-call shift starts soon (once per shift)",
            schedule=scheduler.ScheduleExpression.rate(Duration.minutes(HANDOFF_NOTICE_PERIOD_MINUTES)),
            # A late run is harmless (each notice has a once-only key); one older than a period is superseded.
            target=scheduler_targets.LambdaInvoke(
                handoff.function, retry_attempts=2, max_event_age=period, dead_letter_queue=self.handoff_dlq
            ),
        )
        return handoff

    def _check_deployable(self) -> None:
        """Refuse, at deploy time, a configuration that cannot hear replies; warn about a missing country limit.

        Synth must keep working without settings (make synth, the local sandbox, the tests), so the refusal is a
        CloudFormation rule: its assertions are evaluated when a change set is created, before any resource
        exists, and the deployment fails with the assertion's description, which names the context key.
        """
        blockers = self.config.deploy_blockers()
        if blockers:
            CfnRule(
                self,
                "RepliesMustReachTheStack",
                assertions=[
                    CfnRuleAssertion(assert_=Fn.condition_contains(["deployable"], "refused"), assert_description=blocker)
                    for blocker in blockers
                ],
            )
            for blocker in blockers:
                Annotations.of(self).add_warning_v2(DEPLOY_REFUSED_WARNING, f"this template cannot be deployed: {blocker}")
        if self.config.ack_timeout_seconds < 2 * FUNCTION_TIMEOUT_SECONDS["PageContact"]:
            Annotations.of(self).add_warning_v2(
                SHORT_WINDOW_WARNING,
                f"ackTimeoutSeconds={self.config.ack_timeout_seconds}: the acknowledgement window also covers the page "
                "function's own run (normally under a second, up to its timeout when the SMS API is slow); with a window "
                f"under {2 * FUNCTION_TIMEOUT_SECONDS['PageContact']} s a very slow send can use it up and count as silence",
            )
        if not self.config.allowed_countries:
            Annotations.of(self).add_warning_v2(
                ALLOWED_COUNTRIES_WARNING,
                "allowedCountries is empty: SMS may be sent to any country; set it (e.g. -c allowedCountries=GB,IE) "
                "to block every other destination",
            )

    def _grant_sms(self, role: iam.IRole, protect_configuration: smsvoice.CfnProtectConfiguration | None) -> None:
        """Permission to send SMS through the configured API, from the configured identity only."""
        if self.config.sms_api == "pinpoint":
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["mobiletargeting:SendMessages"],
                    resources=[
                        f"arn:{Aws.PARTITION}:mobiletargeting:{Aws.REGION}:{Aws.ACCOUNT_ID}:apps/"
                        f"{self.config.pinpoint_application_id}/messages"
                    ],
                )
            )
            return
        resources = [_resolved(resource) for resource in sms_send_resources(self.config)]
        if protect_configuration is not None:  # its ARN from its id: no GetAtt, which the local sandbox cannot resolve
            resources.append(_resolved(f"{SMS_ARN_PREFIX}protect-configuration/{protect_configuration.ref}"))
        role.add_to_principal_policy(iam.PolicyStatement(actions=["sms-voice:SendTextMessage"], resources=resources))
        if self.digests is not None:  # a sender may hand a storm digest over (set before the first sender exists)
            self.digests.grant_invoke(role)


def new_incident_filters() -> list[Mapping[str, Any]]:
    """Stream records of new incidents: INSERTs, and MODIFYs that leave a fresh, never-started item.

    A MODIFY matches when a PutItem replaces an old item with the same id, or when an item marked
    invalid is fixed; the app's own first write sets execution_arn (or status invalid), so it never does.
    (lambdas/escalation/incidents/start.py is_new_incident applies the same rule.)
    """
    # Filters see leaf values only: an attribute is tested through its DynamoDB type ("S").
    fresh = {"execution_arn": {"S": lambda_.FilterRule.not_exists()}}
    modify = lambda_.FilterRule.is_equal("MODIFY")
    open_status = {"S": lambda_.FilterRule.is_equal("not_acknowledged")}
    return [
        lambda_.FilterCriteria.filter({"eventName": lambda_.FilterRule.is_equal("INSERT")}),
        lambda_.FilterCriteria.filter(
            {
                "eventName": modify,
                "dynamodb": {"NewImage": {**fresh, "incident_stat": open_status}},
            }
        ),
        lambda_.FilterCriteria.filter(
            {"eventName": modify, "dynamodb": {"NewImage": {**fresh, "incident_stat": {"S": lambda_.FilterRule.not_exists()}}}}
        ),
    ]


def new_pass_filters() -> list[Mapping[str, Any]]:
    """Stream records of an exhausted or failed incident put back to open by an alert firing again (a new pass).

    (lambdas/escalation/incidents/start.py is_new_pass applies the same rule, and checks the execution changed.)
    """
    return [
        lambda_.FilterCriteria.filter(
            {
                "eventName": lambda_.FilterRule.is_equal("MODIFY"),
                "dynamodb": {
                    "OldImage": {"incident_stat": {"S": lambda_.FilterRule.or_("unacknowledged", "failed")}},
                    "NewImage": {"incident_stat": {"S": lambda_.FilterRule.is_equal("not_acknowledged")}},
                },
            }
        )
    ]


def _dead_letter_queue(scope: Construct, construct_id: str) -> sqs.Queue:
    """An encrypted, TLS-only queue that keeps what could not be processed for two weeks."""
    return sqs.Queue(
        scope,
        construct_id,
        retention_period=Duration.days(14),
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
    )
