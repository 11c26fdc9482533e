"""Delivery receipts in the stack: the configuration set and its SNS destination, the topic's encryption and policy,
the receipts function's subscription and grants, the spend check, and their alarms."""

import json
from pathlib import Path
from typing import Any

from aws_cdk.assertions import Annotations, Match

from tests.infra.support import (
    CONFIGURATION_SET,
    Synth,
    as_list,
    placeholder,
    resources_for,
    role_statements,
    synthesize,
)

OWN_SET = "IncidentEscalation-texts"
SET_ARN = "arn:${AWS::Partition}:sms-voice:${AWS::Region}:${AWS::AccountId}:configuration-set/"
TOPIC_NAME = "IncidentEscalation-DeliveryReceipts"
TOPIC_ARN = f"arn:${{AWS::Partition}}:sns:${{AWS::Region}}:${{AWS::AccountId}}:{TOPIC_NAME}"
SMS_SENDERS = ("page", "unacknowledged", "reply", "operator")


def topic_id(synth: Synth) -> str:
    return synth.logical_id(synth.stack.receipts.topic)


def function_id(synth: Synth, attr: str = "function") -> str:
    return synth.logical_id(getattr(synth.stack.receipts, attr).function)


def statements(synth: Synth, attr: str) -> list[dict[str, Any]]:
    return role_statements(synth, synth.logical_id(getattr(synth.stack.receipts, attr).role))


