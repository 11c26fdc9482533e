"""The incidents table (the current incidents and their timelines), the history archive, and the outbound-message table."""

from collections.abc import Mapping
from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

HISTORY_SORT_KEY = "replaced_at"  # lambdas/escalation/store/history.py writes it


class Storage(Construct):
    """Owns the DynamoDB tables; the stack grants access to them."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.incidents = dynamodb.Table(
            self,
            "Incidents",
            partition_key=dynamodb.Attribute(name="incident_id", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            # The old image is what the history archive keeps when an item is replaced or deleted.
            stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(point_in_time_recovery_enabled=True),
            deletion_protection=True,
            # The table is the incident history and audit log: it outlives the stack.
            removal_policy=RemovalPolicy.RETAIN,
        )
        # Append-only: every incident item that was replaced (a PutItem over its id) or deleted, as it was.
        self.history = dynamodb.Table(
            self,
            "IncidentHistory",
            partition_key=dynamodb.Attribute(name="incident_id", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=HISTORY_SORT_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(point_in_time_recovery_enabled=True),
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.messages = dynamodb.Table(
            self,
            "Messages",
            partition_key=dynamodb.Attribute(name="message_id", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute="expires_at",
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(point_in_time_recovery_enabled=True),
            # Only correlation data with a TTL: nothing to keep once the stack is gone.
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.messages.add_global_secondary_index(
            index_name="by_contact",
            partition_key=dynamodb.Attribute(name="contact", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sent_at", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )


def replaced_incident_filters() -> list[Mapping[str, Any]]:
    """Stream records that may take an incident's history off its item: archive candidates.

    A write that leaves no execution_arn, or a delete, of an item the app had already written to
    (stat_date is set by the app's first write, with the first timeline entry).
    lambdas/escalation/store/history.py is_replacement decides; it accepts nothing these filters reject.

    Filters match leaf values only, so attributes are tested through their DynamoDB type ("S").
    One filter for both (a mapping takes five by default): a REMOVE has no NewImage, and `exists: false`
    matches a leaf whose parent is missing too.
    """
    had_history = {"stat_date": {"S": lambda_.FilterRule.exists()}}
    return [
        lambda_.FilterCriteria.filter(
            {
                "eventName": lambda_.FilterRule.or_("MODIFY", "REMOVE"),
                "dynamodb": {"OldImage": had_history, "NewImage": {"execution_arn": {"S": lambda_.FilterRule.not_exists()}}},
            }
        ),
    ]
