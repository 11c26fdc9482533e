"""SMS plumbing: the inbound topic End User Messaging publishes replies to, the ops topic, two-way wiring."""

from aws_cdk import Aws, Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import custom_resources as cr
from constructs import Construct

SMS_SERVICE = "sms-voice.amazonaws.com"


class Messaging(Construct):
    """Owns the KMS key, the inbound and ops topics, and the two-way SMS setting of the number."""

    def __init__(self, scope: Construct, construct_id: str, *, ops_email: str) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "TopicKey",
            description="Encrypts the inbound-SMS and ops topics",
            enable_key_rotation=True,
        )
        # End User Messaging SMS and CloudWatch alarms publish to the encrypted topics.
        for service in (SMS_SERVICE, "cloudwatch.amazonaws.com"):
            self.key.add_to_resource_policy(
                iam.PolicyStatement(
                    principals=[iam.ServicePrincipal(service)],
                    actions=["kms:GenerateDataKey*", "kms:Decrypt"],
                    resources=["*"],  # in a key policy, "*" means this key
                    conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
                )
            )
        self.inbound_topic = sns.Topic(
            self, "InboundSms", display_name="Inbound SMS replies", master_key=self.key, enforce_ssl=True
        )
        self.inbound_topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowEndUserMessagingSms",
                principals=[iam.ServicePrincipal(SMS_SERVICE)],
                actions=["sns:Publish"],
                resources=[self.inbound_topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )
        self.ops_topic = sns.Topic(
            self, "Ops", display_name="Incident escalation: operations", master_key=self.key, enforce_ssl=True
        )
        if ops_email:
            self.ops_topic.add_subscription(subscriptions.EmailSubscription(ops_email))

    def configure_two_way(self, *, phone_number_id: str) -> cr.AwsCustomResource:
        """Turn on two-way SMS for the number, delivering replies to the inbound topic (no console step)."""
        arn = (
            phone_number_id
            if phone_number_id.startswith("arn:")
            else f"arn:{Aws.PARTITION}:sms-voice:{Aws.REGION}:{Aws.ACCOUNT_ID}:phone-number/{phone_number_id}"
        )
        enable = cr.AwsSdkCall(
            service="PinpointSMSVoiceV2",
            action="updatePhoneNumber",
            parameters={
                "PhoneNumberId": phone_number_id,
                "TwoWayEnabled": True,
                "TwoWayChannelArn": self.inbound_topic.topic_arn,
            },
            physical_resource_id=cr.PhysicalResourceId.of(f"two-way-{phone_number_id}"),
        )
        disable = cr.AwsSdkCall(
            service="PinpointSMSVoiceV2",
            action="updatePhoneNumber",
            parameters={"PhoneNumberId": phone_number_id, "TwoWayEnabled": False},
        )
        resource = cr.AwsCustomResource(
            self,
            "TwoWaySms",
            on_create=enable,
            on_update=enable,
            on_delete=disable,
            install_latest_aws_sdk=False,
            timeout=Duration.minutes(2),
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=["sms-voice:UpdatePhoneNumber"], resources=[arn])]
            ),
        )
        # The service may check that it can publish: let the topic and key policies exist first.
        topic_policy = self.inbound_topic.node.try_find_child("Policy")
        if topic_policy is not None:
            resource.node.add_dependency(topic_policy)
        resource.node.add_dependency(self.key)
        return resource
