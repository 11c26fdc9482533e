"""The pager self-test: off unless scheduled; its schedule, timeout and grants (it texts, reads on-call, tells ops)."""

from typing import Any

from tests.infra.support import SELF_TEST_SCHEDULE, Synth, role_statements


def granted(synth: Synth) -> dict[str, set[str]]:
    """Each action the self-test's role allows, with the resources (as CloudFormation writes them)."""
    assert synth.stack.self_test is not None
    actions: dict[str, set[str]] = {}
    for statement in role_statements(synth, synth.logical_id(synth.stack.self_test.role)):
        assert statement["Effect"] == "Allow"
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]:
            actions.setdefault(action, set()).update(str(resource) for resource in resources)
    return actions


def test_there_is_no_self_test_unless_a_schedule_is_set(default_synth: Synth) -> None:
    assert default_synth.stack.self_test is None
    assert not [r for r in default_synth.of_type("AWS::Scheduler::Schedule").values() if "self-test" in str(r)]


def test_the_self_test_runs_on_its_schedule_in_its_zone_and_names_each_run_by_its_time(two_way_synth: Synth) -> None:
    synth = two_way_synth
    assert synth.stack.self_test is not None
    function = synth.logical_id(synth.stack.self_test.function)
    (schedule,) = [
        props
        for resource in synth.of_type("AWS::Scheduler::Schedule").values()
        if (props := resource["Properties"])["Target"]["Arn"] == {"Fn::GetAtt": [function, "Arn"]}
    ]
    assert (schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"]) == (SELF_TEST_SCHEDULE, "Europe/London")
    assert schedule["Target"]["Input"] == '{"scheduled": "<aws.scheduler.scheduled-time>"}'
    (invoke,) = role_statements(synth, schedule["Target"]["RoleArn"]["Fn::GetAtt"][0])
    assert (invoke["Action"], invoke["Resource"]) == (["lambda:InvokeFunction"], [f"${{{function}.Arn}}"])
    properties: dict[str, Any] = synth.resources[function]["Properties"]
    assert properties["Handler"] == "self_test.handler"
    assert properties["Timeout"] == 5 * 60 + 60  # selfTestReplyMinutes=5, and a minute to send and tell ops
    assert properties["Environment"]["Variables"]["SELF_TEST_REPLY_MINUTES"] == "5"


def test_the_self_test_texts_reads_on_call_and_tells_ops_and_can_do_nothing_to_an_incident(two_way_synth: Synth) -> None:
    synth = two_way_synth
    actions = granted(synth)
    messages = synth.logical_id(synth.stack.storage.messages)
    oncall = synth.logical_id(synth.stack.oncall.table)
    assert {a for a, resources in actions.items() if any(messages in r for r in resources)} == {
        "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
    }  # fmt: skip
    reads = {a for a, resources in actions.items() if any(oncall in r for r in resources)}
    assert reads == {"dynamodb:GetItem", "dynamodb:Query"}
    ops = synth.logical_id(synth.stack.messaging.ops_topic)
    assert any(ops in r for r in actions["sns:Publish"])
    assert "sms-voice:SendTextMessage" in actions
    incidents = synth.logical_id(synth.stack.storage.incidents)
    assert not [a for a, resources in actions.items() if any(incidents in r for r in resources)]
    assert not [a for a in actions if a.startswith("states:")]


def test_the_self_test_alarms_on_its_errors(two_way_synth: Synth) -> None:
    synth = two_way_synth
    assert synth.stack.self_test is not None
    function = synth.logical_id(synth.stack.self_test.function)
    alarms = [
        props
        for resource in synth.of_type("AWS::CloudWatch::Alarm").values()
        if (props := resource["Properties"]).get("MetricName") == "Errors"
        and props.get("Dimensions") == [{"Name": "FunctionName", "Value": {"Ref": function}}]
    ]
    assert len(alarms) == 1
