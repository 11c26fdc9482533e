"""The storm digest function: sends a person's storm digest when it closes (lambdas/send_digest.py).

In a storm, the notice that opens a person's digest invokes this function asynchronously instead of waiting in
its own function (a page, a reply) for the digest's window, which grows to five minutes in a long storm. The
function sleeps until the digest closes and sends it. Lambda retries a failed invoke twice; what still fails
lands in a dead-letter queue, which alarms (stacks/monitoring.py) like the others.
"""

from collections.abc import Callable

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from .functions import HandlerFunction

MAX_DIGEST_SECONDS = 300  # the longest a digest stays open (lambdas/escalation/paging/storms.py MAX_DIGEST_SECONDS)
MERGE_WAIT_SECONDS = 15  # a page batch closing within 10 s is waited for, and 5 s more (outbox MERGE_GRACE_SECONDS)
MERGE_LEASE_SECONDS = 30  # a batch that took the digest along holds it this long (digests.py MERGE_LEASE_SECONDS)
TIMEOUT_SECONDS = MAX_DIGEST_SECONDS + MERGE_WAIT_SECONDS + MERGE_LEASE_SECONDS + 60  # the waits, the take, the send
MESSAGE_ITEM_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")  # digest, storm, log, slots


class StormDigests(Construct):
    """The function, its dead-letter queue, and the grant to invoke it for every function that sends notices."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        layer: lambda_.ILayerVersion,
        environment: dict[str, str],
        messages: dynamodb.ITable,
        grant_sms: Callable[[iam.IRole], None],
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters = sqs.Queue(
            self,
            "Failures",
            retention_period=Duration.days(14),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        self.handler = HandlerFunction(
            self, "StormDigest", handler="send_digest.handler",
            description="Storm digests: sends a person's held notices as one text when the digest closes",
            code=code, layer=layer, environment=environment, timeout_seconds=TIMEOUT_SECONDS,
        )  # fmt: skip
        self.function = self.handler.function
        self.function.configure_async_invoke(
            retry_attempts=2, max_event_age=Duration.hours(1), on_failure=destinations.SqsDestination(self.dead_letters)
        )
        self.handler.role.add_to_policy(iam.PolicyStatement(actions=list(MESSAGE_ITEM_ACTIONS), resources=[messages.table_arn]))
        grant_sms(self.handler.role)

    def grant_invoke(self, role: iam.IRole) -> None:
        """Let a function that sends notices hand a digest over (an asynchronous invoke of this function only)."""
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self.function.function_arn])
        )
