"""The stack: composes storage, functions, workflow, messaging and monitoring, and grants between them.

The parts it wires live beside it: environment.py (what the functions read), sms_grants.py (who may text),
incident_stream.py (what starts an escalation), handoff.py, events_api.py (alerts and heartbeats), receipts.py,
deploy_checks.py (what synth warns about and a deployment refuses). Every resource keeps the stack as its scope.
"""

import dataclasses
from pathlib import Path

from aws_cdk import ArnFormat, CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_smsvoice as smsvoice
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from .config import EscalationConfig
from .dashboard import OperationsDashboard
from .deploy_checks import check_deployable
from .digests import StormDigests
from .environment import function_environment, sms_environment
from .events_api import add_events_api
from .functions import HandlerFunction, dead_letter_queue, lambda_code, powertools_layer
from .handoff import add_handoff_notices
from .incident_stream import start_on_new_incidents
from .maintenance import Maintenance
from .messaging import Messaging
from .monitoring import Monitoring
from .oncall import Oncall
from .oncall_config import Definitions, check_destinations, load_oncall
from .receipts import Receipts, own_configuration_set_name
from .self_test import add_self_test
from .sms_grants import grant_sms
from .storage import Storage
from .voice import add_voice_calls
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
# and senders may wait for a send slot. A reply may send a confirmation and up to ten notices (YES ALL: a confirmation,
# then a digest per other person); the operator function (the CLI's ack and resolve) sends what a YES or RESOLVE sends.
FUNCTION_TIMEOUT_SECONDS = {
    "StartEscalation": 60, "PageContact": 90, "MarkUnacknowledged": 180, "HandleReply": 180, "HandoffNotices": 180,
    "Operator": 180,
}  # fmt: skip
# What the operator function does in the messages table: once-only keys (put, get, update, delete), the outbound
# message log (put), the send rate and the SMS ceilings (update). It never matches replies, so no index.
OPERATOR_MESSAGES_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")


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
        check_deployable(self, config, page_timeout_seconds=FUNCTION_TIMEOUT_SECONDS["PageContact"])
        code = lambda_code()
        layer = powertools_layer(self, config.powertools_layer_version)
        state_machine_name = f"{self.stack_name}-escalation"
        state_machine_arn = self.format_arn(
            service="states", resource="stateMachine", resource_name=state_machine_name, arn_format=ArnFormat.COLON_RESOURCE_NAME
        )
        common_env = function_environment(config, storage, self.oncall.table)  # stacks/environment.py
        sms_env = sms_environment(config, protect_configuration)

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
            storage, state_machine_arn, protect_configuration,
        )  # fmt: skip
        self.voice = add_voice_calls(  # stacks/voice.py: only when some level may call someone
            self, config, definitions, storage.incidents, storage.messages, messaging.ops_topic, code, layer,
            {**common_env, **sms_env}, protect_configuration.ref if protect_configuration else None, self.page, self.operator,
        )  # fmt: skip

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

        # Start: stream -> function (stacks/incident_stream.py), nothing dropped silently.
        self.stream_dlq = dead_letter_queue(self, "StreamFailures")
        start_on_new_incidents(self.start.function, storage.incidents, self.stream_dlq)
        # Replies: inbound topic -> function; failed async invokes land in a queue, not in the void.
        self.reply_dlq = dead_letter_queue(self, "ReplyFailures")
        self.alarm_event_dlq = dead_letter_queue(self, "AlarmEventFailures")  # alarm changes not applied (stacks/alerts.py)
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

        self.handoff: HandlerFunction | None = None
        if config.handoff_notice_minutes:  # stacks/handoff.py
            self.handoff, self.handoff_dlq = add_handoff_notices(
                self, function, self.oncall.table, storage.messages,
                lambda role: self._grant_sms(role, protect_configuration), sms_env, config.handoff_notice_minutes,
            )  # fmt: skip

        self.maintenance = Maintenance(self, "Maintenance", operator=self.operator, start=self.start,  # windows
                                       oncall_table=self.oncall.table, ops_topic=messaging.ops_topic)  # fmt: skip
        self.self_test = None if not config.self_test_schedule else add_self_test(  # stacks/self_test.py
            self, config, code=code, layer=layer, environment={**common_env, **sms_env}, messages=storage.messages,
            oncall_table=self.oncall.table, ops_topic=messaging.ops_topic,
            grant_sms=lambda role: self._grant_sms(role, protect_configuration),
        )  # fmt: skip
        if config.configure_two_way:
            messaging.configure_two_way(phone_number_id=config.two_way_phone_number_id)

        self.storage = storage
        self.messaging = messaging
        events_api = add_events_api(  # stacks/events_api.py
            self, config, storage, messaging.ops_topic, self.alarm_event_dlq, code, layer, {**common_env, **sms_env},
            state_machine_arn, lambda role: self._grant_sms(role, protect_configuration),
        )  # fmt: skip
        self.alerts, self.alarm_rule, self.heartbeats = events_api.alerts, events_api.alarm_rule, events_api.heartbeats
        self.receipts = self._receipts(code, layer, common_env) if config.sms_api == "v2" else None
        if self.receipts is not None:  # a page that will not arrive ends its level's wait; a fault of ours tells ops
            receipts = self.receipts.function
            receipts.role.add_to_policy(iam.PolicyStatement(actions=["states:SendTaskFailure"], resources=[state_machine_arn]))
            messaging.ops_topic.grant_publish(receipts.function)
            receipts.function.add_environment("OPS_TOPIC_ARN", messaging.ops_topic.topic_arn)

        self.monitoring = self._monitoring(messaging.ops_topic)
        optional = [*(self.receipts.alarms if self.receipts else []), *(self.voice.alarms if self.voice else [])]
        self.dashboard = OperationsDashboard(
            self, "Dashboard", dashboard_name=f"{self.stack_name}-operations", state_machine=self.workflow.state_machine,
            alarms=[*self.monitoring.alarms, *self.heartbeats.alarms, *optional],
        )  # fmt: skip
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
            calls=self.voice is not None, spend_budget_usd=self.config.spend_budget_usd,
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
                **({"SelfTest": self.self_test.function} if self.self_test is not None else {}),
            },
            stream_function=self.start.function,
            events_api=self.alerts.api,
        )

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

    def _grant_sms(self, role: iam.IRole, protect_configuration: smsvoice.CfnProtectConfiguration | None) -> None:
        """Permission to send SMS (stacks/sms_grants.py), and to hand a storm digest over when storms are on."""
        grant_sms(role, self.config, protect_configuration)
        # A sender may hand a storm digest over (set before the first sender exists), whichever SMS API it uses.
        if self.digests is not None:
            self.digests.grant_invoke(role)
