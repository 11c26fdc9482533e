"""The on-call table, and the definitions from oncall.yaml written into it on each deploy.

Why a table rather than an asset the functions read: the overrides must live in DynamoDB anyway (the
CLI changes them at run time), and with the definitions in the same table the functions and the CLI
read exactly what is deployed, from any machine, with one GetItem. The item is written by an
AwsCustomResource whose physical id is the definitions' content hash: an unchanged oncall.yaml is no
change to the stack, a changed one is one PutItem, and a broken one never gets here (synth fails).
"""

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import custom_resources as cr
from constructs import Construct

from stacks.oncall_config import Definitions, definitions_item


class Oncall(Construct):
    """The on-call table (keys pk, sk; TTL expires_at on overrides) and the deployed definitions item."""

    def __init__(self, scope: Construct, construct_id: str, *, definitions: Definitions | None) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute="expires_at",
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(point_in_time_recovery_enabled=True),
            # Definitions come back from oncall.yaml on the next deploy; overrides are short-lived by nature.
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.version: str | None = None
        if definitions is None:
            return
        item = definitions_item(definitions)
        self.version = item["version"]
        put = cr.AwsSdkCall(
            service="DynamoDB",
            action="putItem",
            parameters={"TableName": self.table.table_name, "Item": {key: {"S": value} for key, value in item.items()}},
            physical_resource_id=cr.PhysicalResourceId.of(f"oncall-definitions-{item['version']}"),
        )
        self.deploy = cr.AwsCustomResource(
            self,
            "Definitions",
            on_create=put,
            on_update=put,
            policy=cr.AwsCustomResourcePolicy.from_sdk_calls(resources=[self.table.table_arn]),
            install_latest_aws_sdk=False,
        )
