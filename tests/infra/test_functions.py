"""The five handler functions, their code asset, the stream mapping and the reply failure destination."""

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Capture, Match

from escalation.platform.aws_clients import SDK_CALL_WORST_CASE_SECONDS
from stacks.functions import powertools_layer
from stacks.nag import AWS_CUSTOM_RESOURCE_PROVIDER
from tests.infra.support import CDK_JSON_CONTEXT, PROJECT, Synth, as_list, placeholder, resources_for, role_statements

HANDLERS = {
    "start_escalation.handler",
    "page_contact.handler",
    "mark_unacknowledged.handler",
    "handle_reply.handler",
    "operator_actions.handler",
}
LAMBDA_DIR = PROJECT / "lambdas"
LAYER_ARN = re.compile(
    r"^arn:aws:lambda:\$\{AWS::Region\}:017000801446:layer:AWSLambdaPowertoolsPythonV3-(?P<python>python\d+)-(?P<arch>arm64|x86_64):(?P<version>\d+)$"
)


def handler_functions(synth: Synth) -> dict[str, dict[str, Any]]:
    """Handler name -> properties of our functions (not the AwsCustomResource provider)."""
    functions = {
        function["Properties"]["Handler"]: function["Properties"]
        for function in synth.of_type("AWS::Lambda::Function").values()
        if function["Properties"].get("Handler") in HANDLERS
    }
    assert set(functions) == HANDLERS
    return functions


def required_environment_variables() -> set[str]:
    """What the handlers' settings module refuses to start without."""
    settings = (LAMBDA_DIR / "escalation" / "platform" / "settings.py").read_text()
    names = set(re.findall(r'_required\("([A-Z_]+)"\)', settings))
    assert names, "settings.py no longer reads required variables through _required()"
    return names


def test_there_are_exactly_twelve_functions_by_default(default_synth: Synth, limited_synth: Synth) -> None:
    # The four handlers of the escalation, the CLI's operator function, the events endpoint's, the heartbeat
    # endpoint's and its deadline checker, the delivery receipts function, the spend check, the storm digests, and CDK's
    # AwsCustomResource provider, which writes the on-call definitions at deploy (limited has none, but its provider
    # adds the receipts' event destination to the configuration set it names).
    default_synth.template.resource_count_is("AWS::Lambda::Function", 12)
    limited_synth.template.resource_count_is("AWS::Lambda::Function", 12)
    handler_functions(default_synth)


def test_every_function_runs_python_3_14_on_arm64_with_active_tracing(any_synth: Synth) -> None:
    for handler, function in handler_functions(any_synth).items():
        assert function["Runtime"] == "python3.14", handler
        assert function["Architectures"] == ["arm64"], handler
        assert function["TracingConfig"] == {"Mode": "Active"}, handler


def test_every_function_uses_the_powertools_layer_pinned_to_the_configured_version(default_synth: Synth) -> None:
    for handler, function in handler_functions(default_synth).items():
        (layer,) = function["Layers"]
        match = LAYER_ARN.match(placeholder(layer))
        assert match, f"{handler}: layer {placeholder(layer)!r} is not a pinned Powertools v3 layer ARN"
        assert int(match["version"]) == CDK_JSON_CONTEXT["powertoolsLayerVersion"]
        # The layer is built for the function's own runtime and architecture.
        assert match["python"] == function["Runtime"].replace(".", ""), handler
        assert match["arch"] == function["Architectures"][0], handler


def test_layer_version_comes_from_context() -> None:
    stack = cdk.Stack(cdk.App())
    arn = placeholder(stack.resolve(powertools_layer(stack, 41).layer_version_arn))
    match = LAYER_ARN.match(arn)
    assert match, arn
    assert match["version"] == "41"