def conditions(statement: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {
        operator: {key: placeholder(value) for key, value in values.items()}
        for operator, values in statement.get("Condition", {}).items()
    }


def test_the_stack_owns_a_configuration_set_that_sends_every_text_event_to_the_receipts_topic(default_synth: Synth) -> None:
    synth = default_synth
    ((_, configuration_set),) = synth.of_type("AWS::SMSVOICE::ConfigurationSet").items()
    assert configuration_set["Properties"] == {
        "ConfigurationSetName": OWN_SET,
        "EventDestinations": [
            {
                "Enabled": True,
                "EventDestinationName": "IncidentEscalation-receipts",
                "MatchingEventTypes": ["TEXT_ALL"],
                "SnsDestination": {"TopicArn": {"Ref": topic_id(synth)}},
            }
        ],
    }
    # made once the service may publish to the topic and use its key
    policy = synth.stack.receipts.topic.node.find_child("Policy")
    assert {synth.logical_id(synth.stack.receipts.key), synth.logical_id(policy)} <= set(configuration_set["DependsOn"])
    assert synth.raw["Outputs"]["ConfigurationSetName"]["Value"] == OWN_SET


def test_every_text_names_the_configuration_set_and_may_send_with_it(default_synth: Synth) -> None:
    synth = default_synth
    for handler in SMS_SENDERS:
        function = synth.resources[synth.logical_id(getattr(synth.stack, handler).function)]
        assert function["Properties"]["Environment"]["Variables"]["CONFIGURATION_SET"] == OWN_SET, handler
        granted = role_statements(synth, synth.logical_id(getattr(synth.stack, handler).role))
        assert f"{SET_ARN}{OWN_SET}" in resources_for(granted, "sms-voice:SendTextMessage"), handler


def test_the_receipts_topic_is_encrypted_with_a_rotating_key_the_service_may_use_for_it_only(default_synth: Synth) -> None:
    synth = default_synth
    key_id = synth.logical_id(synth.stack.receipts.key)
    topic = synth.resources[topic_id(synth)]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert topic["TopicName"] == TOPIC_NAME
    key = synth.resources[key_id]["Properties"]
    assert key["EnableKeyRotation"] is True
    services = [statement for statement in key["KeyPolicy"]["Statement"] if "Service" in statement["Principal"]]
    assert [statement["Principal"]["Service"] for statement in services] == ["sms-voice.amazonaws.com"]
    (statement,) = services
    assert set(as_list(statement["Action"])) == {"kms:GenerateDataKey*", "kms:Decrypt"}
    assert conditions(statement) == {
        "StringEquals": {"aws:SourceAccount": "${AWS::AccountId}", "kms:EncryptionContext:aws:sns:topicArn": TOPIC_ARN}
    }


def topic_policy(synth: Synth) -> list[dict[str, Any]]:
    (policy,) = [
        resource["Properties"]
        for resource in synth.of_type("AWS::SNS::TopicPolicy").values()
        if resource["Properties"]["Topics"] == [{"Ref": topic_id(synth)}]
    ]
    statements: list[dict[str, Any]] = policy["PolicyDocument"]["Statement"]
    return statements


def test_only_end_user_messaging_may_publish_for_this_account_and_configuration_set_over_tls(default_synth: Synth) -> None:
    synth = default_synth
    statements = topic_policy(synth)
    allows = [statement for statement in statements if statement["Effect"] == "Allow"]
    assert [(statement["Principal"], statement["Action"]) for statement in allows] == [
        ({"Service": "sms-voice.amazonaws.com"}, "sns:Publish")
    ]
    assert conditions(allows[0]) == {
        "StringEquals": {"aws:SourceAccount": "${AWS::AccountId}"},
        "ArnLike": {"aws:SourceArn": f"{SET_ARN}{OWN_SET}"},
    }
    assert any(
        statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for statement in statements
    )


def test_the_topic_delivers_to_the_receipts_function_and_failures_are_kept(default_synth: Synth) -> None:
    synth = default_synth
    function = function_id(synth)
    synth.template.has_resource_properties(
        "AWS::SNS::Subscription",
        {"Protocol": "lambda", "TopicArn": {"Ref": topic_id(synth)}, "Endpoint": {"Fn::GetAtt": [function, "Arn"]}},
    )
    synth.template.has_resource_properties(
        "AWS::Lambda::Permission",
        {"Action": "lambda:InvokeFunction", "Principal": "sns.amazonaws.com", "FunctionName": {"Fn::GetAtt": [function, "Arn"]},
         "SourceArn": {"Ref": topic_id(synth)}},
    )  # fmt: skip
    queue = synth.logical_id(synth.stack.receipts.dead_letters)
    synth.template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {"FunctionName": {"Ref": function}, "MaximumRetryAttempts": 2,
         "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [queue, "Arn"]}}}},
    )  # fmt: skip
    handler = synth.resources[function]["Properties"]
    assert handler["Handler"] == "delivery_receipts.handler"
    assert handler["Environment"]["Variables"]["INCIDENTS_TABLE"] == {"Ref": synth.logical_id(synth.stack.storage.incidents)}


def test_the_receipts_function_reads_and_updates_items_fails_waits_and_tells_ops_and_nothing_else(default_synth: Synth) -> None:
    synth = default_synth
    (machine,) = synth.of_type("AWS::StepFunctions::StateMachine").values()
    name = machine["Properties"]["StateMachineName"]
    state_machine = f"arn:${{AWS::Partition}}:states:${{AWS::Region}}:${{AWS::AccountId}}:stateMachine:{name}"
    ops_topic = f"${{{synth.logical_id(synth.stack.messaging.ops_topic)}}}"
    ops_key = f"${{{synth.logical_id(synth.stack.messaging.ops_topic.master_key)}.Arn}}"
    incidents = f"${{{synth.logical_id(synth.stack.storage.incidents)}.Arn}}"
    messages = f"${{{synth.logical_id(synth.stack.storage.messages)}.Arn}}"
    queue = f"${{{synth.logical_id(synth.stack.receipts.dead_letters)}.Arn}}"
    granted = {
        (action, resource)
        for statement in statements(synth, "function")
        if statement["Effect"] == "Allow"
        for action in statement["Action"]
        for resource in statement["Resource"]
        if not action.startswith(("logs:", "xray:"))
    }
    assert granted == {
        ("dynamodb:GetItem", incidents),
        ("dynamodb:UpdateItem", incidents),  # conditionally, in transactions with the message rows
        *((f"dynamodb:{action}", messages) for action in ("GetItem", "PutItem", "UpdateItem", "DeleteItem")),
        ("dynamodb:Query", f"{messages}/index/by_contact"),  # the rows of a batch text
        # Lambda sends a failed event to the function's own dead-letter queue with the function's role
        *((f"sqs:{action}", queue) for action in ("SendMessage", "GetQueueAttributes", "GetQueueUrl")),
        ("states:SendTaskFailure", state_machine),  # a page that will not arrive ends its level's wait
        ("sns:Publish", ops_topic),  # a page refused for a fault of ours is told to ops at once
        *((action, ops_key) for action in ("kms:Decrypt", "kms:GenerateDataKey*")),  # the ops topic's key
    }
    assert synth.resources[synth.logical_id(synth.stack.receipts.function.function)]["Properties"]["Environment"]["Variables"][
        "OPS_TOPIC_ARN"
    ] == {"Ref": synth.logical_id(synth.stack.messaging.ops_topic)}


def test_the_spend_check_reads_the_limits_and_the_cost_hourly_and_nothing_else(default_synth: Synth) -> None:
    synth = default_synth
    granted = {
        action
        for statement in statements(synth, "spend_check")
        for action in statement["Action"]
        if statement["Effect"] == "Allow"
    }
    assert {action for action in granted if not action.startswith(("logs:", "xray:"))} == {
        "sms-voice:DescribeSpendLimits",
        "cloudwatch:GetMetricStatistics",
    }
    function = function_id(synth, "spend_check")
    schedule = synth.resources[synth.logical_id(synth.stack.receipts.schedule)]["Properties"]
    assert schedule["ScheduleExpression"] == "rate(1 hour)"
    assert schedule["Target"]["Arn"] == {"Fn::GetAtt": [function, "Arn"]}
    role = synth.logical_id(synth.stack.receipts.scheduler_role)
    assert schedule["Target"]["RoleArn"] == {"Fn::GetAtt": [role, "Arn"]}
    (invoke,) = role_statements(synth, role)
    assert (invoke["Action"], invoke["Resource"]) == (["lambda:InvokeFunction"], [f"${{{function}.Arn}}"])
    assert synth.resources[function]["Properties"]["Handler"] == "spend_check.handler"


def alarm(synth: Synth, construct_id: str) -> dict[str, Any]:
    found: dict[str, Any] = synth.resources[synth.logical_id(synth.stack.receipts.node.find_child(construct_id))]["Properties"]
    return found


def test_failures_and_spend_alarm_the_ops_topic(default_synth: Synth) -> None:
    synth = default_synth
    ops = [{"Ref": synth.logical_id(synth.stack.messaging.ops_topic)}]
    errors = alarm(synth, "DeliveryReceiptsErrors")
    assert (errors["Namespace"], errors["MetricName"], errors["Dimensions"]) == (
        "AWS/Lambda", "Errors", [{"Name": "FunctionName", "Value": {"Ref": function_id(synth)}}],
    )  # fmt: skip
    assert (errors["ComparisonOperator"], errors["Threshold"], errors["AlarmActions"]) == ("GreaterThanThreshold", 0, ops)
    queue = alarm(synth, "ReceiptFailuresNotEmpty")
    assert queue["MetricName"] == "ApproximateNumberOfMessagesVisible" and queue["AlarmActions"] == ops
    check = alarm(synth, "SpendCheckErrors")
    assert check["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function_id(synth, "spend_check")}}]
    for percent in (80, 100):
        spend = alarm(synth, f"SmsSpendAt{percent}Percent")
        assert (spend["Namespace"], spend["MetricName"], spend["Statistic"], spend["Period"]) == (
            "IncidentEscalation", "SmsSpendPercent", "Maximum", 3600,
        )  # fmt: skip
        assert spend["Dimensions"] == [{"Name": "service", "Value": "incident-escalation"}]
        assert (spend["ComparisonOperator"], spend["Threshold"], spend["AlarmActions"]) == (
            "GreaterThanOrEqualToThreshold", percent, ops,
        )  # fmt: skip


def test_a_configuration_set_managed_elsewhere_gets_the_destination_at_deploy_and_is_left_alone(
    limited_synth: Synth,
) -> None:
    synth = limited_synth
    assert not synth.of_type("AWS::SMSVOICE::ConfigurationSet")
    (resource,) = [
        resource["Properties"]
        for resource in synth.of_type("Custom::AWS").values()
        if "EventDestination" in json.dumps(resource["Properties"].get("Create", ""))
    ]
    create = json.loads(placeholder(resource["Create"]))
    assert (create["service"], create["action"]) == ("PinpointSMSVoiceV2", "createEventDestination")
    assert create["parameters"] == {
        "ConfigurationSetName": CONFIGURATION_SET,
        "EventDestinationName": "IncidentEscalation-receipts",
        "MatchingEventTypes": ["TEXT_ALL"],
        "SnsDestination": {"TopicArn": f"${{{topic_id(synth)}}}"},
    }
    delete = json.loads(placeholder(resource["Delete"]))
    assert delete["action"] == "deleteEventDestination"
    (statement,) = [
        statement
        for policy in synth.of_type("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "sms-voice:CreateEventDestination" in as_list(statement["Action"])
    ]
    assert [placeholder(value) for value in as_list(statement["Resource"])] == [f"{SET_ARN}{CONFIGURATION_SET}"]
    allows = [statement for statement in topic_policy(synth) if statement["Effect"] == "Allow"]
    assert conditions(allows[0])["ArnLike"] == {"aws:SourceArn": f"{SET_ARN}{CONFIGURATION_SET}"}
    function = synth.resources[synth.logical_id(synth.stack.page.function)]
    assert function["Properties"]["Environment"]["Variables"]["CONFIGURATION_SET"] == CONFIGURATION_SET


def test_the_legacy_pinpoint_api_has_no_configuration_set_and_no_receipts(pinpoint_synth: Synth) -> None:
    synth = pinpoint_synth
    assert synth.stack.receipts is None
    assert not synth.of_type("AWS::SMSVOICE::ConfigurationSet")
    assert not [name for name in synth.resources if name.startswith("Receipts")]


def test_a_message_log_shorter_than_late_receipts_is_warned_about(tmp_path: Path, default_synth: Synth) -> None:
    pattern = Match.string_like_regexp("messageTtlDays=2: a delivery receipt that comes later")
    Annotations.from_stack(synthesize(tmp_path, messageTtlDays="2").stack).has_warning("*", pattern)
    Annotations.from_stack(default_synth.stack).has_no_warning("*", pattern)  # 30 days
