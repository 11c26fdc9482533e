"""What starts an escalation: the incidents table's stream, filtered, into the start function, failures kept."""

from collections.abc import Mapping
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs

from .storage import replaced_incident_filters


def start_on_new_incidents(start: lambda_.IFunction, incidents: dynamodb.ITable, dead_letters: sqs.IQueue) -> None:
    """Stream -> function, new incidents and replaced ones (archived), nothing dropped silently."""
    start.add_event_source(
        sources.DynamoEventSource(
            incidents,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=10,
            bisect_batch_on_error=True,
            retry_attempts=5,
            max_record_age=Duration.days(1),
            report_batch_item_failures=True,
            on_failure=sources.SqsDlq(dead_letters),
            filters=[*new_incident_filters(), *new_pass_filters(), *replaced_incident_filters()],
        )
    )


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