def test_every_function_has_its_own_role(default_synth: Synth) -> None:
    roles = [function["Role"] for function in handler_functions(default_synth).values()]
    assert all(set(role) == {"Fn::GetAtt"} and role["Fn::GetAtt"][1] == "Arn" for role in roles)
    role_ids = {role["Fn::GetAtt"][0] for role in roles}
    assert len(role_ids) == len(HANDLERS)
    for role_id in role_ids:
        assume = default_synth.resources[role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert assume == [{"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}]


def test_every_function_logs_to_its_own_explicit_log_group_with_retention(default_synth: Synth) -> None:
    groups = set()
    for handler, function in handler_functions(default_synth).items():
        reference = function["LoggingConfig"]["LogGroup"]
        assert set(reference) == {"Ref"}, handler
        group = default_synth.resources[reference["Ref"]]
        assert group["Type"] == "AWS::Logs::LogGroup"
        assert group["Properties"]["RetentionInDays"] > 0
        groups.add(reference["Ref"])
    assert len(groups) == len(HANDLERS)


def test_every_function_gets_the_environment_its_settings_require(default_synth: Synth) -> None:
    synth = default_synth
    incidents = synth.logical_id(synth.stack.storage.incidents)
    messages = synth.logical_id(synth.stack.storage.messages)
    required = required_environment_variables()
    for handler, function in handler_functions(synth).items():
        env = function["Environment"]["Variables"]
        assert required <= set(env), f"{handler} lacks {required - set(env)}"
        assert env["INCIDENTS_TABLE"] == {"Ref": incidents}, handler
        assert env["MESSAGES_TABLE"] == {"Ref": messages}, handler
        assert env["SMS_API"] == "v2", handler
        assert env["MAX_SMS_SEGMENTS"] == str(CDK_JSON_CONTEXT["maxSmsSegments"]), handler


def test_start_function_knows_the_state_machine_and_the_repeat_count(default_synth: Synth) -> None:
    synth = default_synth
    env = handler_functions(synth)["start_escalation.handler"]["Environment"]["Variables"]
    (machine,) = synth.of_type("AWS::StepFunctions::StateMachine").values()
    name = machine["Properties"]["StateMachineName"]
    assert placeholder(env["STATE_MACHINE_ARN"]) == (
        f"arn:${{AWS::Partition}}:states:${{AWS::Region}}:${{AWS::AccountId}}:stateMachine:{name}"
    )
    assert env["REPEAT"] == str(CDK_JSON_CONTEXT["repeat"])


def test_mark_unacknowledged_function_knows_the_ops_topic(default_synth: Synth) -> None:
    synth = default_synth
    env = handler_functions(synth)["mark_unacknowledged.handler"]["Environment"]["Variables"]
    assert env["OPS_TOPIC_ARN"] == {"Ref": synth.logical_id(synth.stack.messaging.ops_topic)}


def test_sms_settings_from_context_reach_the_functions(pinpoint_synth: Synth, two_way_synth: Synth) -> None:
    for handler, function in handler_functions(pinpoint_synth).items():
        env = function["Environment"]["Variables"]
        assert env["SMS_API"] == "pinpoint", handler
        assert env["PINPOINT_APPLICATION_ID"] == pinpoint_synth.stack.config.pinpoint_application_id, handler
    for handler, function in handler_functions(two_way_synth).items():
        assert function["Environment"]["Variables"]["ORIGINATION_IDENTITY"].startswith("phone-"), handler


def test_function_code_is_one_plain_zip_of_the_lambdas_directory(default_synth: Synth) -> None:
    synth = default_synth
    manifest = json.loads((synth.assembly_dir / f"{synth.stack.artifact_id}.assets.json").read_text())
    assert manifest.get("dockerImages", {}) == {}
    code_assets = {
        asset_hash: asset
        for asset_hash, asset in manifest["files"].items()
        if asset["displayName"].endswith("/Code") and AWS_CUSTOM_RESOURCE_PROVIDER not in asset["displayName"]
    }
    assert len(code_assets) == 1, "all handlers should share one code asset"
    ((asset_hash, asset),) = code_assets.items()
    assert asset["source"]["packaging"] == "zip"
    # Every function points at that asset.
    for handler, function in handler_functions(synth).items():
        assert function["Code"]["S3Key"] == f"{asset_hash}.zip", handler
    # The staged asset is the lambdas directory as it is: the same files, no caches, nothing built or vendored.
    # (Paths, not bytes: lambdas/ may be edited while the session runs; the staging copy is CDK's job.)
    staged = synth.assembly_dir / asset["source"]["path"]

    def files(root: Path) -> set[str]:
        return {
            str(path.relative_to(root))
            for path in root.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
        }

    assert files(staged) == files(LAMBDA_DIR)
    assert not [path for path in staged.rglob("*") if "__pycache__" in path.parts or path.suffix == ".pyc"]
    for handler in handler_functions(synth):
        assert (staged / f"{handler.split('.')[0]}.py").is_file(), handler


def test_stream_feeds_start_function_with_new_incidents_only(default_synth: Synth) -> None:
    synth = default_synth
    filters = Capture()
    synth.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": {"Fn::GetAtt": [synth.logical_id(synth.stack.storage.incidents), "StreamArn"]},
            "FunctionName": {"Ref": synth.logical_id(synth.stack.start.function)},
            "FilterCriteria": {"Filters": filters},
            "StartingPosition": "TRIM_HORIZON",
        },
    )
    patterns = [json.loads(entry["Pattern"]) for entry in filters.as_array()]
    never_started = {"execution_arn": {"S": [{"exists": False}]}}  # filters test leaves: the attribute's typed value
    had_history = {"stat_date": {"S": [{"exists": True}]}}
    # INSERTs, and MODIFYs that leave a never-started item (PutItem over an old id, an invalid item fixed);
    # every write of the app sets execution_arn or marks the item invalid, so it never matches.
    # Then the records that may take history off an item (archived): a write without execution_arn, or a
    # delete, of an item the app had written to (tests/infra/test_history.py checks them against the handler).
    assert patterns == [
        {"eventName": ["INSERT"]},
        {"eventName": ["MODIFY"], "dynamodb": {"NewImage": {**never_started, "incident_stat": {"S": ["not_acknowledged"]}}}},
        {"eventName": ["MODIFY"], "dynamodb": {"NewImage": {**never_started, "incident_stat": {"S": [{"exists": False}]}}}},
        {
            "eventName": ["MODIFY"],
            "dynamodb": {
                "OldImage": {"incident_stat": {"S": ["unacknowledged", "failed"]}},
                "NewImage": {"incident_stat": {"S": ["not_acknowledged"]}},
            },
        },
        {"eventName": ["MODIFY", "REMOVE"], "dynamodb": {"OldImage": had_history, "NewImage": never_started}},
    ]
    assert len(patterns) <= 5  # Lambda's default quota of filters per event source mapping


def test_stream_mapping_never_drops_a_record_silently(default_synth: Synth) -> None:
    synth = default_synth
    retries = Capture()
    synth.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "BisectBatchOnFunctionError": True,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "MaximumRetryAttempts": retries,
            "DestinationConfig": {
                "OnFailure": {"Destination": {"Fn::GetAtt": [synth.logical_id(synth.stack.stream_dlq), "Arn"]}}
            },
        },
    )
    assert 1 <= retries.as_number() <= 10


