"""The incidents table (also the audit log) and the outbound-message table."""

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct


class Storage(Construct):
    """Owns both DynamoDB tables; the stack grants access to them."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.incidents = dynamodb.Table(
            self,
            "Incidents",
            partition_key=dynamodb.Attribute(name="incident_id", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            stream=dynamodb.StreamViewType.NEW_IMAGE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(point_in_time_recovery_enabled=True),
            deletion_protection=True,
            # The table is the incident history and audit log: it outlives the stack.
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
