"""Synth-time check of oncall.yaml: the repository's file loads; a broken copy fails naming the path."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stacks.config import load_config
from stacks.config_errors import ConfigError
from stacks.oncall_config import ONCALL_FILE, OncallConfigError, check_destinations, load_oncall, parse_oncall
from tests.conftest import REPO_ROOT
from tests.infra.support import CDK_JSON_CONTEXT, HANDOFF_NOTICE_MINUTES, PROJECT, Synth


def test_repository_oncall_yaml_loads_and_round_trips_through_json() -> None:
    assert ONCALL_FILE == REPO_ROOT / "oncall.yaml"
    definitions = load_oncall()
    assert set(definitions.policies) == {"payments", "platform"}
    assert definitions.policies["payments"].repeat == 1
    assert definitions.people["alice"].phone == "+447700900001"  # quoted in the file: still a string
    assert type(definitions).model_validate(definitions.model_dump(mode="json")) == definitions
    office = definitions.rotations["platform"].layers[-1]
    assert office.restrictions[0].days == ("mon", "tue", "wed", "thu", "fri")


def broken(old: str, new: str) -> str:
    text = ONCALL_FILE.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    return text.replace(old, new)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "          - rotation: payments-secondary\n",
            "          - rotation: payments-tertiary\n",
            "oncall.yaml: policies.payments.levels[1].targets[0].rotation: unknown rotation 'payments-tertiary'",
        ),
        (
            'phone: "+447700900002"',
            "phone: +447700900002",  # unquoted: YAML reads a number
            "oncall.yaml: people.bob.phone: must be an E.164 number in quotes",
        ),
        (
            "participants: [carol, dan]",
            "participants: [carol, dave]",
            "oncall.yaml: rotations.payments-secondary.layers[0].participants[1]: unknown person 'dave'",
        ),
        (
            "        zone: America/New_York\n        start: 2026-01-01",
            "        zone: America/Gotham\n        start: 2026-01-01",
            "oncall.yaml: rotations.payments-secondary.layers[0].zone: unknown time zone 'America/Gotham'",
        ),
        (
            'to: "17:00"',
            "to: 17:00",  # unquoted: YAML 1.1 reads 1020
            "oncall.yaml: rotations.platform.layers[1].restrictions[0].to: write times in quotes",
        ),
        ("repeat: 1  #", "repeat: often  #", "oncall.yaml: policies.payments.repeat: Input should be a valid integer"),
        ("people:\n", "people: [\n", "oncall.yaml: line "),
    ],
)
def test_broken_copy_fails_naming_the_path(tmp_path: Path, old: str, new: str, message: str) -> None:
    copy = tmp_path / "oncall.yaml"
    copy.write_text(broken(old, new), encoding="utf-8")
    with pytest.raises(OncallConfigError) as error:
        load_oncall(copy)
    assert message in str(error.value)
    assert all(line.startswith("oncall.yaml: ") for line in str(error.value).splitlines())
    assert isinstance(error.value, ConfigError)  # caught where app.py catches a bad context value


def test_every_error_is_reported_one_per_line() -> None:
    text = broken("participants: [carol, dan]", "participants: [carol, dave]").replace('"+12025550104"', '"12025550104"')
    with pytest.raises(OncallConfigError) as error:
        parse_oncall(text)
    assert str(error.value).splitlines() == [
        "oncall.yaml: people.dan.phone: must be an E.164 number in quotes, e.g. '+447700900001', got '12025550104'",
    ]  # references are checked once the values are good, so the unknown 'dave' shows up on the next run


AGAIN = "  # again"  # marks the second definition in the cases below


def line_of(text: str, line: str) -> int:
    """The 1-based number of the first line that is line (comments aside)."""
    return next(number for number, text_line in enumerate(text.splitlines(), 1) if text_line.split("#")[0].rstrip() == line)


def again(text: str) -> int:
    """The 1-based number of the line marked AGAIN."""
    return next(number for number, line in enumerate(text.splitlines(), 1) if line.endswith(AGAIN))


PERSON_AGAIN = f'  alice:{AGAIN}\n    name: Alice Again\n    phone: "+447700900009"\n    zone: Europe/London\n'
ROTATION_AGAIN = f"  payments-primary:{AGAIN}\n    layers:\n      - name: other\n        participants: [dan]\n"
ROTATION_AGAIN += '        shift: {days: 1}\n        handoff: "09:00"\n        zone: Europe/London\n        start: 2026-01-05\n'
POLICY_AGAIN = f"  payments:{AGAIN}\n    levels:\n      - targets:\n          - person: alice\n"


@pytest.mark.parametrize(
    ("old", "new", "path", "first"),
    [
        ("\nrotations:\n", f"\n{PERSON_AGAIN}\nrotations:\n", "people.alice", "  alice:"),
        ("\npolicies:\n", f"\n{ROTATION_AGAIN}\npolicies:\n", "rotations.payments-primary", "  payments-primary:"),
        (
            "        ack_timeout_seconds: 900",
            f"        ack_timeout_seconds: 900\n{POLICY_AGAIN}",
            "policies.payments",
            "  payments:",
        ),
        # Deeper down, and a whole section: each time the last one would silently win.
        (
            "        start: 2026-01-01\n",
            f"        start: 2026-01-01\n        zone: Europe/London{AGAIN}\n",
            "rotations.payments-secondary.layers[0].zone",
            "        zone: America/New_York",
        ),
        ("    repeat: 1  #", f"    repeat: 2{AGAIN}\n    repeat: 1  #", "policies.payments.repeat", "    repeat: 1"),
        ("\npolicies:\n", f"\npeople:{AGAIN}\n{PERSON_AGAIN}\npolicies:\n", "people", "people:"),
    ],
)
def test_a_key_defined_twice_fails_naming_its_path_and_both_lines(old: str, new: str, path: str, first: str) -> None:
    text = broken(old, new)
    with pytest.raises(OncallConfigError) as error:
        parse_oncall(text)
    lines = sorted((line_of(text, first), again(text)))
    assert str(error.value).splitlines() == [f"oncall.yaml: {path}: defined twice (lines {lines[0]} and {lines[1]})"]


def test_every_key_defined_twice_is_reported_one_per_line(tmp_path: Path) -> None:
    text = (
        "people:\n"
        "  alice: {name: A, phone: '+447700900001', zone: Europe/London}\n"
        "  alice:\n"
        "    name: B\n"
        "    phone: '+447700900002'\n"
        "    name: C\n"
        "  alice: {name: D, phone: '+447700900003', zone: Europe/London}\n"
        "rotations: {}\n"
        "policies:\n"
        "  p:\n"
        "    levels:\n"
        "      - targets: [{person: alice}]\n"
        "        targets: [{person: alice}]\n"
    )
    copy = tmp_path / "oncall.yaml"
    copy.write_text(text, encoding="utf-8")
    with pytest.raises(OncallConfigError) as error:
        load_oncall(copy)
    assert str(error.value).splitlines() == [
        "oncall.yaml: people.alice: defined 3 times (lines 2, 3 and 7)",
        "oncall.yaml: people.alice.name: defined twice (lines 4 and 6)",
        "oncall.yaml: policies.p.levels[0].targets: defined twice (lines 12 and 13)",
    ]


def test_an_anchor_merged_into_a_mapping_is_not_a_duplicate() -> None:
    # YAML's merge key: keys written next to it override the merged ones, which is not defining them twice.
    text = broken(
        "  bob:\n    name: Bob Brennan\n",
        "  bob: &bob\n    name: Bob Brennan\n",
    ).replace("  carol:\n    name: Carol Castillo\n", "  carol:\n    <<: *bob\n    name: Carol Castillo\n")
    definitions = parse_oncall(text)
    assert definitions.people["carol"].name == "Carol Castillo"
    assert definitions.people["carol"].phone == "+12025550103"


def test_missing_file_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(OncallConfigError, match=r"^missing\.yaml: \(top level\): cannot be read"):
        load_oncall(tmp_path / "missing.yaml")
    with pytest.raises(OncallConfigError, match=r"^oncall\.yaml: \(top level\): must be a mapping"):
        parse_oncall("- alice\n")


def test_a_deploy_with_a_broken_file_fails_at_synth_naming_the_path(tmp_path: Path) -> None:
    # What `cdk deploy` runs first: the app, with cdk.json's context and -c oncallFile=... on top.
    broken = tmp_path / "oncall.yaml"
    broken.write_text(
        (REPO_ROOT / "oncall.yaml").read_text().replace("- rotation: payments-secondary", "- rotation: payments-2nd")
    )
    env = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps({**CDK_JSON_CONTEXT, "oncallFile": str(broken)}),
        "CDK_OUTDIR": str(tmp_path / "cdk.out"),
    }
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 1, result.stderr
    assert "Invalid configuration: " in result.stderr
    assert "policies.payments.levels[1].targets[0].rotation: unknown rotation 'payments-2nd'" in result.stderr
    assert not (tmp_path / "cdk.out" / "manifest.json").exists()


def test_people_outside_the_allowed_countries_fail_at_synth() -> None:
    with pytest.raises(OncallConfigError) as raised:
        check_destinations(load_oncall(), ("44",))
    assert str(raised.value).splitlines() == [
        "oncall.yaml: people.carol.phone: +12025550103 is outside the countries this deployment may text (+44)",
        "oncall.yaml: people.dan.phone: +12025550104 is outside the countries this deployment may text (+44)",
    ]
    check_destinations(load_oncall(), ("44", "1"))  # both countries allowed: nothing to refuse


def test_handoff_notices_are_a_scheduled_function_only_when_asked_for(default_synth: Synth, two_way_synth: Synth) -> None:
    def handoff_schedules(synth: Synth) -> list[dict[str, Any]]:  # the receipts' spend check has its own schedule
        return [
            schedule for schedule in synth.of_type("AWS::Scheduler::Schedule").values()
            if "Handoff" in json.dumps(schedule["Properties"]["Target"]["Arn"])
        ]  # fmt: skip

    assert handoff_schedules(default_synth) == []
    (schedule,) = handoff_schedules(two_way_synth)
    properties = schedule["Properties"]
    assert properties["ScheduleExpression"] == "rate(15 minutes)"
    assert properties["State"] == "ENABLED"
    handoff = two_way_synth.stack.handoff
    assert handoff is not None
    assert properties["Target"]["Arn"] == {"Fn::GetAtt": [two_way_synth.logical_id(handoff.function), "Arn"]}
    assert properties["Target"]["RetryPolicy"] == {"MaximumEventAgeInSeconds": 900, "MaximumRetryAttempts": 2}
    function = two_way_synth.resources[two_way_synth.logical_id(handoff.function)]["Properties"]
    assert function["Handler"] == "handoff_notices.handler"
    assert function["Environment"]["Variables"]["HANDOFF_NOTICE_MINUTES"] == str(HANDOFF_NOTICE_MINUTES)


@pytest.mark.parametrize("minutes", ["5", "14", "1441", "x"])
def test_a_handoff_lead_shorter_than_the_schedule_or_not_a_number_fails(minutes: str) -> None:
    with pytest.raises(ConfigError, match="handoffNoticeMinutes"):
        load_config({"handoffNoticeMinutes": minutes})
