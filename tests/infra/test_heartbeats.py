"""Heartbeat monitors: the route, the two functions, the schedule group, Scheduler's role and the alarms."""

from typing import Any

from aws_cdk.assertions import Match

from tests.infra.support import Synth, actions_of, placeholder, resources_for, role_statements


def _method(synth: Synth, http_method: str) -> dict[str, Any]:
    resource = synth.logical_id(synth.stack.heartbeats.resource)
    (method,) = [
        method["Properties"]
        for method in synth.of_type("AWS::ApiGateway::Method").values()
        if method["Properties"]["ResourceId"] == {"Ref": resource} and method["Properties"]["HttpMethod"] == http_method
    ]
    return method


def _statements(synth: Synth, handler: str) -> list[dict[str, Any]]:
    return role_statements(synth, synth.logical_id(getattr(synth.stack.heartbeats, handler).role))


def test_the_route_is_heartbeat_token_under_the_events_api(default_synth: Synth) -> None:
    synth = default_synth
    resources = synth.of_type("AWS::ApiGateway::Resource")
    token = resources[synth.logical_id(synth.stack.heartbeats.resource)]["Properties"]
    assert token["PathPart"] == "{token}"
    parent = resources[token["ParentId"]["Ref"]]["Properties"]
    assert parent["PathPart"] == "heartbeat"
    assert parent["ParentId"] == {"Fn::GetAtt": [synth.logical_id(synth.stack.alerts.api), "RootResourceId"]}
    url = placeholder(synth.raw["Outputs"]["HeartbeatsUrl"]["Value"])
    assert url.startswith("https://") and url.endswith("/heartbeat")  # the CLI appends /<token>


def test_post_beats_through_the_heartbeat_function(default_synth: Synth) -> None:
    synth = default_synth
    post = _method(synth, "POST")
    assert post["Integration"]["Type"] == "AWS_PROXY"
    function = synth.logical_id(synth.stack.heartbeats.events.function)
    assert f"${{{function}.Arn}}" in placeholder(post["Integration"]["Uri"])
    assert post["Integration"]["TimeoutInMillis"] == 29_000


def test_get_is_refused_with_405_by_api_gateway_itself(default_synth: Synth) -> None:
    # A link preview or a crawler fetching the URL must not beat; no function runs for it.
    get = _method(default_synth, "GET")
    assert get["Integration"]["Type"] == "MOCK"
    (response,) = get["Integration"]["IntegrationResponses"]
    assert response["StatusCode"] == "405" and "SelectionPattern" not in response  # the default response
    assert response["ResponseParameters"] == {"method.response.header.Allow": "'POST'"}
    assert get["MethodResponses"] == [{"StatusCode": "405", "ResponseParameters": {"method.response.header.Allow": True}}]


def test_the_checker_and_the_beat_function_are_ours_with_their_settings(default_synth: Synth) -> None:
    synth = default_synth
    functions = synth.of_type("AWS::Lambda::Function")
    check = functions[synth.logical_id(synth.stack.heartbeats.check.function)]["Properties"]
    events = functions[synth.logical_id(synth.stack.heartbeats.events.function)]["Properties"]
    assert check["Handler"] == "heartbeat_check.handler" and events["Handler"] == "heartbeat_events.handler"
    assert check["Timeout"] >= 150  # it may wait out the rest of its deadline's minute, then page
    integrations = {"Ref": synth.logical_id(synth.stack.alerts.integrations)}
    assert check["Environment"]["Variables"]["INTEGRATIONS_TABLE"] == integrations
    env = events["Environment"]["Variables"]
    assert env["INTEGRATIONS_TABLE"] == integrations
    assert env["HEARTBEAT_SCHEDULE_GROUP"] == "IncidentEscalation-heartbeats"
    assert env["HEARTBEAT_CHECK_ARN"] == {"Fn::GetAtt": [synth.logical_id(synth.stack.heartbeats.check.function), "Arn"]}
    assert env["HEARTBEAT_SCHEDULER_ROLE_ARN"] == {"Fn::GetAtt": [synth.logical_id(synth.stack.heartbeats.scheduler_role), "Arn"]}
    assert env["HEARTBEAT_DEAD_LETTER_ARN"] == {"Fn::GetAtt": [synth.logical_id(synth.stack.heartbeats.dead_letters), "Arn"]}


def test_the_schedule_group_is_named_for_the_stack_and_given_to_the_cli(default_synth: Synth) -> None:
    synth = default_synth
    synth.template.has_resource_properties("AWS::Scheduler::ScheduleGroup", {"Name": "IncidentEscalation-heartbeats"})
    assert synth.raw["Outputs"]["HeartbeatScheduleGroup"]["Value"] == "IncidentEscalation-heartbeats"
    # No schedule exists at deploy: each beat creates its deadline's; nothing runs between deadlines.
    schedules = synth.of_type("AWS::Scheduler::Schedule").values()
    assert not [s for s in schedules if "heartbeat" in str(s["Properties"]).lower()]


