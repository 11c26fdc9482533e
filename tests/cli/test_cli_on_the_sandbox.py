"""The CLI alone against `make sandbox` over HTTP: open an incident, see it paged, acknowledge and resolve it (through the
deployed operator function, run locally), report on it, create an integration."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from incidents_cli.main import app
from sandbox import server
from tests.conftest import REGION, REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("sandbox-server")]
READY = "Emulated AWS account ready"
SETTINGS = ("--set", "ackTimeoutSeconds=60")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _serve(monkeypatch: pytest.MonkeyPatch, *settings: str) -> Iterator[str]:
    """`python -m sandbox serve` on a free port with these settings, as `make sandbox` runs it; its endpoint URL."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "serve", "--port", str(port), *settings],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 300  # a first synth of a fresh clone takes a while
        for line in process.stdout:
            if READY in line:
                break
            assert time.monotonic() < deadline, "the sandbox did not come up"
        else:
            pytest.fail(f"the sandbox exited with {process.wait()}")
        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "COLUMNS": "200"}.items():
            monkeypatch.setenv(name, value)  # the sandbox accepts any credentials
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The sandbox as `make sandbox` runs it."""
    yield from _serve(monkeypatch, *SETTINGS)


@pytest.fixture
def calling_sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The sandbox with calls on: the operator function may place a test call."""
    yield from _serve(monkeypatch, *SETTINGS, "--set", "voiceAfterSeconds=45")


RECEIPTS = ("delivered", "undelivered")  # delivery receipts land on the timeline whenever they come


def test_open_watch_acknowledge_and_report_with_the_cli_alone(sandbox: str) -> None:
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(app, ["--endpoint-url", sandbox, "--region", REGION, "--json", *args])
        assert result.exit_code == 0, f"{args}: {result.output}{result.stderr}"
        return result.stdout

    def cli(*args: str) -> Any:
        return json.loads(run(*args))

    cli("create", "--id", "CLI-1", "--description", "Disk full", "--contact", "+447700900001", "--contact", "+447700900002")
    deadline = time.monotonic() + 120  # a hang guard only
    while "paged" not in [entry["event"] for entry in cli("show", "CLI-1").get("timeline", [])]:
        assert time.monotonic() < deadline, "the first contact was never paged"
        time.sleep(0.2)
    followed = [json.loads(line) for line in run("tail", "CLI-1", "--iterations", "1").splitlines()]
    # The page's delivery receipt (the sandbox's gateway sends one 0.2 s after each text) may already be there.
    assert [entry["event"] for entry in followed if entry["event"] not in RECEIPTS] == ["created", "paged"]
    acked = cli("ack", "CLI-1", "--as", "tester")
    assert acked["outcome"] == "acknowledged" and acked["escalation_stopped"] is True
    item = cli("show", "CLI-1")
    assert item["incident_stat"] == "acknowledged" and item["acknowledged_by"] == "cli:tester"
    assert [row["incident_id"] for row in cli("list", "--open")] == []
    report = cli("report", "--since", "1d")
    (group,) = report["groups"]
    assert group["incidents"] == 1 and group["acknowledged"] == 1 and group["sms_segments"] == 1
    resolved = cli("resolve", "CLI-1", "--as", "tester")
    assert resolved["outcome"] == "resolved" and resolved["status_before"] == "acknowledged"
    item = cli("show", "CLI-1")
    assert item["incident_stat"] == "resolved" and item["resolved_by"] == "cli:tester"
    assert [entry["event"] for entry in item["timeline"] if entry["event"] not in RECEIPTS][-2:] == ["acknowledged", "resolved"]
    assert "delivered" in [entry["event"] for entry in item["timeline"]]  # the page's receipt
    created = cli("integrations", "create", "alertmanager", "--contact", "+447700900001")
    assert created["events_url"].endswith("/v2/enqueue") and len(created["routing_key"]) == 32
    assert created["base_url"] + "/v2/enqueue" == created["events_url"]  # what client libraries append
    # The URL it prints is the one that works: an alert posted there is taken.
    firing = json.loads((REPO_ROOT / "tests" / "data" / "alertmanager_firing.json").read_text())
    request = urllib.request.Request(
        created["events_url"],
        data=json.dumps(firing | {"routing_key": created["routing_key"]}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert (response.status, json.loads(response.read())["status"]) == (202, "success")
    assert [row["name"] for row in cli("integrations", "list")] == ["alertmanager"]
    # A maintenance window through the deployed operator function (its edges scheduled in the sandbox's Scheduler).
    window = cli("maintenance", "start", "--integration", "alertmanager", "--for", "1h", "--reason", "deploy", "--as", "tester")
    assert (window["state"], window["integration"], window["reason"]) == ("active", "alertmanager", "deploy")
    assert [listed["id"] for listed in cli("maintenance", "list")["windows"]] == [window["id"]]
    ended = cli("maintenance", "end", window["id"], "--as", "tester")
    assert (ended["state"], ended["released"]) == ("ended", 0)


def _answer_test_pages(endpoint: str, number: str, stop: threading.Event) -> threading.Thread:
    """A phone that answers `TEST <code>` once its test page is on record (the sandbox's messages table)."""
    client, _ = server.dynamodb_clients(endpoint)
    table = server.table_named(client, "Messages")

    def answer() -> None:
        while not stop.wait(0.3):
            found = client.scan(
                TableName=table, FilterExpression="begins_with(message_id, :test) AND #number = :number",
                ExpressionAttributeNames={"#number": "number"},
                ExpressionAttributeValues={":test": {"S": "test#"}, ":number": {"S": number}},
            )["Items"]  # fmt: skip
            if found and "message_id_sent" in found[0]:
                server.reply(endpoint, number, f"TEST {found[0]['message_id']['S'].removeprefix('test#')}")
                return

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return thread


def test_a_test_page_and_a_test_call_go_round_the_sandbox_and_no_reply_fails(calling_sandbox: str) -> None:
    sandbox = calling_sandbox
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(app, ["--endpoint-url", sandbox, "--region", REGION, "--json", *args])

    stop = threading.Event()
    try:
        answering = _answer_test_pages(sandbox, "+447700900003", stop)
        result = invoke("test-page", "+447700900003", "--voice", "--timeout", "120", "--as", "tester")
        answering.join(5)
    finally:
        stop.set()
    assert result.exit_code == 0, result.output
    passed = json.loads(result.stdout)
    words = passed["summary"].split(", ")
    assert [word.split(" in ")[0] for word in words] == ["delivered", "call answered", "reply received"], passed["summary"]
    assert passed["call_event"] in ("VOICE_ANSWERED", "VOICE_COMPLETED")
    silent = invoke("test-page", "+447700900004", "--timeout", "3", "--as", "tester")  # nobody answers
    assert silent.exit_code == 1
    failed = json.loads(silent.stdout)
    assert failed["passed"] is False and "no reply within 3 s" in failed["summary"]
    assert failed["summary"].startswith("delivered in")  # the text arrived: the fault is on the way back
