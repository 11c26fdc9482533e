"""The roles EventBridge Scheduler uses to invoke our functions, and the grant to hand such a role to Scheduler.

Each schedule (heartbeat deadlines, maintenance window edges, calls, the self-test, the spend check) runs with a role
that only Scheduler of this account may assume and that may invoke one function and nothing else; a function that
creates schedules may pass only that role, and only to Scheduler.
"""

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

SCHEDULER = "scheduler.amazonaws.com"


def invoker_role(scope: Construct, construct_id: str, function: lambda_.IFunction, *, description: str) -> iam.Role:
    """A role Scheduler (of this account only) assumes to invoke function, and nothing else."""
    role = iam.Role(
        scope,
        construct_id,
        assumed_by=iam.ServicePrincipal(SCHEDULER, conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}),
        description=description,
    )
    role.add_to_policy(iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[function.function_arn]))
    return role


def pass_to_scheduler(role: iam.IRole) -> iam.PolicyStatement:
    """Permission to hand role to Scheduler (when creating a schedule that runs with it), and to nothing else."""
    return iam.PolicyStatement(
        actions=["iam:PassRole"], resources=[role.role_arn], conditions={"StringEquals": {"iam:PassedToService": SCHEDULER}}
    )