def test_scheduler_assumes_a_role_that_may_only_invoke_the_checker_and_dead_letter(default_synth: Synth) -> None:
    synth = default_synth
    role = synth.resources[synth.logical_id(synth.stack.heartbeats.scheduler_role)]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    statements = role_statements(synth, synth.logical_id(synth.stack.heartbeats.scheduler_role))
    check = f"${{{synth.logical_id(synth.stack.heartbeats.check.function)}.Arn}}"
    queue = f"${{{synth.logical_id(synth.stack.heartbeats.dead_letters)}.Arn}}"
    assert resources_for(statements, "lambda:InvokeFunction") == {check}  # not its versions, not another function
    assert resources_for(statements, "sqs:SendMessage") == {queue}
    assert actions_of(statements) == {"lambda:InvokeFunction", "sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}


def test_only_the_beat_function_creates_and_deletes_schedules_and_passes_only_that_role(default_synth: Synth) -> None:
    synth = default_synth
    statements = _statements(synth, "events")
    group = "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/IncidentEscalation-heartbeats/*"
    assert resources_for(statements, "scheduler:CreateSchedule") == {group}
    assert resources_for(statements, "scheduler:DeleteSchedule") == {group}
    (pass_role,) = [statement for statement in statements if "iam:PassRole" in statement["Action"]]
    assert pass_role["Resource"] == [f"${{{synth.logical_id(synth.stack.heartbeats.scheduler_role)}.Arn}}"]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}
    own = ({"Ref": synth.logical_id(synth.stack.heartbeats.events.role)}, {"Ref": synth.logical_id(synth.stack.operator.role)})
    for policy in synth.of_type("AWS::IAM::Policy").values():  # nobody else (the operator's maintenance schedules aside)
        if policy["Properties"]["Roles"][0] not in own:
            assert not {"scheduler:CreateSchedule", "iam:PassRole"} & {
                action for statement in policy["Properties"]["PolicyDocument"]["Statement"]
                for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
            }  # fmt: skip


def _integrations_grants(synth: Synth, handler: str) -> dict[str, set[str]]:
    """Action -> the item key prefixes (dynamodb:LeadingKeys) the handler has it on, in the integrations table."""
    table = synth.logical_id(synth.stack.alerts.integrations)
    grants: dict[str, set[str]] = {}
    for statement in _statements(synth, handler):
        if any(table in resource for resource in statement["Resource"]):
            prefixes = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]  # every grant by prefix
            for action in statement["Action"]:
                grants.setdefault(action, set()).update(prefixes)
    return grants


def test_the_internet_facing_beat_function_writes_only_monitor_items_and_never_opens_an_incident(default_synth: Synth) -> None:
    synth = default_synth
    assert _integrations_grants(synth, "events") == {
        "dynamodb:GetItem": {"hbtoken#*", "heartbeat#*", "dedup#*"},
        "dynamodb:UpdateItem": {"heartbeat#*"},
    }
    incidents = f"${{{synth.logical_id(synth.stack.storage.incidents)}.Arn}}"
    on_incidents = {a for s in _statements(synth, "events") if incidents in s["Resource"] for a in s["Action"]}
    assert on_incidents == {"dynamodb:GetItem", "dynamodb:UpdateItem"}  # resolve only


def test_the_checker_opens_incidents_as_the_events_endpoint_does(default_synth: Synth) -> None:
    synth = default_synth
    grants = _integrations_grants(synth, "check")
    assert grants["dynamodb:GetItem"] == {"heartbeat#*", "integration#*", "dedup#*", "short#*"}
    assert grants["dynamodb:PutItem"] == grants["dynamodb:UpdateItem"] == {"heartbeat#*", "dedup#*", "short#*"}
    assert "key#*" not in set().union(*grants.values())  # it never reads routing keys
    incidents = f"${{{synth.logical_id(synth.stack.storage.incidents)}.Arn}}"
    on_incidents = {a for s in _statements(synth, "check") if incidents in s["Resource"] for a in s["Action"]}
    assert on_incidents == {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}


def test_a_failing_checker_alarms_the_ops_topic_and_its_deadlines_are_kept(default_synth: Synth) -> None:
    synth = default_synth
    ops = {"Ref": synth.logical_id(synth.stack.messaging.ops_topic)}
    check = synth.logical_id(synth.stack.heartbeats.check.function)
    queue = synth.logical_id(synth.stack.heartbeats.dead_letters)
    synth.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/Lambda", "MetricName": "Errors", "Statistic": "Sum", "Threshold": 0,
            "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": check}}],
            "ComparisonOperator": "GreaterThanThreshold", "AlarmActions": [ops],
        },
    )  # fmt: skip
    synth.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible", "Threshold": 0,
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}],
            "ComparisonOperator": "GreaterThanThreshold", "AlarmActions": [ops],
        },
    )  # fmt: skip
    synth.template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "FunctionName": {"Ref": check},
            "MaximumRetryAttempts": 2,
            "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [queue, "Arn"]}}},
        },
    )
    synth.template.has_resource_properties(
        "AWS::SQS::Queue", Match.object_like({"MessageRetentionPeriod": 14 * 86_400, "SqsManagedSseEnabled": True})
    )
