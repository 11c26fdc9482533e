"""`incidents heartbeats create / list / pause / resume / delete` on moto: the integrations table, the schedule group."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from escalation.alerts import heartbeat_monitors, heartbeat_schedules, heartbeats
from escalation.alerts.integrations import create_integration
from escalation.platform.wiring import dependencies
from tests.cli.conftest import FIRST, HEARTBEAT_SCHEDULE_GROUP, HEARTBEATS_URL, REGION, Deployed
from tests.cli.test_incident_commands import ok, refused

TOKEN_URL = re.compile(rf"{re.escape(HEARTBEATS_URL)}/([0-9a-f]{{32}})\b")


@pytest.fixture
def scheduler(deployed: Deployed) -> Iterator[Any]:
    """The stack's schedule group, and an integration to page."""
    client = boto3.client("scheduler", region_name=REGION)
    client.create_schedule_group(Name=HEARTBEAT_SCHEDULE_GROUP)
    create_integration(deployed.integrations, "batch-jobs", contacts=[FIRST])
    yield client


def _beat(deployed: Deployed, scheduler: Any, token: str) -> heartbeats.Beat:
    """A beat as the endpoint's function takes it (it creates the deadline's schedule)."""
    schedules = heartbeat_schedules.Schedules(
        scheduler,
        HEARTBEAT_SCHEDULE_GROUP,
        "arn:aws:lambda:eu-west-2:123456789012:function:c",
        "arn:aws:iam::123456789012:role/s",
    )
    return heartbeats.beat(dependencies(), deployed.integrations, schedules, token)


def _pending(scheduler: Any) -> list[str]:
    return [schedule["Name"] for schedule in scheduler.list_schedules(GroupName=HEARTBEAT_SCHEDULE_GROUP)["Schedules"]]


def test_create_prints_the_url_once_with_the_curl_that_beats(deployed: Deployed, scheduler: Any) -> None:
    text = ok(deployed.cli("heartbeats", "create", "nightly-backup", "--integration", "batch-jobs", "--interval", "5m",
                           json_output=False))  # fmt: skip

    (token,) = set(TOKEN_URL.findall(text))  # the URL, and the curl that beats it
    assert "shown this once" in text and f"curl -fsS -X POST {HEARTBEATS_URL}/{token}" in text
    assert "5m + 1m late" in text and "armed by its first beat" in text
    stored = json.dumps(deployed.integrations.scan()["Items"], default=str)
    assert token not in stored and heartbeat_monitors.token_hash(token) in stored  # only the hash is kept
    assert _beat(deployed, scheduler, token).outcome == "armed"


def test_create_with_json_and_a_grace(deployed: Deployed, scheduler: Any) -> None:
    out = ok(deployed.cli("heartbeats", "create", "etl", "--integration", "batch-jobs", "--interval", "1h", "--grace", "10m"))

    assert TOKEN_URL.fullmatch(out["url"])
    assert (out["name"], out["integration"], out["interval_seconds"], out["grace_seconds"], out["state"]) == (
        "etl", "batch-jobs", 3600, 600, "waiting",
    )  # fmt: skip
    assert "token" not in out and "token_hash" not in out


def test_create_refuses_what_cannot_work(deployed: Deployed, scheduler: Any) -> None:
    def create(*args: str) -> str:
        return refused(deployed.cli("heartbeats", "create", "x", *args))

    assert "interval: must be from 1 minute" in create("--integration", "batch-jobs", "--interval", "0m")
    assert "--interval: '30s' is not a duration" in create("--integration", "batch-jobs", "--interval", "30s")
    assert "integration: no integration 'nope'" in create("--integration", "nope", "--interval", "5m")
    assert heartbeat_monitors.list_monitors(deployed.integrations) == []


def test_list_shows_state_last_beat_and_deadline(deployed: Deployed, scheduler: Any) -> None:
    assert ok(deployed.cli("heartbeats", "list")) == []
    token = TOKEN_URL.findall(ok(deployed.cli("heartbeats", "create", "db", "--integration", "batch-jobs", "--interval", "5m",
                                              json_output=False)))[0]  # fmt: skip
    ok(deployed.cli("heartbeats", "create", "etl", "--integration", "batch-jobs", "--interval", "1h"))
    beat = _beat(deployed, scheduler, token)

    db, etl = ok(deployed.cli("heartbeats", "list"))

    assert (db["name"], db["state"], db["deadline"]) == ("db", "up", heartbeat_schedules.iso(beat.deadline or 0))
    assert db["last_beat_at"] is not None
    assert (etl["name"], etl["state"], etl["last_beat_at"], etl["deadline"]) == ("etl", "waiting", None, None)
    text = ok(deployed.cli("heartbeats", "list", json_output=False))
    assert "waiting for its first beat" in text and "1h" in text and "never" in text


def test_pause_deletes_the_pending_deadline_and_resume_waits_for_a_beat(deployed: Deployed, scheduler: Any) -> None:
    out = ok(deployed.cli("heartbeats", "create", "db", "--integration", "batch-jobs", "--interval", "5m"))
    token = TOKEN_URL.fullmatch(out["url"]).group(1)  # type: ignore[union-attr]
    _beat(deployed, scheduler, token)
    assert len(_pending(scheduler)) == 1

    assert ok(deployed.cli("heartbeats", "pause", "db")) == {"name": "db", "state": "paused", "was": "up"}
    assert _pending(scheduler) == []
    assert "resumed: its next beat arms it" in ok(deployed.cli("heartbeats", "resume", "db", json_output=False))
    assert ok(deployed.cli("heartbeats", "list"))[0]["state"] == "waiting"
    assert "refused, nothing changed: name: 'db' is not paused (it is waiting)" in refused(
        deployed.cli("heartbeats", "resume", "db")
    )
    assert "no heartbeat monitor 'nope'" in refused(deployed.cli("heartbeats", "pause", "nope"))


def test_delete_removes_the_monitor_its_schedule_and_its_url(deployed: Deployed, scheduler: Any) -> None:
    out = ok(deployed.cli("heartbeats", "create", "db", "--integration", "batch-jobs", "--interval", "5m"))
    token = TOKEN_URL.fullmatch(out["url"]).group(1)  # type: ignore[union-attr]
    _beat(deployed, scheduler, token)

    text = ok(deployed.cli("heartbeats", "delete", "db", json_output=False))

    assert "deleted; its URL answers 410 Gone" in text
    assert _pending(scheduler) == [] and ok(deployed.cli("heartbeats", "list")) == []
    with pytest.raises(heartbeat_monitors.DeletedMonitor):
        _beat(deployed, scheduler, token)
    assert "no heartbeat monitor 'db'" in refused(deployed.cli("heartbeats", "delete", "db"))
