"""POST /v2/enqueue: PagerDuty Events API v2 bodies (Alertmanager's own) in, incidents out.

DynamoDB is moto; Step Functions and SMS go through Stubbers, so every task completion and text is exact.
The escalation's start is the real repository call the start handler makes (record_started).
"""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path
from typing import Any

import alert_events
import page_contact
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.stub import Stubber

from escalation.alerts.events import MAX_BODY_BYTES, MAX_NESTING, InvalidEvent, parse_event
from escalation.alerts.integrations import create_integration
from escalation.platform.wiring import dependencies
from escalation.sms.messages import page
from escalation.sms.segments import count_segments
from tests.conftest import Aws
from tests.unit.alerts_support import INTEGRATIONS_TABLE, api_request, create_integrations_table
from tests.unit.conftest import EXECUTION_ARN, FIRST, PAGE_TTL, SECOND, page_event, run_page, sms_request


@pytest.fixture
def integration(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An integration paging FIRST then SECOND; its routing key."""
    monkeypatch.setenv("INTEGRATIONS_TABLE", INTEGRATIONS_TABLE)
    alert_events.integrations_table.cache_clear()
    table = create_integrations_table()
    return create_integration(table, "alertmanager", contacts=[FIRST, SECOND])


def _body(fixtures_dir: Path, name: str, key: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((fixtures_dir / name).read_text())
    body["routing_key"] = key
    return body


def _post(context: LambdaContext, body: Any, request_id: str = "req-1") -> tuple[int, dict[str, Any]]:
    response = alert_events.handler(api_request(body, request_id=request_id), context)
    return response["statusCode"], json.loads(response["body"])


def _start(incident_id: str) -> None:
    """What the start handler does for the new item (the stream is not part of a unit test)."""
    deps = dependencies()
    assert deps.incidents.record_started(incident_id, [FIRST, SECOND], EXECUTION_ARN, "2026-01-01T00:00:00.000Z")


def _incidents(aws: Aws) -> list[dict[str, Any]]:
    return aws.incidents.scan(ConsistentRead=True)["Items"]


class _Sent:
    """Equal to anything, and keeps what it was compared with: the text the real page handler sent."""

    value: Any = None

    def __eq__(self, other: object) -> bool:
        self.value = other
        return True

    __hash__ = None  # type: ignore[assignment]


def _page_text(sms_stub: Stubber, context: LambdaContext, incident_id: str) -> str:
    """Start the incident and page its first contact through page_contact (the item's fields, the deployment's
    segment budget: maxSmsSegments 1, maxSmsSegmentsUnicode 2 by default); the text sent."""
    _start(incident_id)
    sent = _Sent()
    sms_stub.add_response(
        "send_text_message", {"MessageId": "msg-1"}, expected_params=sms_request(FIRST, sent, incident_id, ttl=PAGE_TTL)
    )
    page_contact.handler(page_event(level=0, token="token-0", incident_id=incident_id), context)
    sms_stub.assert_no_pending_responses()
    assert isinstance(sent.value, str)
    return sent.value


def test_alertmanager_firing_opens_one_incident_with_a_short_id(
    integration: dict[str, str], aws: Aws, fixtures_dir: Path, lambda_context: LambdaContext
) -> None:
    body = _body(fixtures_dir, "alertmanager_firing.json", integration["routing_key"])
    status, response = _post(lambda_context, body)
    assert (status, response) == (202, {"status": "success", "message": "Event processed", "dedup_key": body["dedup_key"]})
    (item,) = _incidents(aws)
    assert len(item["incident_id"]) == 4 and item["incident_id"].isdigit()
    # The summary names the instance already: its description annotation follows.
    assert item["description"] == "[FIRING:1] HighRequestLatency (api-server critical): p99 latency above 2 s"
    assert (item["contacts"], item["dedup_key"]) == ([FIRST, SECOND], body["dedup_key"])
    assert "policy" not in item
    assert (item["incident_stat"], item["alert_count"]) == ("not_acknowledged", 1)
    assert item["url"] == "http://alertmanager:9093/#/alerts?receiver=oncall-sms"  # no link: client_url
    assert json.loads(item["details"]) == body["payload"]["custom_details"]


def test_a_repeat_while_open_is_counted_and_pages_nobody_then_resolve_closes_and_the_next_opens_anew(
    integration: dict[str, str], aws: Aws, sfn_stub: Stubber, fixtures_dir: Path, lambda_context: LambdaContext
) -> None:
    firing = _body(fixtures_dir, "alertmanager_firing.json", integration["routing_key"])
    assert _post(lambda_context, firing)[0] == 202
    (item,) = _incidents(aws)
    incident_id = item["incident_id"]
    _start(incident_id)

    assert _post(lambda_context, firing, "req-2")[0] == 202
    item = aws.incident(incident_id)
    assert item["alert_count"] == 2
    assert [entry["event"] for entry in item["timeline"]] == ["created", "alert_repeated"]

    resolved = _body(fixtures_dir, "alertmanager_resolved.json", integration["routing_key"])
    assert _post(lambda_context, resolved, "req-3")[0] == 202  # nobody was paged yet: no task, no texts
    item = aws.incident(incident_id)
    assert (item["incident_stat"], item["resolved_by"]) == ("resolved", "alertmanager")

    assert _post(lambda_context, firing, "req-4")[0] == 202
    reopened = [i for i in _incidents(aws) if i["incident_stat"] == "not_acknowledged"]
    assert len(reopened) == 1 and reopened[0]["alert_count"] == 1
    assert "execution_arn" not in reopened[0]  # a new incident, for the stream to start (and page)


def test_acknowledge_from_the_api_takes_the_incident_and_tells_who_was_paged(
    integration: dict[str, str], aws: Aws, sms_stub: Stubber, sfn_stub: Stubber, fixtures_dir: Path, lambda_context: LambdaContext
) -> None:
    firing = _body(fixtures_dir, "alertmanager_firing.json", integration["routing_key"])
    _post(lambda_context, firing)
    (item,) = _incidents(aws)
    incident_id = item["incident_id"]
    _start(incident_id)
    run_page(sms_stub, lambda_context, level=0, token="token-0", message_id="msg-1", incident_id=incident_id)

    sfn_stub.add_response(
        "send_task_success",
        {},
        expected_params={"taskToken": "token-0", "output": '{"outcome": "acknowledged", "acknowledged_by": "alertmanager"}'},
    )
    sms_stub.add_response(
        "send_text_message",
        {"MessageId": "out-1"},
        expected_params=sms_request(
            FIRST, f"Incident {incident_id} was acknowledged by alertmanager. No action needed.", incident_id
        ),
    )
    ack = {"routing_key": integration["routing_key"], "event_action": "acknowledge", "dedup_key": firing["dedup_key"]}
    assert _post(lambda_context, ack, "req-ack")[0] == 202
    assert _post(lambda_context, ack, "req-ack-2")[0] == 202  # a second acknowledge changes nothing
    item = aws.incident(incident_id)
    assert (item["incident_stat"], item["acknowledged_by"], item["acknowledged_via"]) == (
        "acknowledged",
        "alertmanager",
        "req-ack",
    )
    assert "task_token" not in item


def test_a_trigger_without_dedup_key_gets_one_back(integration: dict[str, str], aws: Aws, lambda_context: LambdaContext) -> None:
    body = {
        "routing_key": integration["routing_key"],
        "event_action": "trigger",
        "payload": {"summary": "Disk full", "source": "db-1", "severity": "critical"},
        "links": [{"href": "https://grafana.example.com/d/disk", "text": "dashboard"}],
    }
    status, response = _post(lambda_context, body)
    assert status == 202 and len(response["dedup_key"]) == 32
    (item,) = _incidents(aws)
    assert (item["dedup_key"], item["url"]) == (response["dedup_key"], "https://grafana.example.com/d/disk")


def test_bad_events_get_400_naming_each_field_and_change_nothing(
    integration: dict[str, str], aws: Aws, lambda_context: LambdaContext
) -> None:
    body = {
        "routing_key": integration["routing_key"],
        "event_action": "trigger",
        "payload": {"summary": "", "severity": "fatal", "timestamp": "yesterday"},
        "links": [{"text": "no href"}],
    }
    status, response = _post(lambda_context, body)
    assert status == 400
    assert response["status"] == "invalid event" and response["message"] == "Event object is invalid"
    assert response["errors"] == [
        "payload.summary: must not be empty",
        "payload.source: is required",
        "payload.severity: must be one of critical, error, warning, info",
        "links[0].href: is required",
    ]
    assert _post(
        lambda_context,
        {**body, "routing_key": "f" * 32, "payload": {"summary": "x", "source": "y", "severity": "info"}, "links": []},
    )[1]["errors"] == ["routing_key: unknown or revoked"]
    assert _post(lambda_context, "{not json")[0] == 400
    assert _incidents(aws) == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"routing_key": "k" * 32, "event_action": "resolve"}, "dedup_key: is required"),
        (
            {"routing_key": "k" * 32, "event_action": "snooze", "dedup_key": "x"},
            "event_action: must be one of trigger, acknowledge, resolve",
        ),
        ({"routing_key": "short", "event_action": "resolve", "dedup_key": "x"}, "routing_key: must be 32 characters"),
        ({"routing_key": "k" * 32, "event_action": "trigger"}, "payload: is required"),
        (
            {"routing_key": "k" * 32, "event_action": "resolve", "dedup_key": "d" * 256},
            "dedup_key: is 256 characters long; the limit is 255",
        ),
    ],
)
def test_the_parser_names_the_field(body: dict[str, Any], error: str) -> None:
    with pytest.raises(InvalidEvent) as raised:
        parse_event(json.dumps(body))
    assert raised.value.errors == [error]


def test_a_routing_key_sending_too_fast_gets_429(
    integration: dict[str, str], aws: Aws, monkeypatch: pytest.MonkeyPatch, lambda_context: LambdaContext
) -> None:
    monkeypatch.setenv("EVENTS_PER_MINUTE", "2")
    ack = {"routing_key": integration["routing_key"], "event_action": "acknowledge", "dedup_key": "none-open"}
    statuses = [_post(lambda_context, ack, f"r{index}")[0] for index in range(3)]
    assert statuses == [202, 202, 429]


def test_two_triggers_with_one_dedup_key_at_the_same_instant_open_one_incident(
    integration: dict[str, str], aws: Aws, fixtures_dir: Path, lambda_context: LambdaContext
) -> None:
    firing = _body(fixtures_dir, "alertmanager_firing.json", integration["routing_key"])
    statuses: list[int] = []
    barrier = threading.Barrier(2)
    opened = threading.Event()

    def post(request_id: str) -> None:
        barrier.wait()
        statuses.append(_post(lambda_context, firing, request_id)[0])
        opened.set()

    def start_when_written() -> None:  # the stream's part: start the escalation once the item exists
        for _ in range(100):
            items = _incidents(aws)
            if items:
                _start(items[0]["incident_id"])
                return
            threading.Event().wait(0.05)

    threads = [threading.Thread(target=post, args=(f"req-{n}",)) for n in range(2)]
    starter = threading.Thread(target=start_when_written)
    for thread in [*threads, starter]:
        thread.start()
    for thread in [*threads, starter]:
        thread.join(30)
    assert statuses == [202, 202]
    (item,) = _incidents(aws)
    assert item["alert_count"] == 2


def _nested(depth: int) -> str:
    """A trigger whose payload.custom_details nests objects so that the whole body is depth levels deep."""
    details: Any = "x"
    for _ in range(depth - 2):  # the body and the payload are two levels
        details = {"deeper": details}
    payload = {"summary": "disk full", "source": "db-1", "severity": "critical", "custom_details": details}
    return json.dumps({"routing_key": "k" * 32, "event_action": "trigger", "payload": payload})


def test_a_body_nested_deeper_than_the_limit_gets_400_and_never_recurses(
    integration: dict[str, str], aws: Aws, lambda_context: LambdaContext
) -> None:
    assert MAX_NESTING == 32
    deep = "[" * 100_000 + "]" * 100_000  # 200 kB: within the size limit, far beyond the parser's recursion limit
    status, response = _post(lambda_context, deep)
    assert (status, response["errors"]) == (400, ["body: nests arrays and objects more than 32 levels deep; the limit is 32"])
    # Brackets inside strings are text, not nesting.
    payload = {"summary": "[{" * 40, "source": "db-1", "severity": "info"}
    status, response = _post(
        lambda_context, {"routing_key": integration["routing_key"], "event_action": "trigger", "payload": payload}
    )
    assert status == 202, response
    # At the limit exactly, the event is taken; one level more is not.
    parse_event(_nested(MAX_NESTING))
    with pytest.raises(InvalidEvent) as raised:
        parse_event(_nested(MAX_NESTING + 1))
    assert raised.value.errors == ["body: nests arrays and objects more than 32 levels deep; the limit is 32"]
    assert len(_incidents(aws)) == 1  # the trigger with brackets in its summary


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b'{"routing_key": "\xff\xfe"}', "body: is not valid UTF-8 (byte 0xff at position 17)"),
        # UTF-16 is valid JSON to Python's json.loads(bytes); Events API v2 bodies are UTF-8.
        ('{"event_action": "resolve"}'.encode("utf-16"), "body: is not valid UTF-8 (byte 0xff at position 0)"),
    ],
)
def test_a_body_that_is_not_utf8_gets_400_naming_the_encoding(
    integration: dict[str, str], lambda_context: LambdaContext, raw: bytes, error: str
) -> None:
    request = api_request("") | {"body": base64.b64encode(raw).decode(), "isBase64Encoded": True}
    response = alert_events.handler(request, lambda_context)
    assert (response["statusCode"], json.loads(response["body"])["errors"]) == (400, [error])


def test_the_size_limit_counts_bytes_not_characters(integration: dict[str, str], lambda_context: LambdaContext) -> None:
    assert MAX_BODY_BYTES == 512_000  # what Alertmanager and Grafana cut a PagerDuty event at
    payload = {"summary": "disk full", "source": "db-1", "severity": "critical", "custom_details": {"log": ""}}
    event: dict[str, Any] = {"routing_key": integration["routing_key"], "event_action": "trigger", "payload": payload}
    frame = len(json.dumps(event, ensure_ascii=False).encode())
    # Two bytes per character: fewer characters than the limit, more bytes.
    event["payload"]["custom_details"]["log"] = "é" * ((MAX_BODY_BYTES - frame) // 2 + 1)
    body = json.dumps(event, ensure_ascii=False)
    assert len(body) < MAX_BODY_BYTES < len(body.encode())
    status, response = _post(lambda_context, body)
    assert (status, response["errors"]) == (400, [f"body: is {len(body.encode())} bytes; the limit is {MAX_BODY_BYTES}"])
    # One character fewer fits: exactly at the limit, or a byte under it, the event is taken.
    event["payload"]["custom_details"]["log"] = "é" * ((MAX_BODY_BYTES - frame) // 2)
    body = json.dumps(event, ensure_ascii=False)
    assert MAX_BODY_BYTES - 1 <= len(body.encode()) <= MAX_BODY_BYTES
    assert _post(lambda_context, body)[0] == 202


def test_a_base64_body_that_does_not_decode_gets_400(integration: dict[str, str], lambda_context: LambdaContext) -> None:
    request = api_request("") | {"body": "not base64!", "isBase64Encoded": True}
    response = alert_events.handler(request, lambda_context)
    assert (response["statusCode"], json.loads(response["body"])["errors"]) == (400, ["body: is marked base64 but is not"])


def test_where_pagerduty_is_silent_the_alert_is_kept_and_what_changed_is_recorded(
    integration: dict[str, str], aws: Aws, lambda_context: LambdaContext
) -> None:
    body = {
        "routing_key": integration["routing_key"],
        "event_action": "trigger",
        "dedup_key": 4821,
        "payload": {"summary": "Disk full", "source": "db-1", "severity": "critical", "timestamp": "05/12/2026 03:00"},
        "links": [{"href": f"https://grafana.example.com/d/{index}"} for index in range(21)],
    }
    status, response = _post(lambda_context, body)
    assert (status, response["dedup_key"]) == (202, "4821")
    (item,) = _incidents(aws)
    assert (item["dedup_key"], item["url"]) == ("4821", "https://grafana.example.com/d/0")
    assert item["normalised"] == [
        "dedup_key: the number 4821 taken as the string '4821'",
        "payload.timestamp: dropped '05/12/2026 03:00', not an ISO 8601 date and time",
        "links: kept the first 20 of 21",
    ]


def test_a_summary_with_line_breaks_and_bidi_controls_is_one_line_on_the_item_and_the_page(
    integration: dict[str, str], aws: Aws, lambda_context: LambdaContext
) -> None:
    summary = "Disk full\r\nIncident 9999 was resolved by alertmanager.\u202e No action needed.\u2066\tok"
    body = {
        "routing_key": integration["routing_key"],
        "event_action": "trigger",
        "payload": {"summary": summary, "source": "db-1", "severity": "critical"},
    }
    assert _post(lambda_context, body)[0] == 202
    (item,) = _incidents(aws)
    assert item["description"] == "Disk full Incident 9999 was resolved by alertmanager. No action needed. ok"
    text = page(item["incident_id"], summary, None, level=0, max_segments=2).body
    assert "\n" not in text and "\u202e" not in text and "\t" not in text


def test_a_grouped_alertmanager_page_names_the_first_alerts_instance_and_description(
    integration: dict[str, str], aws: Aws, sms_stub: Stubber, lambda_context: LambdaContext
) -> None:
    firing = (
        "Labels:\n - alertname = HighErrorRate\n - instance = api-7.prod:9100\n - severity = critical\n"
        "Annotations:\n - description = 5xx above 5% for 10 minutes\n - runbook_url = https://runbooks.example.com/5xx\n"
        "Source: http://prometheus:9090/graph\n"
        "Labels:\n - alertname = HighErrorRate\n - instance = api-9.prod:9100\n"
        "Annotations:\n - description = second alert\n"
    )
    body = {
        "routing_key": integration["routing_key"],
        "event_action": "trigger",
        "payload": {
            "summary": "[FIRING:2] HighErrorRate api (critical)",
            "source": "Alertmanager",
            "severity": "critical",
            "custom_details": {"firing": firing, "num_firing": "2", "num_resolved": "0", "resolved": ""},
        },
        "links": [{"href": "https://grafana.example.com/d/api", "text": "dashboard"}],
    }
    assert _post(lambda_context, body)[0] == 202
    (item,) = _incidents(aws)
    assert item["description"] == "[FIRING:2] HighErrorRate api (critical) - api-7.prod:9100: 5xx above 5% for 10 minutes"
    assert item["url"] == "https://grafana.example.com/d/api"
    assert _page_text(sms_stub, lambda_context, item["incident_id"]) == (
        f"INCIDENT {item['incident_id']}: [FIRING:2] HighErrorRate api (critical) - api-7.prod:9100: 5xx above 5%..."
        " https://grafana.example.com/d/api Reply YES to ack, NO to escalate."
    )  # one segment: before, the page read "[FIRING:2] HighErrorRate api (critical)" and nothing else


def test_the_page_of_alertmanagers_default_body_names_the_instance_and_a_link(
    integration: dict[str, str], aws: Aws, sms_stub: Stubber, fixtures_dir: Path, lambda_context: LambdaContext
) -> None:
    assert _post(lambda_context, _body(fixtures_dir, "alertmanager_firing.json", integration["routing_key"]))[0] == 202
    (item,) = _incidents(aws)
    text = _page_text(sms_stub, lambda_context, item["incident_id"])
    assert text == (
        f"INCIDENT {item['incident_id']}: [FIRING:1] HighRequestLatency (api-server critical)..."
        " http://alertmanager:9093/#/alerts?receiver=oncall-sms Reply YES to ack, NO to escalate."
    )  # before: "[FIRING:1] HighRequestLatency (api-server critical)", no link (Alertmanager sends none, only client_url)


@pytest.mark.parametrize(
    ("fixture", "page_says"),
    [
        (
            "grafana_firing.json",
            "[FIRING:1] HighCPU Infrastructure (db-1:9100 critical): CPU above 90% for 5 minutes http://localhost:3000/",
        ),
        (
            "zabbix_problem.json",
            "Problem: Linux: High CPU utilization... https://zabbix.example.com/tr_events.php?triggerid=23456&eventid=4821",
        ),
        ("pagerduty_trigger_example.json", "Example alert on host1.example.com https://example.com/"),
    ],
)
def test_the_default_bodies_of_grafana_zabbix_and_pagerdutys_example_page_with_their_facts(
    integration: dict[str, str],
    aws: Aws,
    sms_stub: Stubber,
    fixtures_dir: Path,
    lambda_context: LambdaContext,
    fixture: str,
    page_says: str,
) -> None:
    body = _body(fixtures_dir, fixture, integration["routing_key"])
    assert _post(lambda_context, body)[0] == 202
    (item,) = _incidents(aws)
    # PagerDuty's example is severity info: low urgency, held outside working hours (tests/unit/test_urgency.py).
    # What it would say when it pages is the subject here, so it is made high.
    assert item["urgency"] == ("low" if body["payload"]["severity"] == "info" else "high")
    aws.incidents.update_item(Key={"incident_id": item["incident_id"]}, UpdateExpression="SET urgency = :high",
                              ExpressionAttributeValues={":high": "high"})  # fmt: skip
    assert _page_text(sms_stub, lambda_context, item["incident_id"]) == (
        f"INCIDENT {item['incident_id']}: {page_says} Reply YES to ack, NO to escalate."
    )
    assert json.loads(item["details"]) == body["payload"]["custom_details"]  # all of it, for `incidents show`
    assert "normalised" not in item  # nothing in these bodies needed changing


def test_a_cyrillic_summary_keeps_sixty_characters_of_itself_in_a_page_of_two_segments(
    integration: dict[str, str], aws: Aws, sms_stub: Stubber, lambda_context: LambdaContext
) -> None:
    summary = "Диск заполнен на db-2: свободно 1%, запись в журнал остановлена, база данных только для чтения"
    body = {
        "routing_key": integration["routing_key"],
        "event_action": "trigger",
        "payload": {"summary": summary, "source": "db-2", "severity": "critical"},
    }
    assert _post(lambda_context, body)[0] == 202
    (item,) = _incidents(aws)
    text = _page_text(sms_stub, lambda_context, item["incident_id"])  # maxSmsSegmentsUnicode: 2 by default
    kept = text.removeprefix(f"INCIDENT {item['incident_id']}: ").removesuffix(" Reply YES to ack, NO to escalate.")
    assert len(kept) >= 60 and summary.startswith(kept.removesuffix("...")), kept
    assert count_segments(text) == (2, "UCS-2")


def test_a_body_of_513000_bytes_in_fewer_characters_gets_400(integration: dict[str, str], lambda_context: LambdaContext) -> None:
    padding = "日本語" * 10_000  # three bytes each in UTF-8
    event = {
        "routing_key": integration["routing_key"],
        "event_action": "trigger",
        "payload": {"summary": "disk full", "source": "db-1", "severity": "critical", "custom_details": {"log": ""}},
    }
    frame = len(json.dumps(event, ensure_ascii=False).encode())
    log = (padding * 6)[: (513_000 - frame) // 3]
    event["payload"]["custom_details"]["log"] = log + "x" * ((513_000 - frame) % 3)  # type: ignore[index]
    body = json.dumps(event, ensure_ascii=False).encode()
    assert len(body) == 513_000 and len(body.decode()) < MAX_BODY_BYTES
    assert _post(lambda_context, body.decode()) == (
        400,
        {
            "status": "invalid event",
            "message": "Event object is invalid",
            "errors": ["body: is 513000 bytes; the limit is 512000"],
        },
    )
    as_base64 = api_request("") | {"body": base64.b64encode(body).decode(), "isBase64Encoded": True}
    assert alert_events.handler(as_base64, lambda_context)["statusCode"] == 400


def test_an_integrations_template_says_what_its_pages_say(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, sms_stub: Stubber, fixtures_dir: Path, lambda_context: LambdaContext
) -> None:
    monkeypatch.setenv("INTEGRATIONS_TABLE", INTEGRATIONS_TABLE)
    alert_events.integrations_table.cache_clear()
    key = create_integration(create_integrations_table(), "zabbix", contacts=[FIRST], page_template="{instance} {summary}")
    assert _post(lambda_context, _body(fixtures_dir, "zabbix_problem.json", key["routing_key"]))[0] == 202
    (item,) = _incidents(aws)
    assert item["description"] == "db-1 Problem: Linux: High CPU utilization (over 90% for 5m)"  # "Event host" is the instance
    assert _page_text(sms_stub, lambda_context, item["incident_id"]) == (
        f"INCIDENT {item['incident_id']}: db-1 Problem: Linux: High CPU utilization (over 90% for 5m)"
        " Reply YES to ack, NO to escalate."
    )
    assert item["url"] == "no url"  # a template without {link}: pages without the link


def test_custom_details_over_4096_bytes_are_cut_on_the_item_and_that_is_recorded(
    integration: dict[str, str], aws: Aws, lambda_context: LambdaContext
) -> None:
    details = {"log": "é" * 5_000}
    body = {
        "routing_key": integration["routing_key"],
        "event_action": "trigger",
        "payload": {"summary": "Disk full", "source": "db-1", "severity": "critical", "custom_details": details},
    }
    assert _post(lambda_context, body)[0] == 202
    (item,) = _incidents(aws)
    assert (
        len(item["details"].encode()) <= 4_096 and item["details"].startswith('{"log": "éé') and item["details"].endswith("é...")
    )
    assert item["normalised"] == ["payload.custom_details: 10011 bytes of JSON; the incident keeps the first 4096"]
