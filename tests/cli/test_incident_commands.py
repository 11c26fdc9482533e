"""`incidents create / show / list / tail` against the stack on moto (ack and resolve: test_operator_commands.py)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from escalation.incidents import acknowledgement
from escalation.incidents.item import parse_incident
from escalation.incidents.status import Event
from escalation.incidents.timeline import timeline_entry
from escalation.store.repository import IncidentRepository
from incidents_cli.incidents import incident_image
from tests.cli.conftest import FIRST, SECOND, Deployed


def ok(result: Any) -> Any:
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}{result.stderr}"
    return json.loads(result.stdout) if result.stdout.strip().startswith(("{", "[")) else result.stdout


def refused(result: Any) -> str:
    """A refusal a person can act on: exit 1, one line on stderr, no traceback."""
    assert result.exit_code == 1, f"exit {result.exit_code}: {result.output}"
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stderr
    message: str = result.stderr
    assert message.startswith("error: ")
    return message


def create(deployed: Deployed, incident_id: str = "INC-1", *extra: str) -> Any:
    return deployed.cli(
        "create", "--id", incident_id, "--description", "Disk full on db-1", "--contact", FIRST, "--contact", SECOND, *extra
    )


def acknowledge_by_sms(deployed: Deployed, incident_id: str) -> None:
    """Close an incident as a YES from the first contact does (the shared acknowledgement rules)."""
    repository = IncidentRepository(deployed.incidents)
    taken = acknowledgement.take(repository, deployed.item(incident_id), by=FIRST, via="inbound-1", at="2026-03-01T10:01:00Z")
    assert taken is not None and taken.now


# -- create ----------------------------------------------------------------------------------------


def test_create_writes_the_item_the_stack_pages(deployed: Deployed) -> None:
    out = ok(create(deployed, "INC-1", "--url", "https://example.com/inc/1"))
    assert out == {"incident_id": "INC-1", "table": deployed.incidents.name, "replaced": False, "replaced_status": None}
    item = deployed.item("INC-1")
    assert item["contacts"] == [FIRST, SECOND]
    assert item["incident_stat"] == "not_acknowledged"
    assert item["url"] == "https://example.com/inc/1"
    # What was written is what the stream handler will accept.
    incident = parse_incident(incident_image("INC-1", "Disk full on db-1", "https://example.com/inc/1", [FIRST, SECOND], None))
    assert incident.contacts == (FIRST, SECOND)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--contact", "07700900001"], "contacts[0]: '07700900001' is not an E.164 phone number"),
        (["--contact", FIRST, "--contact", FIRST], f"contacts: lists {FIRST} more than once"),
        (["--contact", FIRST, "--url", "example.com"], "url: must start with https:// or http://"),
        (["--contact", FIRST, "--description", " "], "description: must not be empty"),
        (["--contact", "+15555550100"], "contacts[0]: +15555550100 is outside the countries this deployment may text"),
    ],
)
def test_create_refuses_what_the_stack_would_mark_invalid(deployed: Deployed, args: list[str], problem: str) -> None:
    described = [] if "--description" in args else ["--description", "Disk full"]
    message = refused(deployed.cli("create", "--id", "BAD-1", *described, *args))
    assert problem in message
    assert "nothing written" in message
    assert "Item" not in deployed.incidents.get_item(Key={"incident_id": "BAD-1"})


def test_create_needs_contacts_or_a_policy_not_both(deployed: Deployed) -> None:
    assert "--contact NUMBER" in refused(deployed.cli("create", "--id", "X", "--description", "d"))
    both = deployed.cli("create", "--id", "X", "--description", "d", "--contact", FIRST, "--policy", "payments")
    assert "not both" in refused(both)


def test_create_does_not_replace_an_open_incident_unless_told(deployed: Deployed) -> None:
    ok(create(deployed, "INC-2"))
    deployed.start("INC-2")
    message = refused(create(deployed, "INC-2"))
    assert "incident INC-2 is open (not_acknowledged, paging +44********01)" in message
    assert "--replace" in message
    assert deployed.item("INC-2")["task_token"]  # untouched
    out = ok(create(deployed, "INC-2", "--replace"))
    assert out["replaced"] is True and out["replaced_status"] == "not_acknowledged"
    assert "task_token" not in deployed.item("INC-2")  # a fresh incident the stream handler will page


def test_create_over_a_closed_incident_needs_no_flag(deployed: Deployed) -> None:
    ok(create(deployed, "INC-3"))
    deployed.start("INC-3")
    acknowledge_by_sms(deployed, "INC-3")
    out = ok(create(deployed, "INC-3"))
    assert out["replaced_status"] == "acknowledged"


def test_create_with_an_unknown_policy_names_the_deployed_ones(deployed: Deployed) -> None:
    message = refused(deployed.cli("create", "--id", "P-1", "--description", "d", "--policy", "nights"))
    assert "policy: unknown escalation policy 'nights' (deployed: payments, platform)" in message  # the start handler's words


def test_create_with_a_deployed_policy_writes_it(deployed: Deployed) -> None:
    ok(deployed.cli("create", "--id", "P-2", "--description", "d", "--policy", "payments"))
    assert deployed.item("P-2")["policy"] == "payments"


# -- show and list ---------------------------------------------------------------------------------


def test_show_an_unknown_incident_says_so(deployed: Deployed) -> None:
    assert f"no incident 'nope' in {deployed.incidents.name}" in refused(deployed.cli("show", "nope"))


def test_show_prints_status_holder_and_the_whole_timeline(deployed: Deployed) -> None:
    ok(create(deployed, "INC-4"))
    deployed.start("INC-4")
    out = ok(deployed.cli("show", "INC-4"))
    assert [entry["event"] for entry in out["timeline"]] == ["created", "paged"]
    text = ok(deployed.cli("show", "INC-4", json_output=False))
    assert "Incident INC-4" in text and "not_acknowledged" in text and "paging +44********01" in text
    assert "created" in text and "paged" in text and "segments=1" in text


def test_list_shows_newest_first_and_filters_open_and_recent(deployed: Deployed) -> None:
    for incident_id in ("OLD", "DONE", "NEW"):
        ok(create(deployed, incident_id))
    deployed.start("OLD", at="2020-01-01T00:00:00.000Z")
    deployed.start("DONE")
    acknowledge_by_sms(deployed, "DONE")
    listed = ok(deployed.cli("list"))
    assert [row["incident_id"] for row in listed] == ["NEW", "DONE", "OLD"]  # NEW has not started: newest of all
    assert {row["incident_id"] for row in ok(deployed.cli("list", "--open"))} == {"NEW", "OLD"}
    assert {row["incident_id"] for row in ok(deployed.cli("list", "--since", "1000d"))} == {"NEW", "DONE"}
    assert "'soon' is not a duration" in refused(deployed.cli("list", "--since", "soon"))


def test_tables_mask_numbers_unless_asked_and_json_keeps_them(deployed: Deployed) -> None:
    ok(create(deployed, "MASK"))
    deployed.start("MASK")
    acknowledge_by_sms(deployed, "MASK")
    [row] = ok(deployed.cli("list"))
    assert row["who"] == f"acknowledged by {FIRST}"  # scripts read --json: numbers in full
    for command in (("list",), ("show", "MASK")):
        table = ok(deployed.cli(*command, json_output=False))
        assert "acknowledged by +44********01" in table and FIRST not in table, table
        revealed = ok(deployed.cli("--show-numbers", *command, json_output=False))
        assert f"acknowledged by {FIRST}" in revealed, revealed


# -- tail ------------------------------------------------------------------------------------------


def test_tail_follows_new_entries_once_each(deployed: Deployed) -> None:
    ok(create(deployed, "INC-11"))
    deployed.start("INC-11", at="2020-01-01T00:00:00.000Z")  # older than --since: not shown
    repository = IncidentRepository(deployed.incidents)

    def later() -> None:
        time.sleep(0.3)
        repository.append("INC-11", timeline_entry(Event.REMINDED, "2030-01-01T00:00:00.000Z", level=0, phone=FIRST, segments=1))

    writer = threading.Thread(target=later)
    writer.start()
    # 4 s of polling: the write at 0.3 s lands inside it even on a busy machine
    result = deployed.cli("tail", "--interval", "0.1", "--iterations", "40")
    writer.join()
    ok(result)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines == [
        {"incident_id": "INC-11", "at": "2030-01-01T00:00:00.000Z", "event": "reminded", "level": 0, "phone": "+44********01",
         "segments": 1},
    ]  # fmt: skip


def test_tail_of_one_incident_shows_recent_entries_as_lines(deployed: Deployed) -> None:
    ok(create(deployed, "INC-12"))
    deployed.start("INC-12", at="2099-01-01T00:00:00.000Z")
    text = ok(deployed.cli("tail", "INC-12", "--iterations", "1", json_output=False))
    assert text.splitlines() == [
        "2099-01-01T00:00:00.000Z  INC-12       created                            contacts=2",
        "2099-01-01T00:00:00.000Z  INC-12       paged         L0  +44********01    segments=1",
    ]
    assert "no incident 'nope'" in refused(deployed.cli("tail", "nope", "--iterations", "1"))


def test_show_prints_an_alerts_details_and_what_was_accepted_after_a_change_as_text(deployed: Deployed) -> None:
    deployed.incidents.put_item(
        Item={
            "incident_id": "4821",
            "incident_stat": "not_acknowledged",
            "double_escalation": "no",
            "description": "[FIRING:1] HighCPU [bold]db-1[/bold]",
            "url": "https://grafana.example.com/d/1",
            "contacts": [FIRST],
            "details": '{"firing": "Labels: - instance = db-1:9100", "num_firing": "1"}',
            "normalised": ["links: kept the first 20 of 21"],
        }
    )
    text = ok(deployed.cli("show", "4821", json_output=False))
    assert "[FIRING:1] HighCPU [bold]db-1[/bold]" in text  # the sender's text is shown as it is, never as markup
    assert "accepted after a change: links: kept the first 20 of 21" in text
    assert 'details: {"firing": "Labels: - instance = db-1:9100", "num_firing": "1"}' in text


def test_an_incident_a_maintenance_window_holds_shows_as_in_maintenance_in_show_and_list(deployed: Deployed) -> None:
    held = {"incident_id": "4822", "incident_stat": "not_acknowledged", "double_escalation": "no", "description": "disk",
            "contacts": [FIRST], "maintenance_window": "9456bdfa12", "maintenance_until": "2099-01-01T02:00:00Z"}  # fmt: skip
    deployed.incidents.put_item(Item=held)
    assert "in maintenance until 2099-01-01T02:00:00Z" in ok(deployed.cli("show", "4822", json_output=False))
    (row,) = [row for row in ok(deployed.cli("list")) if row["incident_id"] == "4822"]
    assert row["status"] == "in maintenance until 2099-01-01T02:00:00Z"
    waiting = {
        **held,
        "maintenance_window": None,
        "execution_arn": "arn:exec",
        "urgency": "low",
        "timeline": [
            {"at": "2099-01-01T00:00:00.000Z", "event": "created"},
            {"at": "2099-01-01T00:00:01.000Z", "event": "held", "level": 0, "until": "2099-01-02T09:00:00Z"},
        ],
    }
    deployed.incidents.put_item(Item=waiting)  # fmt: skip
    assert "held until 2099-01-02T09:00:00Z (low urgency)" in ok(deployed.cli("show", "4822", json_output=False))
    deployed.incidents.put_item(Item={**held, "incident_stat": "resolved"})  # closed during the window: just resolved
    (row,) = [row for row in ok(deployed.cli("list")) if row["incident_id"] == "4822"]
    assert row["status"] == "resolved"
