"""`incidents oncall ...` against the deployed definitions on moto, and the errors a person can act on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from incidents_cli.main import app
from tests.cli.conftest import REGION, Deployed, stack_template
from tests.cli.test_incident_commands import ok, refused

ZONE_NY = ZoneInfo("America/New_York")
NOW = "2026-03-09T12:00:00Z"  # a Monday: alice's week in payments-primary (see oncall.yaml)


def test_now_shows_who_each_level_pages(deployed: Deployed) -> None:
    out = ok(deployed.cli("oncall", "now", "payments", "--at", NOW))
    levels = [(row["level"], [person["id"] for person in row["people"]]) for row in out["levels"]]
    # 2026-03-09 12:00 UTC is 08:00 in New York (EDT since the day before): the 67th daily shift since 2026-01-01, dan's.
    assert levels == [(0, ["alice"]), (1, ["dan"])]  # payments-secondary's dan and the person dan are paged once
    everything = ok(deployed.cli("oncall", "now", "--at", NOW))
    assert {row["policy"] for row in everything["levels"]} == {"payments", "platform"}
    assert "unknown policy 'nights'" in refused(deployed.cli("oncall", "now", "nights"))


def test_schedule_lists_weekly_shifts(deployed: Deployed) -> None:
    out = ok(deployed.cli("oncall", "schedule", "payments-primary", "--from", "2026-03-09T09:00:00Z", "--days", "14"))
    assert [(shift["start"], shift["end"], shift["person"]["id"]) for shift in out["shifts"]] == [
        ("2026-03-09T09:00:00Z", "2026-03-16T09:00:00Z", "alice"),
        ("2026-03-16T09:00:00Z", "2026-03-23T09:00:00Z", "bob"),
    ]
    text = ok(deployed.cli("oncall", "schedule", "payments-primary", "--from", "2026-03-09T09:00:00Z", json_output=False))
    assert "Alice Adeyemi (alice)" in text and "Bob Brennan (bob)" in text
    assert "unknown rotation 'nights' (deployed: payments-primary, payments-secondary, platform)" in refused(
        deployed.cli("oncall", "schedule", "nights")
    )


def test_override_changes_who_is_on_call_until_removed(deployed: Deployed) -> None:
    created = ok(
        deployed.cli(
            "oncall", "override", "payments-primary", "--person", "dan",
            "--from", "2026-03-09T11:00:00Z", "--to", "2026-03-09T15:00:00Z",
        )
    )  # fmt: skip
    assert created["person"] == "dan" and created["from"] == "2026-03-09T11:00:00Z"
    level0 = ok(deployed.cli("oncall", "now", "payments", "--at", NOW))["levels"][0]
    assert [person["id"] for person in level0["people"]] == ["dan"]
    listed = ok(deployed.cli("oncall", "overrides", "--all"))
    assert [(row["id"], row["rotation"], row["person"]) for row in listed] == [(created["id"], "payments-primary", "dan")]
    assert listed[0]["created_by"].startswith("cli:")
    assert ok(deployed.cli("oncall", "overrides")) == []  # it ended in March
    assert ok(deployed.cli("oncall", "overrides", "platform", "--all")) == []
    schedule = ok(deployed.cli("oncall", "schedule", "payments-primary", "--from", "2026-03-09T09:00:00Z", "--days", "1"))
    assert [shift["person"]["id"] for shift in schedule["shifts"]] == ["alice", "dan", "alice"]
    assert ok(deployed.cli("oncall", "remove", created["id"])) == {"id": created["id"], "removed": True}
    assert f"no override '{created['id']}'" in refused(deployed.cli("oncall", "remove", created["id"]))
    level0 = ok(deployed.cli("oncall", "now", "payments", "--at", NOW))["levels"][0]
    assert [person["id"] for person in level0["people"]] == ["alice"]


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--person", "zoe"], "--person: unknown person 'zoe'"),
        (["--person", "dan", "--covers", "zoe"], "--covers: unknown person 'zoe'"),
        (["--person", "dan", "--to", "2026-03-09T10:00:00Z"], "'to' must be after 'from'"),
        (["--person", "dan", "--to", "tomorrow"], "--to: 'tomorrow' is not an ISO-8601 time"),
    ],
)
def test_a_bad_override_is_refused_and_nothing_stored(deployed: Deployed, args: list[str], problem: str) -> None:
    times = {"--from": "2026-03-09T11:00:00Z", "--to": "2026-03-09T15:00:00Z"}
    for option in list(times):
        if option in args:
            times.pop(option)
    flat = [part for pair in times.items() for part in pair]
    assert problem in refused(deployed.cli("oncall", "override", "payments-primary", *args, *flat))
    assert ok(deployed.cli("oncall", "overrides", "--all")) == []


def test_ical_feed_parses_back_with_one_event_per_shift_and_stable_uids(deployed: Deployed) -> None:
    first = deployed.cli("oncall", "ical", "payments-secondary", "--days", "7", json_output=False)
    assert first.exit_code == 0, first.stderr
    calendar = Calendar.from_ical(first.stdout)
    assert calendar["PRODID"] and str(calendar["VERSION"]) == "2.0"
    events = calendar.walk("VEVENT")
    assert 7 <= len(events) <= 8  # daily shifts: the one in progress and those starting in the next 7 days
    starts = [event.decoded("DTSTART") for event in events]
    ends = [event.decoded("DTEND") for event in events]
    assert all(end - start == timedelta(days=1) for start, end in zip(starts[:-1], ends[:-1], strict=True))  # no DST in this span
    assert starts[0] <= datetime.now(UTC) < ends[0]  # the shift in progress keeps its real start
    assert all(start.astimezone(ZONE_NY).hour == 8 for start in starts)  # 08:00 New York handoffs
    people = [str(event["SUMMARY"]) for event in events]
    assert {"On call: Carol Castillo (payments-secondary)", "On call: Dan Dubois (payments-secondary)"} == set(people)
    uids = [str(event["UID"]) for event in events]
    assert len(set(uids)) == len(uids)
    again = Calendar.from_ical(deployed.cli("oncall", "ical", "payments-secondary", "--days", "7", json_output=False).stdout)
    assert [str(event["UID"]) for event in again.walk("VEVENT")][:6] == uids[:6]  # the same shifts, the same UIDs


# -- errors a person can act on --------------------------------------------------------------------


def test_stack_not_found_names_it(deployed: Deployed) -> None:
    message = refused(deployed.runner.invoke(app, ["--region", REGION, "--stack", "Nope", "list"]))
    assert "stack Nope not found in region eu-west-2" in message


def test_no_credentials_is_an_instruction_not_a_traceback(
    deployed: Deployed, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    assert "no AWS credentials found" in refused(deployed.cli("list"))
    assert "could not be found" in refused(deployed.runner.invoke(app, ["--profile", "nobody", "list"]))


def test_a_stack_without_the_oncall_table_says_to_deploy(deployed: Deployed) -> None:
    parameters = [{"ParameterKey": "StateMachineArn", "ParameterValue": deployed.state_machine_arn}]
    deployed.cloudformation.create_stack(StackName="Older", TemplateBody=stack_template(oncall=False), Parameters=parameters)
    result = deployed.runner.invoke(app, ["--region", REGION, "--stack", "Older", "oncall", "now"])
    assert "stack Older has no output OncallTableName" in refused(result)


def test_nothing_deployed_in_the_oncall_table_says_so(deployed: Deployed) -> None:
    deployed.oncall.delete_item(Key={"pk": "definitions", "sk": "current"})
    assert "no on-call definitions are deployed" in refused(deployed.cli("oncall", "now"))
