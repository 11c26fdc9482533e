"""Inbound SMS topic, its key, the ops topic and the two-way wiring of the phone number."""

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from stacks.countries import ISO_COUNTRY_CODES
from stacks.messaging import Messaging
from tests.infra.support import OPS_EMAIL, PHONE_NUMBER_ID, Synth, as_list, placeholder, role_statements

SOURCE_ACCOUNT = {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def key_id(synth: Synth) -> str:
    return synth.logical_id(synth.stack.messaging.key)


def test_inbound_topic_is_encrypted_with_the_stack_key(default_synth: Synth) -> None:
    synth = default_synth
    topic = synth.resources[synth.logical_id(synth.stack.messaging.inbound_topic)]
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id(synth), "Arn"]}


def test_ops_topic_is_encrypted(default_synth: Synth) -> None:
    synth = default_synth
    topic = synth.resources[synth.logical_id(synth.stack.messaging.ops_topic)]
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id(synth), "Arn"]}


def test_topic_key_rotates(default_synth: Synth) -> None:
    assert default_synth.resources[key_id(default_synth)]["Properties"]["EnableKeyRotation"] is True


def topic_arn(synth: Synth, topic: Any) -> str:
    name = synth.resources[synth.logical_id(topic)]["Properties"]["TopicName"]
    return f"arn:${{AWS::Partition}}:sns:${{AWS::Region}}:${{AWS::AccountId}}:{name}"


ALARMS = "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"


def key_statements_for(synth: Synth, service: str) -> list[dict[str, Any]]:
    statements = synth.resources[key_id(synth)]["Properties"]["KeyPolicy"]["Statement"]
    return [
        statement
        for statement in statements
        if statement["Effect"] == "Allow" and service in as_list(statement["Principal"].get("Service", []))
    ]


def conditions(statement: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {
        operator: {key: placeholder(value) for key, value in values.items()}
        for operator, values in statement.get("Condition", {}).items()
    }


@pytest.mark.parametrize(
    ("service", "topic_attr", "extra"),
    [
        ("sms-voice.amazonaws.com", "inbound_topic", {}),
        ("cloudwatch.amazonaws.com", "ops_topic", {"ArnLike": {"aws:SourceArn": ALARMS}}),
    ],
)
def test_key_policy_admits_each_publishing_service_for_its_topic_and_this_account_only(
    default_synth: Synth, service: str, topic_attr: str, extra: dict[str, dict[str, str]]
) -> None:
    synth = default_synth
    (statement,) = key_statements_for(synth, service)
    assert set(as_list(statement["Action"])) == {"kms:GenerateDataKey*", "kms:Decrypt"}
    topic = getattr(synth.stack.messaging, topic_attr)
    assert conditions(statement) == {
        "StringEquals": {
            "aws:SourceAccount": "${AWS::AccountId}",
            "kms:EncryptionContext:aws:sns:topicArn": topic_arn(synth, topic),
        },
        **extra,
    }


def test_topic_names_in_the_key_policy_are_the_deployed_topics(default_synth: Synth) -> None:
    # The key policy names the topics by ARN (a Ref would be a dependency cycle): the names must match.
    synth = default_synth
    for topic in (synth.stack.messaging.inbound_topic, synth.stack.messaging.ops_topic):
        assert placeholder(synth.stack.resolve(topic.topic_arn)) == f"${{{synth.logical_id(topic)}}}"
        assert synth.stack.resolve(topic.topic_name) == {"Fn::GetAtt": [synth.logical_id(topic), "TopicName"]}
        assert synth.resources[synth.logical_id(topic)]["Properties"]["TopicName"].startswith(synth.stack.stack_name)


def test_no_service_is_admitted_to_the_key_without_source_account_and_topic_conditions(any_synth: Synth) -> None:
    statements = any_synth.resources[key_id(any_synth)]["Properties"]["KeyPolicy"]["Statement"]
    for statement in statements:
        if "Service" in statement["Principal"]:
            equals = statement["Condition"]["StringEquals"]
            assert equals["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}, statement
            assert "kms:EncryptionContext:aws:sns:topicArn" in equals, statement


def test_ops_topic_policy_lets_this_accounts_alarms_publish(default_synth: Synth) -> None:
    synth = default_synth
    topic = {"Ref": synth.logical_id(synth.stack.messaging.ops_topic)}
    (policy,) = [
        policy for policy in synth.of_type("AWS::SNS::TopicPolicy").values() if policy["Properties"]["Topics"] == [topic]
    ]
    allows = [
        statement
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Allow" and statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert len(allows) == 1
    assert allows[0]["Action"] == "sns:Publish"
    assert allows[0]["Resource"] == topic
    assert conditions(allows[0]) == {
        "StringEquals": {"aws:SourceAccount": "${AWS::AccountId}"},
        "ArnLike": {"aws:SourceArn": ALARMS},
    }


def test_protect_configuration_allows_the_listed_countries_and_blocks_every_other(limited_synth: Synth) -> None:
    (protect,) = limited_synth.of_type("AWS::SMSVOICE::ProtectConfiguration").values()
    rules = {rule["CountryCode"]: rule["ProtectStatus"] for rule in protect["Properties"]["CountryRuleSet"]["SMS"]}
    assert {code for code, status in rules.items() if status == "ALLOW"} == {"GB", "IE"}
    assert set(rules) == ISO_COUNTRY_CODES
    assert {"US", "FR", "NG", "CN"} <= {code for code, status in rules.items() if status == "BLOCK"}
    assert len(rules) <= 300  # the API's limit on one country rule set


def test_without_allowed_countries_there_is_no_protect_configuration(default_synth: Synth, two_way_synth: Synth) -> None:
    default_synth.template.resource_count_is("AWS::SMSVOICE::ProtectConfiguration", 0)
    two_way_synth.template.resource_count_is("AWS::SMSVOICE::ProtectConfiguration", 0)


def test_inbound_topic_policy_lets_end_user_messaging_publish_for_this_account(default_synth: Synth) -> None:
    synth = default_synth
    topic = {"Ref": synth.logical_id(synth.stack.messaging.inbound_topic)}
    synth.template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "Topics": [topic],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "sms-voice.amazonaws.com"},
                                "Action": "sns:Publish",
                                "Resource": topic,
                                "Condition": SOURCE_ACCOUNT,
                            }
                        )
                    ]
                )
            },
        },
    )


