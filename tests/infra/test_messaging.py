"""Inbound SMS topic, its key, the ops topic and the two-way wiring of the phone number."""

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

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


@pytest.mark.parametrize("service", ["sms-voice.amazonaws.com", "cloudwatch.amazonaws.com"])
def test_key_policy_admits_the_publishing_service_from_this_account_only(default_synth: Synth, service: str) -> None:
    # minimizePolicies (cdk.json) may merge the services into one statement: compare per service.
    statements = default_synth.resources[key_id(default_synth)]["Properties"]["KeyPolicy"]["Statement"]
    admitting = [
        statement
        for statement in statements
        if statement["Effect"] == "Allow" and service in as_list(statement["Principal"].get("Service", []))
    ]
    assert admitting, f"the key policy does not admit {service}"
    for statement in admitting:
        assert {"kms:GenerateDataKey*", "kms:Decrypt"} <= set(as_list(statement["Action"]))
        assert statement["Condition"] == SOURCE_ACCOUNT


def test_no_service_is_admitted_to_the_key_without_a_source_account_condition(default_synth: Synth) -> None:
    statements = default_synth.resources[key_id(default_synth)]["Properties"]["KeyPolicy"]["Statement"]
    for statement in statements:
        if "Service" in statement["Principal"]:
            assert statement.get("Condition") == SOURCE_ACCOUNT, statement


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
    default_synth.template.resource_count_is("AWS::SNS::Subscription", 1)  # the reply function only
    assert not default_synth.template.find_resources("AWS::SNS::Subscription", {"Properties": {"Protocol": "email"}})


def test_ops_email_is_subscribed_to_the_ops_topic(two_way_synth: Synth) -> None:
    synth = two_way_synth
    synth.template.has_resource_properties(
        "AWS::SNS::Subscription",
        {"Protocol": "email", "Endpoint": OPS_EMAIL, "TopicArn": {"Ref": synth.logical_id(synth.stack.messaging.ops_topic)}},
    )


def test_two_way_sms_is_not_configured_by_default(default_synth: Synth, pinpoint_synth: Synth) -> None:
    default_synth.template.resource_count_is("Custom::AWS", 0)
    pinpoint_synth.template.resource_count_is("Custom::AWS", 0)


def sdk_call(synth: Synth, phase: str) -> dict[str, Any]:
    (resource,) = synth.of_type("Custom::AWS").values()
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
    (resource,) = synth.of_type("Custom::AWS").values()
    provider = synth.resources[resource["Properties"]["ServiceToken"]["Fn::GetAtt"][0]]
    role_id = provider["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = role_statements(synth, role_id)
    assert statements == [
        {
            "Action": ["sms-voice:UpdatePhoneNumber"],
            "Effect": "Allow",
            "Resource": [
                f"arn:${{AWS::Partition}}:sms-voice:${{AWS::Region}}:${{AWS::AccountId}}:phone-number/{PHONE_NUMBER_ID}"
            ],
        }
    ]
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
