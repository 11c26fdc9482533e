"""The escalation state machine: page, wait for the reply, remind, escalate, give up."""

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

# Errors raised by our handlers or by Lambda itself that deserve another try.
RETRYABLE_ERRORS = [
    "SmsThrottled",
    "Lambda.TooManyRequestsException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
]


def _state(level: str = "$.level", attempt: str | int = "$.attempt") -> dict[str, object]:
    """The workflow's state between tasks: the incident, its chain, the level, the reminder count, why the last level ended."""
    fields: dict[str, object] = {
        "incident_id.$": "$.incident_id",
        "contacts.$": "$.contacts",
        "level.$": level,
        "error.$": "$.error",  # null until a level ends; page_contact records it when it pages the next level
    }
    if isinstance(attempt, int):
        fields["attempt"] = attempt
    else:
        fields["attempt.$"] = attempt
    return fields


class EscalationWorkflow(Construct):
    """A Standard state machine built from CDK chain constructs; replies, not timers, drive it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine_name: str,
        page_contact: lambda_.IFunction,
        mark_unacknowledged: lambda_.IFunction,
        ack_timeout_seconds: int,
        reminders: int,
        max_levels: int,
    ) -> None:
        super().__init__(scope, construct_id)
        page = tasks.LambdaInvoke(
            self,
            "Page contact",
            comment="Record why the last level ended, send the page (or a reminder), wait for the reply handler.",
            lambda_function=page_contact,
            integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            payload=sfn.TaskInput.from_object(
                {
                    "token": sfn.JsonPath.task_token,
                    "incident_id": sfn.JsonPath.string_at("$.incident_id"),
                    "contacts": sfn.JsonPath.list_at("$.contacts"),
                    "level": sfn.JsonPath.number_at("$.level"),
                    "attempt": sfn.JsonPath.number_at("$.attempt"),
                    "error": sfn.JsonPath.object_at("$.error"),
                    "execution": sfn.JsonPath.execution_id,
                }
            ),
            task_timeout=sfn.Timeout.duration(Duration.seconds(ack_timeout_seconds)),
            result_path="$.reply",
        )
        page.add_retry(errors=RETRYABLE_ERRORS, interval=Duration.seconds(2), backoff_rate=2, max_attempts=5)

        closed = sfn.Succeed(self, "Incident closed", comment="Acknowledged, or closed while the page was under way.")
        exhausted = sfn.Succeed(self, "Chain exhausted", comment="Nobody acknowledged; everyone paged and ops were told.")

        count_reminder = sfn.Pass(self, "Count reminder", parameters=_state(attempt="States.MathAdd($.attempt, 1)"))
        next_level = sfn.Pass(
            self,
            "Find next level",
            parameters={
                **_state(),
                "next_level.$": "States.MathAdd($.level, 1)",
                "levels.$": "States.ArrayLength($.contacts)",
            },
        )
        remind = (
            sfn.Choice(self, "Remind?")
            .when(sfn.Condition.number_less_than("$.attempt", reminders), count_reminder.next(page))
            .otherwise(next_level)
        )

        # No Lambda between a NO and the next page: page_contact records the escalation as it pages.
        escalate = sfn.Pass(
            self, "Escalate", comment="Move to the next contact.", parameters=_state(level="$.next_level", attempt=0)
        )

        give_up = tasks.LambdaInvoke(
            self,
            "Mark unacknowledged",
            comment="Nobody took it: mark the incident, tell everyone paged and the ops topic.",
            lambda_function=mark_unacknowledged,
            payload=sfn.TaskInput.from_object(
                {
                    "incident_id": sfn.JsonPath.string_at("$.incident_id"),
                    "contacts": sfn.JsonPath.list_at("$.contacts"),
                    "level": sfn.JsonPath.number_at("$.level"),
                    "error": sfn.JsonPath.object_at("$.error"),
                    "execution": sfn.JsonPath.execution_id,
                }
            ),
            result_path=sfn.JsonPath.DISCARD,
        )
        give_up.add_retry(errors=RETRYABLE_ERRORS, interval=Duration.seconds(2), backoff_rate=2, max_attempts=5)

        another = (
            sfn.Choice(self, "Another contact?")
            .when(sfn.Condition.number_less_than_json_path("$.next_level", "$.levels"), escalate.next(page))
            .otherwise(give_up.next(exhausted))
        )

        # Silence may earn a reminder; a NO, an undeliverable page or any other error moves on at once.
        page.add_catch(remind, errors=["States.Timeout"], result_path="$.error")
        page.add_catch(next_level, errors=["States.ALL"], result_path="$.error")
        next_level.next(another)
        page.next(closed)

        self.log_group = logs.LogGroup(
            self, "Logs", retention=logs.RetentionDays.THREE_MONTHS, removal_policy=RemovalPolicy.DESTROY
        )
        worst_case_seconds = ack_timeout_seconds * (reminders + 1) * max_levels
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=state_machine_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(page),
            timeout=Duration.seconds(worst_case_seconds + 3600),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
        )