def test_start_function_may_send_to_its_stream_dead_letter_queue(default_synth: Synth) -> None:
    synth = default_synth
    statements = role_statements(synth, synth.logical_id(synth.stack.start.role))
    assert f"${{{synth.logical_id(synth.stack.stream_dlq)}.Arn}}" in resources_for(statements, "sqs:SendMessage")


def test_failed_reply_invocations_land_in_the_reply_dead_letter_queue(default_synth: Synth) -> None:
    synth = default_synth
    synth.template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "FunctionName": {"Ref": synth.logical_id(synth.stack.reply.function)},
            "Qualifier": "$LATEST",
            "MaximumRetryAttempts": Match.any_value(),
            "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [synth.logical_id(synth.stack.reply_dlq), "Arn"]}}},
        },
    )
    # The only other asynchronously invoked functions are the alerts one (CloudWatch alarm events, its own queue), the
    # heartbeat checker (Scheduler, its own queue: tests/infra/test_heartbeats.py), the delivery receipts function
    # (its topic, its own queue: tests/infra/test_receipts.py) and the storm digest function (the senders, its own queue).
    configured = sorted(
        config["Properties"]["FunctionName"]["Ref"] for config in synth.of_type("AWS::Lambda::EventInvokeConfig").values()
    )
    assert configured == sorted(
        [
            synth.logical_id(synth.stack.reply.function),
            synth.logical_id(synth.stack.alerts.function.function),
            synth.logical_id(synth.stack.heartbeats.check.function),
            synth.logical_id(synth.stack.receipts.function.function),
            synth.logical_id(synth.stack.digests.function),
        ]
    )


