"""CloudWatch alarm state changes reach the alerts function through one EventBridge rule, with least privilege."""

from pathlib import Path

from aws_cdk.assertions import Match

from tests.infra.support import Synth, resources_for, role_statements, synthesize

STACK = "IncidentEscalation"


def _rule(synth: Synth) -> dict[str, object]:
    (rule,) = synth.of_type("AWS::Events::Rule").values()
    return rule["Properties"]  # type: ignore[no-any-return]


def test_one_rule_sends_alarm_and_ok_changes_of_other_alarms_than_the_stacks_own(default_synth: Synth) -> None:
    pattern = _rule(default_synth)["EventPattern"]
    assert pattern == {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {"alarmName": [{"anything-but": {"prefix": f"{STACK}-"}}], "state": {"value": ["ALARM", "OK"]}},
    }


def test_the_rule_targets_the_alerts_function_with_retries_and_a_dead_letter_queue(default_synth: Synth) -> None:
    synth = default_synth
    function = synth.logical_id(synth.stack.alerts.function.function)
    queue = synth.logical_id(synth.stack.alarm_event_dlq)
    (target,) = _rule(synth)["Targets"]  # type: ignore[misc]
    assert target["Arn"] == {"Fn::GetAtt": [function, "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue, "Arn"]}}
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 7200, "MaximumRetryAttempts": 8}
    synth.template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [function, "Arn"]},
            "Principal": "events.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": [synth.logical_id(synth.stack.alarm_rule), "Arn"]},
        },
    )
    synth.template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "FunctionName": {"Ref": function},
            "MaximumRetryAttempts": 2,
            "MaximumEventAgeInSeconds": 7200,
            "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [queue, "Arn"]}}},
        },
    )


def test_the_function_may_read_the_tags_of_this_accounts_alarms_and_nothing_else_of_cloudwatch(default_synth: Synth) -> None:
    synth = default_synth
    statements = role_statements(synth, synth.logical_id(synth.stack.alerts.function.role))
    assert resources_for(statements, "cloudwatch:ListTagsForResource") == {
        "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"
    }
    cloudwatch = {action for statement in statements for action in statement["Action"] if action.startswith("cloudwatch:")}
    assert cloudwatch == {"cloudwatch:ListTagsForResource"}


def test_the_default_integration_comes_from_context(default_synth: Synth, tmp_path: Path) -> None:
    environment = {"Variables": Match.object_like({"ALARM_INTEGRATION": ""})}
    default_synth.template.has_resource_properties(
        "AWS::Lambda::Function", {"Handler": "alert_events.handler", "Environment": environment}
    )
    configured = synthesize(tmp_path, alarmIntegration="platform")
    environment = {"Variables": Match.object_like({"ALARM_INTEGRATION": "platform"})}
    configured.template.has_resource_properties(
        "AWS::Lambda::Function", {"Handler": "alert_events.handler", "Environment": environment}
    )
