"""Alarms tell the ops topic when something was not delivered or the workflow broke."""

import pytest
from aws_cdk.assertions import Capture, Match

from escalation import observability
from tests.infra.support import Synth


def ops_topic(synth: Synth) -> dict[str, str]:
    return {"Ref": synth.logical_id(synth.stack.messaging.ops_topic)}


@pytest.mark.parametrize("queue_attr", ["stream_dlq", "reply_dlq", "alarm_event_dlq"])
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


HANDLERS = ("start", "page", "unacknowledged", "reply")


def test_every_alarm_notifies_ops_and_missing_data_is_not_an_alarm(default_synth: Synth) -> None:
    # 3 dead-letter queues (stream, replies, alarm events), 2 execution outcomes, 5 handler metrics,
    # 4 function error counts, 1 stream backlog.
    default_synth.template.resource_count_is("AWS::CloudWatch::Alarm", 15)
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


@pytest.mark.parametrize("metric", ["SmsCeilingReached", "SmsAccountFault", "SmsThrottled"])
def test_sms_ceiling_and_account_faults_alarm_the_ops_topic(default_synth: Synth, metric: str) -> None:
    # Emitted by the handlers (Powertools, namespace IncidentEscalation, dimension service).
    default_synth.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "IncidentEscalation",
            "MetricName": metric,
            "Dimensions": [{"Name": "service", "Value": "incident-escalation"}],
            "Statistic": "Sum",
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 0,
            "AlarmActions": [ops_topic(default_synth)],
        },
    )


@pytest.mark.parametrize("handler", HANDLERS)
def test_errors_of_each_function_alarm_the_ops_topic(default_synth: Synth, handler: str) -> None:
    synth = default_synth
    synth.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/Lambda",
            "MetricName": "Errors",
            "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": synth.logical_id(getattr(synth.stack, handler).function)}}],
            "Statistic": "Sum",
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 0,
            "AlarmActions": [ops_topic(synth)],
        },
    )


def test_a_stream_backlog_of_the_start_function_alarms_the_ops_topic(default_synth: Synth) -> None:
    synth = default_synth
    threshold = Capture()
    synth.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/Lambda",
            "MetricName": "IteratorAge",
            "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": synth.logical_id(synth.stack.start.function)}}],
            "Statistic": "Maximum",
            "Unit": "Milliseconds",
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": threshold,
            "AlarmActions": [ops_topic(synth)],
        },
    )
    assert 30_000 <= threshold.as_number() <= 600_000  # between half a minute and ten: pages are late, not lost
