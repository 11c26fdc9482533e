"""Maintenance windows: the operator function schedules their edges in its own group, the start function notes holds."""

from typing import Any

from tests.infra.support import Synth, resources_for, role_statements


def _statements(synth: Synth, handler: str) -> list[dict[str, Any]]:
    return role_statements(synth, synth.logical_id(getattr(synth.stack, handler).role))


def test_the_operator_schedules_edges_only_in_the_maintenance_group_and_passes_only_its_role(default_synth: Synth) -> None:
    synth = default_synth
    statements = _statements(synth, "operator")
    group = "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/IncidentEscalation-maintenance/*"
    assert resources_for(statements, "scheduler:CreateSchedule") == {group}
    assert resources_for(statements, "scheduler:DeleteSchedule") == {group}
    (pass_role,) = [statement for statement in statements if "iam:PassRole" in statement["Action"]]
    assert pass_role["Resource"] == [f"${{{synth.logical_id(synth.stack.maintenance.scheduler_role)}.Arn}}"]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}
    (invoke,) = role_statements(synth, synth.logical_id(synth.stack.maintenance.scheduler_role))
    assert (invoke["Action"], invoke["Resource"]) == (
        ["lambda:InvokeFunction"], [f"${{{synth.logical_id(synth.stack.operator.function)}.Arn}}"],
    )  # fmt: skip
    env = synth.resources[synth.logical_id(synth.stack.operator.function)]["Properties"]["Environment"]["Variables"]
    assert env["MAINTENANCE_SCHEDULE_GROUP"] == "IncidentEscalation-maintenance"


def test_the_start_function_writes_only_the_windows_partition_of_the_oncall_table(default_synth: Synth) -> None:
    synth = default_synth
    table = synth.logical_id(synth.stack.oncall.table)
    writes = [
        statement
        for statement in _statements(synth, "start")
        if any(table in str(resource) for resource in statement["Resource"])
        and set(statement["Action"]) - {"dynamodb:GetItem", "dynamodb:Query"}
    ]
    (write,) = writes
    assert write["Action"] == "dynamodb:UpdateItem" or write["Action"] == ["dynamodb:UpdateItem"]
    assert write["Condition"] == {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["maintenance"]}}
