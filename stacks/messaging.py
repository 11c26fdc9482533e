"""SMS plumbing: the inbound topic End User Messaging publishes replies to, the ops topic, two-way wiring."""

from collections.abc import Sequence

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_smsvoice as smsvoice
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import custom_resources as cr
from constructs import Construct

from .countries import ISO_COUNTRY_CODES

SMS_SERVICE = "sms-voice.amazonaws.com"
CLOUDWATCH_SERVICE = "cloudwatch.amazonaws.com"
# SNS asks KMS for data keys with the topic's ARN as encryption context.
TOPIC_ENCRYPTION_CONTEXT = "kms:EncryptionContext:aws:sns:topicArn"


def alarm_arns() -> str:
    """Every CloudWatch alarm of this account and region (the only publishers CloudWatch may act for)."""
    return f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}:alarm:*"


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
        # Named topics: the key policy names each topic's ARN, and a Ref would make key and topic depend on each other.
        stack_name = Stack.of(self).stack_name
        inbound_name, ops_name = f"{stack_name}-InboundSms", f"{stack_name}-Ops"
        # End User Messaging SMS publishes replies to the inbound topic; CloudWatch alarms publish to the ops topic.
        # Each service may use the key only for its topic (encryption context) and on behalf of this account.
        self._admit_to_key(SMS_SERVICE, inbound_name, {})
        self._admit_to_key(CLOUDWATCH_SERVICE, ops_name, {"ArnLike": {"aws:SourceArn": alarm_arns()}})
        self.inbound_topic = sns.Topic(
            self,
            "InboundSms",
            topic_name=inbound_name,
            display_name="Inbound SMS replies",
            master_key=self.key,
            enforce_ssl=True,
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
            self,
            "Ops",
            topic_name=ops_name,
            display_name="Incident escalation: operations",
            master_key=self.key,
            enforce_ssl=True,
        )
        # enforce_ssl creates the topic policy, which replaces SNS's default one: alarms need their own Allow.
        self.ops_topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarms",
                principals=[iam.ServicePrincipal(CLOUDWATCH_SERVICE)],
                actions=["sns:Publish"],
                resources=[self.ops_topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {"aws:SourceArn": alarm_arns()},
                },
            )
        )
        if ops_email:
            self.ops_topic.add_subscription(subscriptions.EmailSubscription(ops_email))
        self.protect_configuration: smsvoice.CfnProtectConfiguration | None = None

    @staticmethod
    def topic_arn(topic_name: str) -> str:
        """The ARN of a topic of this account and region, by name."""
        return f"arn:{Aws.PARTITION}:sns:{Aws.REGION}:{Aws.ACCOUNT_ID}:{topic_name}"

    def _admit_to_key(self, service: str, topic_name: str, extra_conditions: dict[str, dict[str, str]]) -> None:
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal(service)],
                actions=["kms:GenerateDataKey*", "kms:Decrypt"],
                resources=["*"],  # in a key policy, "*" means this key
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID, TOPIC_ENCRYPTION_CONTEXT: self.topic_arn(topic_name)},
                    **extra_conditions,
                },
            )
        )

    def limit_destinations(self, allowed_countries: Sequence[str]) -> smsvoice.CfnProtectConfiguration:
        """An End User Messaging protect configuration: SMS to the allowed countries only, every other one blocked."""
        allowed = set(allowed_countries)
        rules = [
            smsvoice.CfnProtectConfiguration.CountryRuleProperty(
                country_code=code, protect_status="ALLOW" if code in allowed else "BLOCK"
            )
            for code in sorted(ISO_COUNTRY_CODES | allowed)
        ]
        self.protect_configuration = smsvoice.CfnProtectConfiguration(
            self, "AllowedCountries", country_rule_set=smsvoice.CfnProtectConfiguration.CountryRuleSetProperty(sms=rules)
        )
        return self.protect_configuration

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
