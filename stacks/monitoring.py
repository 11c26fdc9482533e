"""Alarms that tell ops when something was not delivered or the workflow itself broke."""

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct


class Monitoring(Construct):
    """Alarms on dead-letter queues and failed executions, sent to the ops topic."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        ops_topic: sns.ITopic,
        dead_letter_queues: dict[str, sqs.IQueue],
        state_machine: sfn.IStateMachine,
    ) -> None:
        super().__init__(scope, construct_id)
        action = actions.SnsAction(ops_topic)
        self.alarms: list[cloudwatch.Alarm] = []
        for name, queue in dead_letter_queues.items():
            self.alarms.append(
                queue.metric_approximate_number_of_messages_visible(period=Duration.minutes(1)).create_alarm(
                    self,
                    f"{name}NotEmpty",
                    alarm_description=f"{name}: a message could not be processed and waits in the dead-letter queue",
                    threshold=0,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                    evaluation_periods=1,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            )
        for alarm_id, metric, what in (
            ("ExecutionsFailed", state_machine.metric_failed(period=Duration.minutes(1)), "failed"),
            ("ExecutionsTimedOut", state_machine.metric_timed_out(period=Duration.minutes(1)), "timed out"),
        ):
            self.alarms.append(
                metric.create_alarm(
                    self,
                    alarm_id,
                    alarm_description=f"An escalation execution {what}: an incident may not have been paged to the end",
                    threshold=0,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                    evaluation_periods=1,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            )
        # Published by the handlers (Powertools metrics); names live in lambdas/escalation/observability.py.
        undelivered = cloudwatch.Metric(
            namespace="IncidentEscalation",
            metric_name="SmsFailed",
            dimensions_map={"service": "incident-escalation"},
            statistic="Sum",
            period=Duration.minutes(5),
        )
        self.alarms.append(
            undelivered.create_alarm(
                self,
                "PageNotDelivered",
                alarm_description="A page could not be delivered (opted out, invalid number, SMS setup): check the incident",
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        )
        for alarm in self.alarms:
            alarm.add_alarm_action(action)
