"""Maintenance windows (docs/maintenance.md): kept in the on-call table, their edges scheduled back to the operator function.

The operator function stores a window, tells ops, and creates one-time schedules in its own group for the
window's start (when planned ahead) and end; Scheduler invokes the operator function with the edge. At the end it
releases every incident the window held: the start function notes each on the window's item (the only write it may
make to the on-call table, and only in the windows' partition).
"""

from aws_cdk import Acknowledgment, Aws, CfnOutput, RemovalPolicy, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sns as sns
from constructs import Construct

from .functions import HandlerFunction
from .scheduler_roles import invoker_role, pass_to_scheduler

PARTITION = "maintenance"  # lambdas/escalation/store/maintenance_windows.py: the windows' partition of the on-call table
# The operator's windows in the on-call table: read them all, store one, end one.
ONCALL_ACTIONS = ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem")


class Maintenance(Construct):
    """The schedule group, the role Scheduler invokes the operator function with, and the operator's grants."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        operator: HandlerFunction,
        start: HandlerFunction,
        oncall_table: dynamodb.ITable,
        ops_topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.group_name = f"{stack.stack_name[:52]}-maintenance"
        self.group = scheduler.ScheduleGroup(
            self, "Edges", schedule_group_name=self.group_name, removal_policy=RemovalPolicy.DESTROY
        )
        function = operator.function
        self.scheduler_role = invoker_role(
            self, "SchedulerRole", function,
            description="EventBridge Scheduler: brings each maintenance window's start and end to the operator function",
        )  # fmt: skip
        role = operator.role
        schedules = f"arn:{Aws.PARTITION}:scheduler:{Aws.REGION}:{Aws.ACCOUNT_ID}:schedule/{self.group_name}/*"
        edges = iam.PolicyStatement(actions=["scheduler:CreateSchedule", "scheduler:DeleteSchedule"], resources=[schedules])
        role.add_to_policy(edges)
        role.add_to_policy(pass_to_scheduler(self.scheduler_role))
        role.add_to_policy(iam.PolicyStatement(actions=list(ONCALL_ACTIONS), resources=[oncall_table.table_arn]))
        # The start function notes each incident a window holds on the window's item: that partition only.
        start.role.add_to_policy(
            iam.PolicyStatement(
                actions=["dynamodb:UpdateItem"],
                resources=[oncall_table.table_arn],
                conditions={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [PARTITION]}},
            )
        )
        ops_topic.grant_publish(function)
        function.add_environment("MAINTENANCE_SCHEDULE_GROUP", self.group_name)
        function.add_environment("MAINTENANCE_SCHEDULER_ROLE_ARN", self.scheduler_role.role_arn)
        function.add_environment("OPS_TOPIC_ARN", ops_topic.topic_arn)
        CfnOutput(stack, "MaintenanceScheduleGroup", value=self.group_name, description="Maintenance window edges")


def acknowledge_maintenance_findings(maintenance: Maintenance, operator: HandlerFunction) -> None:
    """The cdk-nag findings maintenance windows accept on purpose, each with its reason."""
    Validations.of(operator).acknowledge(
        Acknowledgment(
            id="AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:"
            f"schedule/{maintenance.group_name}/*]",
            reason="A window's start and end are one-time schedules named after the window (unknown at deploy), created "
            "and deleted only in the maintenance schedule group; iam:PassRole only for the role that invokes this function.",
        )
    )
    Validations.of(operator).acknowledge(
        Acknowledgment(
            id="AwsSolutions::AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
            reason="Publishing to the KMS-encrypted ops topic (a window started or ended) needs a data key; the grant is "
            "limited to that topic's key.",
        )
    )
