"""Alarms tell the ops topic when something was not delivered or the workflow broke."""

from typing import Any

import pytest
from aws_cdk.assertions import Capture, Match

from escalation.alerts.short_ids import SHORT_ID_POOL_USED
from escalation.platform import observability
from stacks.functions import HandlerFunction
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
    # 3 dead-letter queues (stream, replies, alarm events), 2 execution outcomes, 6 handler metrics,
    # 5 function error counts, 1 stream backlog, 1 events API 5XX, 1 short-id pool half used; and heartbeats'
    # (stacks/heartbeats.py): the checker's and the beat function's errors, the checker's dead-letter queue; and
    # receipts' (stacks/receipts.py): the receipts function's and the spend check's errors, the receipts' dead-letter
    # queue, the month's SMS spend at 80% and at 100% of the limit; and the storm digest function's dead-letter queue.
    default_synth.template.resource_count_is("AWS::CloudWatch::Alarm", 28)
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


# CDK's own helper functions: the AwsCustomResource provider (on-call definitions, two-way SMS), one per stack.
CDK_HELPER_FUNCTIONS = ("AWS679f53fac002430cb0da5b7982bd2287",)
# Ours that raise on purpose so that what invoked them retries: their dead-letter queue alarms, not each error
# (alert events: an alarm change; handoff notices: a run that could not send). Start and reply have both.
DEAD_LETTERED = {"AlertEvents", "HandoffNotices", "StormDigest"}


def our_functions(synth: Synth) -> dict[str, str]:
    """Logical id -> construct id of every function the stack builds from our handlers."""
    return {
        synth.logical_id(construct.function): construct.node.id
        for construct in synth.stack.node.find_all()
        if isinstance(construct, HandlerFunction)
    }


def _arn_of(value: Any) -> str | None:
    """The logical id in {"Fn::GetAtt": [id, "Arn"]}, else None."""
    if isinstance(value, dict) and list(value) == ["Fn::GetAtt"] and value["Fn::GetAtt"][1] == "Arn":
        return str(value["Fn::GetAtt"][0])
    return None


def failure_queues(synth: Synth, function: str) -> set[str]:
    """Queues a function's failed invocations end in: async and stream on-failure, rule and schedule DLQs."""
    queues: set[str] = set()
    for resource in synth.resources.values():
        properties = resource.get("Properties", {})
        if resource["Type"] in ("AWS::Lambda::EventInvokeConfig", "AWS::Lambda::EventSourceMapping"):
            if properties["FunctionName"] == {"Ref": function}:
                queues.add(_arn_of(properties.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")) or "")
        elif resource["Type"] == "AWS::Events::Rule":
            for target in properties.get("Targets", []):
                if _arn_of(target["Arn"]) == function:
                    queues.add(_arn_of(target.get("DeadLetterConfig", {}).get("Arn")) or "")
        elif resource["Type"] == "AWS::Scheduler::Schedule" and _arn_of(properties["Target"]["Arn"]) == function:
            queues.add(_arn_of(properties["Target"].get("DeadLetterConfig", {}).get("Arn")) or "")
    return queues - {""}


def alarmed(synth: Synth, namespace: str, metric: str, dimension: dict[str, Any]) -> bool:
    """Whether an alarm on metric (with that one dimension) notifies the ops topic when above zero."""
    return any(
        alarm["Properties"].get("Namespace") == namespace
        and alarm["Properties"].get("MetricName") == metric
        and alarm["Properties"].get("Dimensions") == [dimension]
        and alarm["Properties"]["ComparisonOperator"] == "GreaterThanThreshold"
        and alarm["Properties"]["Threshold"] == 0
        and alarm["Properties"]["AlarmActions"] == [ops_topic(synth)]
        for alarm in synth.of_type("AWS::CloudWatch::Alarm").values()
    )


def test_every_function_of_ours_alarms_on_its_errors_or_on_its_dead_letter_queue(any_synth: Synth) -> None:
    synth = any_synth
    ours = our_functions(synth)
    helpers = [name for name in synth.of_type("AWS::Lambda::Function") if name.startswith(CDK_HELPER_FUNCTIONS)]
    assert sorted(synth.of_type("AWS::Lambda::Function")) == sorted([*ours, *helpers])  # nothing else: no unwatched function
    errors_alarmed, dead_letters_alarmed = set(), set()
    for function, name in ours.items():
        if alarmed(synth, "AWS/Lambda", "Errors", {"Name": "FunctionName", "Value": {"Ref": function}}):
            errors_alarmed.add(name)
        queues = failure_queues(synth, function)
        dimensions = [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}} for queue in queues]
        if queues and all(alarmed(synth, "AWS/SQS", "ApproximateNumberOfMessagesVisible", dimension) for dimension in dimensions):
            dead_letters_alarmed.add(name)
        assert name in errors_alarmed | dead_letters_alarmed, f"{name}: nothing alarms when it fails"
    assert errors_alarmed == set(ours.values()) - DEAD_LETTERED
    assert DEAD_LETTERED & set(ours.values()) <= dead_letters_alarmed
    assert {"StartEscalation", "HandleReply"} <= dead_letters_alarmed  # stream and reply failures are kept and alarm


