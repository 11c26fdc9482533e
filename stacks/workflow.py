"""The escalation state machine: page, wait for the reply, remind, escalate, give up."""

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

# The ends of a level that are the contact's doing (or silence, or nobody on call): never retried, they move the chain.
CONTACT_OUTCOMES = ["Declined", "SmsFailed", "NobodyOnCall"]
RETRY_BACKOFF = 2.0


def fault_retry_schedule(fault_retry_seconds: int) -> tuple[int, int]:
    """(interval, attempts) of a backoff that starts within seconds (throttling clears fast) and lasts fault_retry_seconds."""
    interval = 1 if fault_retry_seconds < 10 else 2
    attempts, waited, delay = 0, 0.0, float(interval)
    while waited < fault_retry_seconds:
        waited += delay
        delay *= RETRY_BACKOFF
        attempts += 1
    return interval, attempts


MAX_HOLD_SECONDS_PER_LEVEL = 7 * 86_400  # working hours recur weekly: a level waits at most a week for them


def _state(level: str = "$.level", attempt: str | int = "$.attempt", timeout: str = "$.timeout") -> dict[str, object]:
    """The workflow's state between tasks: the incident, its chain and windows, the level, reminders, why a level ended."""
    fields: dict[str, object] = {
        "incident_id.$": "$.incident_id",
        "contacts.$": "$.contacts",
        "ack_timeouts.$": "$.ack_timeouts",  # one per level: a policy level sets its own window
        "timeout.$": timeout,  # the window of the level being paged
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
        longest_policy_seconds: int = 0,
        fault_retry_seconds: int = 900,
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
                    "timeout": sfn.JsonPath.number_at("$.timeout"),
                    "error": sfn.JsonPath.object_at("$.error"),
                    "execution": sfn.JsonPath.execution_id,
                }
            ),
            task_timeout=sfn.Timeout.at("$.timeout"),
            result_path="$.reply",
        )
        # Our faults (throttling, quota, access, identity, a crash, a Lambda timeout) are retried for
        # fault_retry_seconds and never move the chain; a decline, a dead number or silence is not retried.
        interval, attempts = fault_retry_schedule(fault_retry_seconds)
        page.add_retry(errors=[*CONTACT_OUTCOMES, "States.Timeout"], max_attempts=0)
        page.add_retry(
            errors=["States.ALL"], interval=Duration.seconds(interval), backoff_rate=RETRY_BACKOFF, max_attempts=attempts
        )

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
            self,
            "Escalate",
            comment="Move to the next level, with its own acknowledgement window.",
            parameters=_state(level="$.next_level", attempt=0, timeout="States.ArrayGetItem($.ack_timeouts, $.next_level)"),
        )

        def close_incident(name: str, comment: str, *, error_path: str, outcome: str | None = None) -> tasks.LambdaInvoke:
            """A task of the mark_unacknowledged function that ends the escalation, retried like a page."""
            payload: dict[str, object] = {
                "incident_id": sfn.JsonPath.string_at("$.incident_id"),
                "contacts": sfn.JsonPath.list_at("$.contacts"),
                "level": sfn.JsonPath.number_at("$.level"),
                "error": sfn.JsonPath.object_at(error_path),
                "execution": sfn.JsonPath.execution_id,
            }
            if outcome:
                payload["outcome"] = outcome
            task = tasks.LambdaInvoke(
                self,
                name,
                comment=comment,
                lambda_function=mark_unacknowledged,
                payload=sfn.TaskInput.from_object(payload),
                result_path=sfn.JsonPath.DISCARD,
            )
            task.add_retry(
                errors=["States.ALL"], interval=Duration.seconds(interval), backoff_rate=RETRY_BACKOFF, max_attempts=attempts
            )
            return task

        give_up = close_incident(
            "Mark unacknowledged",
            "Nobody took it: mark the incident, tell the ops topic, then everyone paged.",
            error_path="$.error",
        )
        stop = close_incident(
            "Mark paging failed",
            "A fault on our side outlasted its retries: mark the incident failed, tell ops. No contact is blamed.",
            error_path="$.fault",
            outcome="failed",
        )
        stop.next(
            sfn.Fail(self, "Paging failed", error="PagingFailed", cause="A fault on our side stopped paging; see the incident")
        )

        # A page whose send slot is further away ends its task with `queued`: wait here, then page with a fresh window.
        wait_for_slot = sfn.Wait(
            self, "Wait for send slot", time=sfn.WaitTime.seconds_path("$.reply.wait_seconds"), comment="The number's send rate."
        )
        queued = (
            sfn.Choice(self, "Queued for a send slot?")
            .when(
                sfn.Condition.and_(
                    sfn.Condition.is_present("$.reply.outcome"), sfn.Condition.string_equals("$.reply.outcome", "queued")
                ),
                wait_for_slot.next(page),
            )
            .otherwise(closed)
        )

        another = (
            sfn.Choice(self, "Another contact?")
            .when(sfn.Condition.number_less_than_json_path("$.next_level", "$.levels"), escalate.next(page))
            .otherwise(give_up.next(exhausted))
        )

        # Silence may earn a reminder; a NO, an undeliverable page or any other error moves on at once.
        page.add_catch(remind, errors=["States.Timeout"], result_path="$.error")
        page.add_catch(next_level, errors=CONTACT_OUTCOMES, result_path="$.error")
        page.add_catch(stop, errors=["States.ALL"], result_path="$.fault")
        next_level.next(another)
        page.next(queued)

        self.log_group = logs.LogGroup(
            self, "Logs", retention=logs.RetentionDays.THREE_MONTHS, removal_policy=RemovalPolicy.DESTROY
        )
        # The longest chain: max_levels contacts at the deployment's window, or a policy's levels (repeats included),
        # each level of a low-urgency incident perhaps held for its targets' working hours (a week at most: hours
        # recur weekly; lambdas/escalation/paging/urgency.py). An execution timing out would leave its incident open.
        worst_case_seconds = max(ack_timeout_seconds * max_levels, longest_policy_seconds) * (reminders + 1)
        worst_case_seconds += MAX_HOLD_SECONDS_PER_LEVEL * max_levels
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
