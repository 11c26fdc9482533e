"""The permissions that matter: each function can do its job and little else."""

from typing import Any

import pytest

from tests.infra.support import PINPOINT_APP_ID, Synth, actions_of, resources_for, role_statements

TASK_CALLBACKS = ("states:SendTaskSuccess", "states:SendTaskFailure")
SMS_SENDERS = ("page", "unacknowledged", "reply")
ALL_HANDLERS = ("start", "page", "unacknowledged", "reply")


def statements(synth: Synth, handler: str) -> list[dict[str, Any]]:
    return role_statements(synth, synth.logical_id(getattr(synth.stack, handler).role))


def state_machine_arn(synth: Synth) -> str:
    (machine,) = synth.of_type("AWS::StepFunctions::StateMachine").values()
    name = machine["Properties"]["StateMachineName"]
    return f"arn:${{AWS::Partition}}:states:${{AWS::Region}}:${{AWS::AccountId}}:stateMachine:{name}"


@pytest.mark.parametrize("handler", ["page", "reply"])
def test_page_and_reply_functions_complete_tasks_of_this_state_machine_only(default_synth: Synth, handler: str) -> None:
    # The grant uses a formatted ARN (no dependency cycle); it must name the machine actually deployed.
    granted = statements(default_synth, handler)
    for action in TASK_CALLBACKS:
        assert resources_for(granted, action) == {state_machine_arn(default_synth)}, action


@pytest.mark.parametrize("handler", ["start", "unacknowledged"])
def test_other_functions_cannot_complete_tasks(default_synth: Synth, handler: str) -> None:
    assert not actions_of(statements(default_synth, handler)) & {*TASK_CALLBACKS, "states:*"}


def test_only_the_start_function_starts_executions_of_the_state_machine(default_synth: Synth) -> None:
    synth = default_synth
    machine = f"${{{synth.logical_id(synth.stack.workflow.state_machine)}}}"
    assert resources_for(statements(synth, "start"), "states:StartExecution") == {machine}
    for handler in ALL_HANDLERS[1:]:
        assert "states:StartExecution" not in actions_of(statements(synth, handler)), handler


@pytest.mark.parametrize("handler", SMS_SENDERS)
def test_sms_functions_may_send_text_messages_in_this_account(default_synth: Synth, handler: str) -> None:
    granted = statements(default_synth, handler)
    assert resources_for(granted, "sms-voice:SendTextMessage") == {
        "arn:${AWS::Partition}:sms-voice:${AWS::Region}:${AWS::AccountId}:*"
    }
    assert not any(action.startswith("mobiletargeting:") for action in actions_of(granted))


def test_start_function_sends_no_sms(default_synth: Synth) -> None:
    granted = actions_of(statements(default_synth, "start"))
    assert not any(action.startswith(("sms-voice:", "mobiletargeting:")) for action in granted)


@pytest.mark.parametrize("handler", SMS_SENDERS)
def test_pinpoint_mode_grants_send_messages_on_the_application_only(pinpoint_synth: Synth, handler: str) -> None:
    granted = statements(pinpoint_synth, handler)
    assert resources_for(granted, "mobiletargeting:SendMessages") == {
        f"arn:${{AWS::Partition}}:mobiletargeting:${{AWS::Region}}:${{AWS::AccountId}}:apps/{PINPOINT_APP_ID}/messages"
    }
    assert not any(action.startswith("sms-voice:") for action in actions_of(granted))


def test_no_function_role_has_a_managed_policy(any_synth: Synth) -> None:
    for handler in ALL_HANDLERS:
        role = any_synth.resources[any_synth.logical_id(getattr(any_synth.stack, handler).role)]
        assert not role["Properties"].get("ManagedPolicyArns"), handler


def test_function_roles_write_logs_only_to_their_own_log_group(default_synth: Synth) -> None:
    synth = default_synth
    for handler in ALL_HANDLERS:
        construct = getattr(synth.stack, handler)
        granted = statements(synth, handler)
        assert resources_for(granted, "logs:PutLogEvents") == {f"${{{synth.logical_id(construct.log_group)}.Arn}}"}
        assert "logs:CreateLogGroup" not in actions_of(granted), handler


def test_no_function_gets_wildcard_actions(any_synth: Synth) -> None:
    for handler in ALL_HANDLERS:
        for action in actions_of(statements(any_synth, handler)):
            assert action != "*" and not action.endswith(":*"), (handler, action)


def test_only_mark_unacknowledged_may_publish_to_the_ops_topic(default_synth: Synth) -> None:
    synth = default_synth
    topic = f"${{{synth.logical_id(synth.stack.messaging.ops_topic)}}}"
    assert resources_for(statements(synth, "unacknowledged"), "sns:Publish") == {topic}
    for handler in ("start", "page", "reply"):
        assert "sns:Publish" not in actions_of(statements(synth, handler)), handler


@pytest.mark.parametrize("handler", SMS_SENDERS)
def test_sms_functions_read_and_write_both_tables(default_synth: Synth, handler: str) -> None:
    synth = default_synth
    granted = statements(synth, handler)
    for table in (synth.stack.storage.incidents, synth.stack.storage.messages):
        assert f"${{{synth.logical_id(table)}.Arn}}" in resources_for(granted, "dynamodb:UpdateItem"), handler