def test_a_handoff_run_that_failed_for_good_lands_in_a_queue_that_alarms(two_way_synth: Synth) -> None:
    synth = two_way_synth
    handoff = synth.stack.handoff
    assert handoff is not None
    queue = synth.logical_id(synth.stack.handoff_dlq)
    assert failure_queues(synth, synth.logical_id(handoff.function)) == {queue}  # retried twice, then kept
    synth.template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {"FunctionName": {"Ref": synth.logical_id(handoff.function)}, "MaximumRetryAttempts": 2},
    )
    assert alarmed(
        synth,
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}},
    )


def test_server_errors_of_the_events_api_alarm_the_ops_topic_but_a_busy_503_does_not(any_synth: Synth) -> None:
    synth = any_synth
    (api,) = synth.of_type("AWS::ApiGateway::RestApi").values()
    (alarm,) = [
        alarm["Properties"]
        for alarm in synth.of_type("AWS::CloudWatch::Alarm").values()
        if any(query.get("Expression") == "server_errors - FILL(busy, 0)" for query in alarm["Properties"].get("Metrics", []))
    ]
    assert (alarm["ComparisonOperator"], alarm["Threshold"], alarm["AlarmActions"]) == (
        "GreaterThanThreshold", 0, [ops_topic(synth)]
    )  # fmt: skip
    metrics = {query["Id"]: query["MetricStat"] for query in alarm["Metrics"] if "MetricStat" in query}
    assert metrics["server_errors"]["Metric"] == {
        "Namespace": "AWS/ApiGateway",
        "MetricName": "5XXError",
        "Dimensions": [{"Name": "ApiName", "Value": api["Properties"]["Name"]}],
    }
    assert metrics["busy"]["Metric"] == {
        "Namespace": observability.NAMESPACE,
        "MetricName": observability.EVENTS_BUSY,  # counted by the handlers when they answer 503 (busy now)
        "Dimensions": [{"Name": "service", "Value": observability.SERVICE}],
    }
    assert metrics["server_errors"]["Stat"] == metrics["busy"]["Stat"] == "Sum"


def test_invalid_incidents_alarm_the_ops_topic(any_synth: Synth) -> None:
    # Counted by the start handler when an item cannot be paged (nobody was paged for it).
    any_synth.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": observability.NAMESPACE,
            "MetricName": observability.INCIDENTS_INVALID,
            "Dimensions": [{"Name": "service", "Value": observability.SERVICE}],
            "Statistic": "Sum",
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 0,
            "AlarmActions": [ops_topic(any_synth)],
        },
    )


def test_a_half_used_short_id_pool_alarms_the_ops_topic(any_synth: Synth) -> None:
    # Published by the alerts function at each new alert incident: the share of the 4-digit ids in use (percent).
    any_synth.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": observability.NAMESPACE,
            "MetricName": SHORT_ID_POOL_USED,
            "Dimensions": [{"Name": "service", "Value": observability.SERVICE}],
            "Statistic": "Average",
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "Threshold": 50,
            "AlarmActions": [ops_topic(any_synth)],
        },
    )
