"""The escalation state machine, read state by state from its synthesized definition."""

from collections import deque
from typing import Any

import pytest

from stacks.workflow import RETRY_BACKOFF, fault_retry_schedule
from tests.infra.support import ACK_TIMEOUT_SECONDS, CDK_JSON_CONTEXT, REMINDERS, Synth, state_machine_definition


@pytest.fixture(scope="module")
def states(two_way_synth: Synth) -> dict[str, dict[str, Any]]:
    """States of the machine synthesized with ackTimeoutSeconds=120 and reminders=2."""
    states: dict[str, dict[str, Any]] = state_machine_definition(two_way_synth)["States"]
    return states


def targets(state: dict[str, Any]) -> set[str]:
    """Every state this one can hand over to."""
    found = {state[key] for key in ("Next", "Default") if key in state}
    found |= {choice["Next"] for choice in state.get("Choices", [])}
    found |= {catcher["Next"] for catcher in state.get("Catch", [])}
    return found


def test_state_machine_is_standard_with_full_logging_and_tracing(default_synth: Synth) -> None:
    synth = default_synth
    machine = synth.resources[synth.logical_id(synth.stack.workflow.state_machine)]["Properties"]
    assert machine["StateMachineType"] == "STANDARD"
    assert machine["LoggingConfiguration"]["Level"] == "ALL"
    (destination,) = machine["LoggingConfiguration"]["Destinations"]
    log_group = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    assert synth.resources[log_group]["Type"] == "AWS::Logs::LogGroup"
    assert machine["TracingConfiguration"] == {"Enabled": True}


def test_workflow_starts_by_paging_the_contact(two_way_synth: Synth) -> None:
    assert state_machine_definition(two_way_synth)["StartAt"] == "Page contact"


def test_page_contact_invokes_the_page_function_and_waits_for_the_task_token(
    two_way_synth: Synth, states: dict[str, dict[str, Any]]
) -> None:
    page = states["Page contact"]
    assert page["Type"] == "Task"
    assert page["Resource"] == "arn:${AWS::Partition}:states:::lambda:invoke.waitForTaskToken"
    assert page["Parameters"]["FunctionName"] == f"${{{two_way_synth.logical_id(two_way_synth.stack.page.function)}.Arn}}"
    assert page["Parameters"]["Payload"]["token.$"] == "$$.Task.Token"


def test_page_contact_waits_for_the_window_of_its_level(states: dict[str, dict[str, Any]]) -> None:
    # Each level carries its own window (a policy sets one per level); the start handler fills them in.
    assert states["Page contact"]["TimeoutSecondsPath"] == "$.timeout"
    assert "TimeoutSeconds" not in states["Page contact"]
    assert states["Page contact"]["Parameters"]["Payload"]["timeout.$"] == "$.timeout"
    assert states["Escalate"]["Parameters"]["timeout.$"] == "States.ArrayGetItem($.ack_timeouts, $.next_level)"
    for name in ("Count reminder", "Find next level"):
        assert states[name]["Parameters"]["timeout.$"] == "$.timeout"  # a reminder keeps its level's window
        assert states[name]["Parameters"]["ack_timeouts.$"] == "$.ack_timeouts"


def test_the_start_handler_gets_the_configured_window(two_way_synth: Synth, default_synth: Synth) -> None:
    # The contacts' window (ackTimeoutSeconds) is what the start handler puts in each level of a contact chain.
    for synth, expected in ((two_way_synth, ACK_TIMEOUT_SECONDS), (default_synth, CDK_JSON_CONTEXT["ackTimeoutSeconds"])):
        start = synth.resources[synth.logical_id(synth.stack.start.function)]
        assert start["Properties"]["Environment"]["Variables"]["ACK_TIMEOUT_SECONDS"] == str(expected)


def test_page_contact_retries_our_faults_for_the_configured_time_without_moving_on(states: dict[str, dict[str, Any]]) -> None:
    *lambda_service, decisive, faults = states["Page contact"]["Retry"]
    # CDK's own retrier of Lambda service errors comes first; it names no error of ours.
    assert all(error.startswith("Lambda.") for retry in lambda_service for error in retry["ErrorEquals"])
    # A decline, a dead number, nobody on call and silence are decided at once: listed first, never retried.
    assert decisive == {"ErrorEquals": ["Declined", "SmsFailed", "NobodyOnCall", "States.Timeout"], "MaxAttempts": 0}
    # Everything else is ours (throttling, quota, access, identity, a crash): retried with backoff.
    assert faults["ErrorEquals"] == ["States.ALL"]
    assert faults["BackoffRate"] > 1
    waited = sum(faults["IntervalSeconds"] * faults["BackoffRate"] ** n for n in range(faults["MaxAttempts"]))
    assert waited >= CDK_JSON_CONTEXT.get("faultRetrySeconds", 900)
    assert waited < 3 * CDK_JSON_CONTEXT.get("faultRetrySeconds", 900)


@pytest.mark.parametrize("seconds", [1, 5, 60, 900, 86_400])
def test_fault_retry_schedule_lasts_at_least_the_configured_time(seconds: int) -> None:
    interval, attempts = fault_retry_schedule(seconds)
    waited = sum(interval * RETRY_BACKOFF**n for n in range(attempts))
    assert seconds <= waited
    assert sum(interval * RETRY_BACKOFF**n for n in range(attempts - 1)) < seconds  # not one retry more than needed


