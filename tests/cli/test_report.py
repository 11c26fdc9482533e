"""`incidents report`: statistics from timelines, checked against numbers worked out by hand (tests/data)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from incidents_cli.report import build_report, cost_text, duration_text, report_csv
from tests.cli.conftest import Deployed

SINCE = datetime(2026, 2, 20, tzinfo=UTC)
UNTIL = datetime(2026, 3, 10, tzinfo=UTC)
A, B, C = "+447700900001", "+447700900002", "+447700900003"


@pytest.fixture
def items(fixtures_dir: Path) -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads((fixtures_dir / "report_incidents.json").read_text())
    return loaded


def row(
    incidents: int,
    acked: int,
    unacked: int,
    median: float | None,
    p90: float | None,
    escalations: int,
    segments: int,
    cost: Decimal = Decimal(0),
) -> dict[str, Any]:
    return {
        "incidents": incidents, "acknowledged": acked, "unacknowledged": unacked, "median_seconds_to_ack": median,
        "p90_seconds_to_ack": p90, "escalations": escalations, "sms_segments": segments, "cost": cost,
    }  # fmt: skip


def without_names(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {entry["key"]: {k: v for k, v in entry.items() if k not in ("key", "name")} for entry in rows}


def test_per_policy_or_chain(items: list[dict[str, Any]]) -> None:
    report = build_report(items, since=SINCE, until=UNTIL)
    assert without_names(report.groups) == {
        # I1 (362 s to ack, one escalation), I2 (61 s), I3 (exhausted, one escalation); 2 + 2 + 2 segments.
        f"chain:{A},{B}": row(3, 2, 1, 211.5, 362.0, 2, 6),
        # I4 (421 s, from the CLI, page and reminder), I5 (31 s).
        "policy:payments": row(2, 2, 0, 226.0, 421.0, 0, 3),
    }
    assert [entry["name"] for entry in report.groups] == ["chain +44********01 -> +44********02", "policy payments"]


def test_per_person(items: list[dict[str, Any]]) -> None:
    report = build_report(items, since=SINCE, until=UNTIL, names={A: "Alice Adeyemi"})
    assert without_names(report.people) == {
        # Paged in I1 (escalated away), I2 (took it 60 s after the page, 2 segments), I3 (declined, nobody took it).
        A: row(3, 1, 1, 60.0, 60.0, 2, 4),
        # Paged in I1 (took it 60 s after their page) and I3 (silent, nobody took it).
        B: row(2, 1, 1, 60.0, 60.0, 0, 2),
        # Paged and reminded in I4 (taken by someone else), took I5 30 s after the page.
        C: row(2, 1, 0, 30.0, 30.0, 0, 3),
        # Never paged: 421 s from the start of I4.
        "cli:dana": row(1, 1, 0, 421.0, 421.0, 0, 0),
    }
    assert {entry["key"]: entry["name"] for entry in report.people}[A] == "Alice Adeyemi"


def test_span_is_by_the_start_of_the_escalation(items: list[dict[str, Any]]) -> None:
    only_first_two = build_report(items, since=SINCE, until=datetime(2026, 3, 2, 0, 0, 1, tzinfo=UTC))
    assert [entry["incidents"] for entry in only_first_two.groups] == [2]
    assert build_report(items, since=UNTIL, until=datetime(2027, 1, 1, tzinfo=UTC)).groups == []


def test_ninetieth_percentile_is_nearest_rank() -> None:
    timeline = [{"at": "2026-03-01T00:00:00Z", "event": "created"}]
    items = [
        {"incident_id": str(n), "escalation_chain": [A], "acknowledged_by": A, "acknowledged_at": f"2026-03-01T00:00:{n:02d}Z",
         "timeline": timeline}
        for n in range(1, 11)
    ]  # fmt: skip
    (group,) = build_report(items, since=SINCE, until=UNTIL).groups
    assert group["median_seconds_to_ack"] == 5.5 and group["p90_seconds_to_ack"] == 9.0


def test_csv_has_one_row_per_group_and_person(items: list[dict[str, Any]]) -> None:
    rows = list(csv.DictReader(io.StringIO(report_csv(build_report(items, since=SINCE, until=UNTIL)))))
    assert [(entry["kind"], entry["key"]) for entry in rows] == [
        ("group", f"chain:{A},{B}"), ("group", "policy:payments"),
        ("person", A), ("person", B), ("person", C), ("person", "cli:dana"),
    ]  # fmt: skip
    assert rows[0]["median_seconds_to_ack"] == "211.5" and rows[1]["sms_segments"] == "3"


def costed(incident_id: str, cost: str | None, *, integration: str | None = None, policy: str | None = None) -> dict[str, Any]:
    """An incident started inside the span, never acknowledged, with what its texts cost (the receipts' `cost`)."""
    item: dict[str, Any] = {
        "incident_id": incident_id, "escalation_chain": [A], "timeline": [{"at": "2026-03-01T00:00:00Z", "event": "created"}],
    }  # fmt: skip
    extra = {"cost": Decimal(cost) if cost is not None else None, "integration": integration, "policy": policy}
    return {**item, **{key: value for key, value in extra.items() if value is not None}}


def test_cost_is_summed_per_policy_or_chain_and_per_integration() -> None:
    items = [
        costed("C1", "0.00581", integration="grafana", policy="payments"),
        costed("C2", "0.01162", integration="grafana", policy="payments"),
        costed("C3", "0.0025", integration="alertmanager"),
        costed("C4", None, integration="alertmanager"),  # no final receipt yet
        costed("C5", "0.10"),  # written directly: no integration
    ]
    report = build_report(items, since=SINCE, until=UNTIL)
    assert {entry["key"]: entry["cost"] for entry in report.groups} == {
        f"chain:{A}": Decimal("0.1025"),
        "policy:payments": Decimal("0.01743"),
    }
    assert {entry["key"]: (entry["name"], entry["incidents"], entry["cost"]) for entry in report.integrations} == {
        "integration:alertmanager": ("integration alertmanager", 2, Decimal("0.0025")),
        "integration:grafana": ("integration grafana", 2, Decimal("0.01743")),
    }
    rows = list(csv.DictReader(io.StringIO(report_csv(report))))
    assert [(entry["kind"], entry["key"], entry["cost"]) for entry in rows if entry["kind"] == "integration"] == [
        ("integration", "integration:alertmanager", "0.0025"), ("integration", "integration:grafana", "0.01743"),
    ]  # fmt: skip
    assert [cost_text(entry["cost"]) for entry in report.groups] == ["0.1025", "0.0174"]


def test_duration_text() -> None:
    assert [duration_text(value) for value in (None, 0, 59.6, 95, 3725)] == ["-", "0s", "1m", "1m 35s", "1h 2m 5s"]


def test_report_command_reads_the_table_and_names_people_from_the_oncall_definitions(
    deployed: Deployed, items: list[dict[str, Any]]
) -> None:
    for item in items:
        deployed.incidents.put_item(Item=item)
    result = deployed.cli("report", "--since", "3650d")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    people = {entry["key"]: entry for entry in out["people"]}
    assert people[A]["name"] == "Alice Adeyemi"  # oncall.yaml's alice
    assert people[A]["incidents"] == 4  # the January incident too: it is within 3650 days
    assert out["integrations"] == [] and [entry["cost"] for entry in out["groups"]] == [0, 0]  # the fixtures have none
    text = deployed.cli("report", "--since", "3650d", json_output=False).stdout
    assert "Per escalation policy or contact chain" in text and "policy payments" in text and "3m 46s" in text
    assert "cost (USD)" in text and "0.0000" in text and "Per integration" not in text
    lines = deployed.cli("report", "--since", "3650d", "--csv", json_output=False).stdout.splitlines()
    assert lines[0].startswith("kind,key,name,incidents,acknowledged,unacknowledged")
    both = deployed.cli("report", "--csv")
    assert both.exit_code == 1 and "choose one of --csv and --json" in both.stderr