def test_inbound_topic_delivers_to_the_reply_function(default_synth: Synth) -> None:
    synth = default_synth
    synth.template.has_resource_properties(
        "AWS::SNS::Subscription",
        {
            "Protocol": "lambda",
            "TopicArn": {"Ref": synth.logical_id(synth.stack.messaging.inbound_topic)},
            "Endpoint": {"Fn::GetAtt": [synth.logical_id(synth.stack.reply.function), "Arn"]},
        },
    )
    synth.template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "Principal": "sns.amazonaws.com",
            "FunctionName": {"Fn::GetAtt": [synth.logical_id(synth.stack.reply.function), "Arn"]},
            "SourceArn": {"Ref": synth.logical_id(synth.stack.messaging.inbound_topic)},
        },
    )


def test_without_ops_email_there_is_no_email_subscription(default_synth: Synth) -> None:
    default_synth.template.resource_count_is("AWS::SNS::Subscription", 2)  # the reply and delivery receipts functions
    assert not default_synth.template.find_resources("AWS::SNS::Subscription", {"Properties": {"Protocol": "email"}})


def test_ops_email_is_subscribed_to_the_ops_topic(two_way_synth: Synth) -> None:
    synth = two_way_synth
    synth.template.has_resource_properties(
        "AWS::SNS::Subscription",
        {"Protocol": "email", "Endpoint": OPS_EMAIL, "TopicArn": {"Ref": synth.logical_id(synth.stack.messaging.ops_topic)}},
    )


def two_way_resources(synth: Synth) -> list[dict[str, Any]]:
    """The custom resources that call UpdatePhoneNumber (the on-call definitions have one of their own)."""
    resources = synth.of_type("Custom::AWS").values()
    return [resource for resource in resources if "updatePhoneNumber" in json.dumps(resource["Properties"])]


def test_two_way_sms_is_not_configured_by_default(default_synth: Synth, pinpoint_synth: Synth) -> None:
    assert two_way_resources(default_synth) == []
    assert two_way_resources(pinpoint_synth) == []


def sdk_call(synth: Synth, phase: str) -> dict[str, Any]:
    (resource,) = two_way_resources(synth)
    call: dict[str, Any] = json.loads(placeholder(resource["Properties"][phase]))
    return call


@pytest.mark.parametrize("phase", ["Create", "Update"])
def test_two_way_custom_resource_points_the_number_at_the_inbound_topic(two_way_synth: Synth, phase: str) -> None:
    synth = two_way_synth
    call = sdk_call(synth, phase)
    assert call["service"] == "PinpointSMSVoiceV2"
    assert call["action"] == "updatePhoneNumber"
    assert call["parameters"] == {
        "PhoneNumberId": PHONE_NUMBER_ID,
        "TwoWayEnabled": True,
        "TwoWayChannelArn": f"${{{synth.logical_id(synth.stack.messaging.inbound_topic)}}}",
    }


def test_two_way_is_switched_off_when_the_stack_is_deleted(two_way_synth: Synth) -> None:
    call = sdk_call(two_way_synth, "Delete")
    assert call["action"] == "updatePhoneNumber"
    assert call["parameters"] == {"PhoneNumberId": PHONE_NUMBER_ID, "TwoWayEnabled": False}


def test_two_way_custom_resource_may_update_that_phone_number_only(two_way_synth: Synth) -> None:
    synth = two_way_synth
    (resource,) = two_way_resources(synth)
    provider = synth.resources[resource["Properties"]["ServiceToken"]["Fn::GetAtt"][0]]
    role_id = provider["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = role_statements(synth, role_id)
    # CDK's provider is one Lambda per stack: it also puts the on-call definitions, into that table only.
    oncall_table = f"${{{synth.logical_id(synth.stack.oncall.table)}.Arn}}"
    assert sorted(statements, key=json.dumps) == sorted(
        [
            {
                "Action": ["sms-voice:UpdatePhoneNumber"],
                "Effect": "Allow",
                "Resource": [
                    f"arn:${{AWS::Partition}}:sms-voice:${{AWS::Region}}:${{AWS::AccountId}}:phone-number/{PHONE_NUMBER_ID}"
                ],
            },
            {"Action": ["dynamodb:PutItem"], "Effect": "Allow", "Resource": [oncall_table]},
        ],
        key=json.dumps,
    )
    # The policy exists before the call is made.
    assert any(dependency in synth.resources for dependency in resource.get("DependsOn", []))


def test_two_way_with_a_phone_number_arn_scopes_the_policy_to_that_arn() -> None:
    arn = "arn:aws:sms-voice:eu-west-1:123456789012:phone-number/phone-abc123"
    stack = cdk.Stack(cdk.App())
    Messaging(stack, "Messaging", ops_email="").configure_two_way(phone_number_id=arn)
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {"PolicyDocument": {"Statement": [Match.object_like({"Action": "sms-voice:UpdatePhoneNumber", "Resource": arn})]}},
    )
