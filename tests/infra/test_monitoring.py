"""Alarms tell the ops topic when something was not delivered or the workflow broke."""

import pytest
from aws_cdk.assertions import Match

from escalation import observability
from tests.infra.support import Synth


def ops_topic(synth: Synth) -> dict[str, str]:
    return {"Ref": synth.logical_id(synth.stack.messaging.ops_topic)}


@pytest.mark.parametrize("queue_attr", ["stream_dlq", "reply_dlq"])
def test_dead_letter_queue_with_a_message_alarms_the_ops_topic(default_synth: Synth, queue_attr: str) -> None:
    synth = default_synth
    queue = synth.logical_id(getattr(synth.stack, queue_attr))
    synth.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/SQS",
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}],
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 0,
            "AlarmActions": [ops_topic(synth)],
        },
    )


@pytest.mark.parametrize("metric", ["ExecutionsFailed", "ExecutionsTimedOut"])
def test_failed_or_timed_out_execution_alarms_the_ops_topic(default_synth: Synth, metric: str) -> None:
    synth = default_synth
    synth.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/States",
            "MetricName": metric,
            "Dimensions": [{"Name": "StateMachineArn", "Value": {"Ref": synth.logical_id(synth.stack.workflow.state_machine)}}],
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 0,
            "AlarmActions": [ops_topic(synth)],
        },
    )


def test_every_alarm_notifies_ops_and_missing_data_is_not_an_alarm(default_synth: Synth) -> None:
    default_synth.template.resource_count_is("AWS::CloudWatch::Alarm", 5)
    alarms = default_synth.template.find_resources("AWS::CloudWatch::Alarm")
    for name, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == [ops_topic(default_synth)], name
        assert alarm["Properties"]["TreatMissingData"] == "notBreaching", name
    default_synth.template.all_resources_properties(
        "AWS::CloudWatch::Alarm", {"AlarmDescription": Match.string_like_regexp(r"\S")}
    )


def test_undelivered_page_metric_alarms_the_ops_topic(default_synth: Synth) -> None:
    default_synth.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": observability.NAMESPACE,
            "MetricName": observability.SMS_FAILED,
            "Dimensions": [{"Name": "service", "Value": observability.SERVICE}],
            "Statistic": "Sum",
            "AlarmActions": [ops_topic(default_synth)],
        },
    )