@pytest.mark.parametrize("queue_attr", ["stream_dlq", "reply_dlq", "alarm_event_dlq"])
def test_dead_letter_queues_keep_messages_for_two_weeks_encrypted(default_synth: Synth, queue_attr: str) -> None:
    synth = default_synth
    queue = synth.resources[synth.logical_id(getattr(synth.stack, queue_attr))]
    assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    policies = [
        policy
        for policy in synth.of_type("AWS::SQS::QueuePolicy").values()
        if {"Ref": synth.logical_id(getattr(synth.stack, queue_attr))} in as_list(policy["Properties"]["Queues"])
    ]
    assert any(
        statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for policy in policies
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    )


SMS_LIMITS = ("SMS_PARTS_PER_SECOND", "FAULT_RETRY_SECONDS", "MAX_SMS_PER_INCIDENT", "MAX_SMS_PER_HOUR")
SMS_SENDING_HANDLERS = {
    "page_contact.handler",
    "mark_unacknowledged.handler",
    "handle_reply.handler",
    "operator_actions.handler",
}


def test_sms_limits_reach_every_function_that_sends_sms_with_their_defaults(default_synth: Synth) -> None:
    expected = {
        "SMS_PARTS_PER_SECOND": "1",
        "FAULT_RETRY_SECONDS": "900",
        "MAX_SMS_PER_INCIDENT": "81",  # derived from reminders and repeat (0 in cdk.json)
        "MAX_SMS_PER_HOUR": "1000",
        "PROTECT_CONFIGURATION_ID": "",
    }
    for handler, function in handler_functions(default_synth).items():
        env = function["Environment"]["Variables"]
        if handler in SMS_SENDING_HANDLERS:
            assert {key: env.get(key) for key in expected} == expected, handler
        else:
            assert not set(SMS_LIMITS) & set(env), handler
        assert env["ALLOWED_COUNTRIES"] == "", handler  # no limit


def test_configured_limits_countries_and_protect_configuration_reach_the_functions(limited_synth: Synth) -> None:
    synth = limited_synth
    protect = synth.logical_id(synth.stack.messaging.protect_configuration)
    for handler, function in handler_functions(synth).items():
        env = function["Environment"]["Variables"]
        assert env["ALLOWED_COUNTRIES"] == "GB,IE", handler  # normalized: uppercase, sorted, comma-separated
        if handler in SMS_SENDING_HANDLERS:
            assert [env[key] for key in SMS_LIMITS] == ["20", "600", "120", "90"], handler
            assert env["PROTECT_CONFIGURATION_ID"] == {"Ref": protect}, handler
        assert env["ALLOWED_CALLING_CODES"] == "353,44", handler  # what the start handler checks each contact against


def test_every_function_outlasts_the_sdk_calls_it_makes(default_synth: Synth) -> None:
    # A slow AWS API must surface as an SDK error the handler classifies, not as a Lambda timeout mid-handler:
    # each function has room for at least two calls that exhaust their timeouts and retries.
    for handler, function in handler_functions(default_synth).items():
        assert function["Timeout"] >= 2 * SDK_CALL_WORST_CASE_SECONDS, handler


def test_pages_carry_the_acknowledgement_window_as_their_time_to_live_and_can_tell_ops(default_synth: Synth) -> None:
    env = handler_functions(default_synth)["page_contact.handler"]["Environment"]["Variables"]
    assert env["ACK_TIMEOUT_SECONDS"] == str(CDK_JSON_CONTEXT["ackTimeoutSeconds"])
    assert env["OPS_TOPIC_ARN"] == {"Ref": default_synth.logical_id(default_synth.stack.messaging.ops_topic)}


def test_the_cli_finds_the_operator_function_by_its_output(default_synth: Synth) -> None:
    synth = default_synth
    output = synth.raw["Outputs"]["OperatorFunctionName"]
    assert output["Value"] == {"Ref": synth.logical_id(synth.stack.operator.function)}
    function = handler_functions(synth)["operator_actions.handler"]
    assert function["Timeout"] == 180  # room for a token and a notice to each of ten contacts, as the reply handler


def test_the_cli_finds_the_allowed_calling_codes_by_an_output(default_synth: Synth, limited_synth: Synth) -> None:
    # What the functions check each contact against (ALLOWED_CALLING_CODES), for the CLI's integration commands.
    assert limited_synth.raw["Outputs"]["AllowedCallingCodes"]["Value"] == "353,44"
    assert default_synth.raw["Outputs"]["AllowedCallingCodes"]["Value"] == "any"  # allowedCountries empty: no limit