def test_a_decline_or_dead_number_escalates_silence_may_remind_and_our_faults_stop_paging(
    states: dict[str, dict[str, Any]],
) -> None:
    catchers = states["Page contact"]["Catch"]
    assert [(catcher["ErrorEquals"], catcher["Next"], catcher["ResultPath"]) for catcher in catchers] == [
        (["States.Timeout"], "Remind?", "$.error"),
        (["Declined", "SmsFailed", "NobodyOnCall"], "Find next level", "$.error"),
        (["States.ALL"], "Mark paging failed", "$.fault"),
    ]
    stop = states["Mark paging failed"]
    assert stop["Parameters"]["Payload"]["outcome"] == "failed"
    assert states[stop["Next"]]["Type"] == "Fail"


def test_an_acknowledged_page_closes_the_incident_and_a_queued_one_waits_for_its_slot(
    states: dict[str, dict[str, Any]],
) -> None:
    queued = states[states["Page contact"]["Next"]]
    assert queued["Type"] == "Choice"
    assert states[queued["Default"]]["Type"] == "Succeed"
    (choice,) = queued["Choices"]
    assert {"Variable": "$.reply.outcome", "StringEquals": "queued"} in choice["And"]
    wait = states[choice["Next"]]
    assert (wait["Type"], wait["SecondsPath"], wait["Next"]) == ("Wait", "$.reply.wait_seconds", "Page contact")


def test_reminders_are_counted_against_the_configured_number(states: dict[str, dict[str, Any]]) -> None:
    remind = states["Remind?"]
    assert remind["Type"] == "Choice"
    (choice,) = remind["Choices"]
    assert choice["Variable"] == "$.attempt"
    assert choice["NumericLessThan"] == REMINDERS
    assert remind["Default"] == "Find next level"
    count = states[choice["Next"]]
    assert count["Type"] == "Pass"
    assert count["Parameters"]["attempt.$"] == "States.MathAdd($.attempt, 1)"
    assert count["Next"] == "Page contact"


def test_no_reminders_by_default(default_synth: Synth) -> None:
    (choice,) = state_machine_definition(default_synth)["States"]["Remind?"]["Choices"]
    assert choice["NumericLessThan"] == CDK_JSON_CONTEXT["reminders"] == 0


def test_find_next_level_computes_the_next_level_and_the_chain_length(states: dict[str, dict[str, Any]]) -> None:
    find = states["Find next level"]
    assert find["Type"] == "Pass"
    assert find["Parameters"]["next_level.$"] == "States.MathAdd($.level, 1)"
    assert find["Parameters"]["levels.$"] == "States.ArrayLength($.contacts)"
    assert find["Next"] == "Another contact?"


def test_another_contact_compares_the_next_level_with_the_chain_length(states: dict[str, dict[str, Any]]) -> None:
    another = states["Another contact?"]
    assert another["Type"] == "Choice"
    (choice,) = another["Choices"]
    assert choice["Variable"] == "$.next_level"
    assert choice["NumericLessThanPath"] == "$.levels"
    assert choice["Next"] == "Escalate"
    assert another["Default"] == "Mark unacknowledged"


def test_escalation_moves_to_the_next_level_and_pages_at_once(states: dict[str, dict[str, Any]]) -> None:
    # No Lambda between a NO and the next page: page_contact records why the last level ended.
    escalate = states["Escalate"]
    assert escalate["Type"] == "Pass"
    assert escalate["Parameters"]["level.$"] == "$.next_level"
    assert escalate["Parameters"]["attempt"] == 0
    assert escalate["Parameters"]["error.$"] == "$.error"
    assert escalate["Next"] == "Page contact"


def test_exhausted_chain_is_marked_unacknowledged_and_ends(two_way_synth: Synth, states: dict[str, dict[str, Any]]) -> None:
    give_up = states["Mark unacknowledged"]
    assert give_up["Type"] == "Task"
    assert give_up["Parameters"]["FunctionName"] == (
        f"${{{two_way_synth.logical_id(two_way_synth.stack.unacknowledged.function)}.Arn}}"
    )
    assert give_up["Next"] == "Chain exhausted"
    assert states["Chain exhausted"]["Type"] == "Succeed"


def test_every_transition_target_exists(states: dict[str, dict[str, Any]]) -> None:
    for name, state in states.items():
        missing = targets(state) - set(states)
        assert not missing, f"{name} hands over to missing states {missing}"


def test_every_state_is_reachable_from_the_start(two_way_synth: Synth) -> None:
    definition = state_machine_definition(two_way_synth)
    seen = {definition["StartAt"]}
    queue = deque(seen)
    while queue:
        for target in targets(definition["States"][queue.popleft()]):
            if target not in seen:
                seen.add(target)
                queue.append(target)
    assert seen == set(definition["States"])


def test_every_non_terminal_state_leads_somewhere(states: dict[str, dict[str, Any]]) -> None:
    for name, state in states.items():
        if state["Type"] not in ("Succeed", "Fail"):
            assert targets(state) or state.get("End") is True, name


def test_execution_timeout_outlasts_the_longest_escalation(two_way_synth: Synth) -> None:
    definition = state_machine_definition(two_way_synth)
    stack = two_way_synth.stack
    max_levels = 10 * (stack.config.repeat + 1)
    assert definition["TimeoutSeconds"] >= ACK_TIMEOUT_SECONDS * (REMINDERS + 1) * max_levels
    # and each level of a low-urgency incident may wait up to a week for working hours
    assert definition["TimeoutSeconds"] >= (ACK_TIMEOUT_SECONDS * (REMINDERS + 1) + 7 * 86_400) * max_levels
    assert definition["TimeoutSeconds"] <= 365 * 86_400  # Step Functions' longest execution
