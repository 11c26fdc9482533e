"""Run a scenario against the synthesized stack deployed into moto, with scripted phones."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer
from moto import mock_aws

from .alerts import AlertsGateway
from .deploy import DeployedStack, deploy_cdk_out, load_stack
from .executions import (
    MOTO_CONFIG,
    ExecutionsStillRunning,
    drain_executions,
    list_executions,
    states_entered,
    wait_for_executions,
)
from .heartbeats import HeartbeatsDriver
from .moto_patches import WINDOWS
from .receipts import configuration_set_destinations
from .runtime import DEFAULT_MAX_WORKERS, LocalEndpoint, LocalLambdaRuntime
from .scenario import Scenario, SmsTrigger
from .sms_gateway import SentSms, SmsGateway
from .synth import CACHE, STACK_NAME, synthesize

REGION = "eu-west-2"
# The sandbox deploys as a real user would: a phone number id, with two-way SMS wired at deploy.
PHONE_NUMBER_ID = "phone-sandbox0001"
ORIGINATION_NUMBER = "+447700900999"
# Scenarios send at a typical long code's rate (10 parts per second) unless they set smsPartsPerSecond themselves:
# the deployed default (1, a US 10DLC number) would make every scenario about queueing.
DEFAULT_SETTINGS = {"originationIdentity": PHONE_NUMBER_ID, "configureTwoWay": True, "smsPartsPerSecond": 10}
DEAD_LETTER_QUEUES = ("StreamFailures", "ReplyFailures", "AlarmEventFailures", "ReceiptsReceiptFailures")
FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


def _plain(value: Any) -> Any:
    """DynamoDB values as plain JSON (Decimal to int or float)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | set | tuple):
        return [_plain(item) for item in value]
    return value


class _Script:
    """Scripted phones, and the moments the scenario's other actions wait for.

    Each phone replies after receiving its n-th message (or after another phone received its n-th).
    The gateway, like the real service, tells the app only which message was sent last to that phone.
    A triggered action (a reply, or a write/post/injection `on_sms`) holds the acknowledgement windows
    (``WINDOWS``) from its trigger until its effects have settled: a window that comes due meanwhile
    closes only then, so what the scenario asserts never depends on how fast this machine is.
    """

    def __init__(self, scenario: Scenario, gateway: SmsGateway, runtime: LocalLambdaRuntime) -> None:
        self._scripts = scenario.phones
        self._gateway = gateway
        self._runtime = runtime
        self._settle_s = scenario.time_limit_seconds
        self._received: dict[str, int] = defaultdict(int)
        self._changed = threading.Condition()
        self._closed = False

    def __call__(self, message: SentSms) -> None:
        """The gateway's listener: count the text and start the replies it triggers."""
        with self._changed:
            self._received[message.to] += 1
            count = self._received[message.to]
            self._changed.notify_all()
        for number, actions in self._scripts.items():
            for action in actions:
                if (action.on_sms_to or number) == message.to and action.on_sms == count:
                    then = None
                    if action.holds_windows:
                        WINDOWS.acquire()
                        then = self.settle_and_release
                    self._gateway.reply_after(action.delay_seconds, number, action.reply, before=self.settle, then=then)

    def settle(self) -> None:
        """Wait until no invocation is queued or running.

        Before a scripted action: the handler that sent the trigger text has recorded it (a phone that
        answers within a millisecond, faster than any carrier delivers, must not find its page unrecorded).
        After one: its effects have run.
        """
        self._runtime.wait_settled(self._settle_s)

    def settle_and_release(self) -> None:
        """Wait until the action's effects have run, then release its hold."""
        try:
            self.settle()
        finally:
            WINDOWS.release()

    def close(self) -> None:
        """Wake every action still waiting for its trigger: the run is over."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def wait_until(self, after_seconds: float, trigger: SmsTrigger | None, started: float) -> bool:
        """Block until an action's moment; True with the windows held when it is triggered by a text.

        False when the run closed first (the action must not run).
        """
        if trigger is None:
            time.sleep(max(after_seconds - (time.monotonic() - started), 0))
            return not self._closed
        with self._changed:
            self._changed.wait_for(lambda: self._closed or self._received[trigger.to] >= trigger.count)
            if self._closed:
                return False
            WINDOWS.acquire()
        self.settle()  # the text that triggered it is recorded by its sender first
        time.sleep(after_seconds)
        return True


def _scheduled(
    script: _Script,
    started: float,
    plans: list[tuple[float, SmsTrigger | None, str, Callable[[], object]]],
    errors: list[str],
    name: str,
) -> list[threading.Thread]:
    """Run each planned action at its moment (seconds after the start, or after a text), each in its thread."""

    def later(after: float, trigger: SmsTrigger | None, what: str, action: Callable[[], object]) -> None:
        if not script.wait_until(after, trigger, started):
            return
        try:
            action()
        except Exception as error:  # reported, not raised: the run goes on
            errors.append(f"{what} failed: {error}")
        finally:
            if trigger is not None:
                script.settle_and_release()

    threads = [threading.Thread(target=later, args=plan, daemon=True, name=name) for plan in plans]
    for thread in threads:
        thread.start()
    return threads


def _inject(
    scenario: Scenario, script: _Script, started: float, *, topic_arn: str, table_name: str, errors: list[str]
) -> list[threading.Thread]:
    """Publish the scenario's raw inbound payloads, and put its later items, on their schedule."""
    sns = boto3.client("sns", region_name=REGION)
    dynamodb = boto3.client("dynamodb", region_name=REGION)

    def publish(message: str) -> Callable[[], object]:
        return lambda: sns.publish(TopicArn=topic_arn, Message=message)

    def put(item: dict[str, Any]) -> Callable[[], object]:
        return lambda: dynamodb.put_item(TableName=table_name, Item=item)

    plans = [(item.after_seconds, item.on_sms, "inbound injection", publish(item.message)) for item in scenario.inbound]
    plans += [(write.after_seconds, write.on_sms, "later write", put(write.item)) for write in scenario.writes]
    return _scheduled(script, started, plans, errors, "sandbox-schedule")


def _subscribe_queue(topic_arn: str) -> str:
    """A queue subscribed to topic_arn, standing in for the ops team's email inbox."""
    sqs = boto3.client("sqs", region_name=REGION)
    url: str = sqs.create_queue(QueueName="sandbox-ops-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("sns", region_name=REGION).subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
    return url


def _drain_queue(url: str) -> list[dict[str, str]]:
    """Subject and message of every notification the ops topic received."""
    sqs = boto3.client("sqs", region_name=REGION)
    received: list[dict[str, str]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return received
        for message in messages:
            body = json.loads(message["Body"])
            received.append({"subject": body.get("Subject", ""), "message": body.get("Message", "")})
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def _dead_letters(physical_ids: dict[str, str]) -> list[str]:
    """Everything left in the stack's dead-letter queues."""
    sqs = boto3.client("sqs", region_name=REGION)
    found: list[str] = []
    for logical_id, physical in physical_ids.items():
        if not (logical_id.startswith(DEAD_LETTER_QUEUES) and physical.startswith("https://")):
            continue
        response = sqs.receive_message(QueueUrl=physical, MaxNumberOfMessages=10)
        found.extend(f"{logical_id}: {message['Body'][:500]}" for message in response.get("Messages", []))
    return found


def run_scenario(
    scenario: Scenario, *, cdk_out: Path | None = None, workers: int = DEFAULT_MAX_WORKERS, warm: bool = True
) -> dict[str, Any]:
    """Deploy, insert the incident, play the phones, and report what happened.

    workers: worker processes per function, i.e. how many events of one function run at once.
    warm: start every function's workers before the incident (the transcript's latencies then show the
    workflow, not cold starts); False starts each on first use, as Lambda does, which costs far less CPU
    when a function is never called. Either way no window runs out while a cold start is in flight.
    """
    cdk_out = cdk_out or synthesize({**DEFAULT_SETTINGS, **_oncall_setting(scenario), **scenario.settings})
    errors: list[str] = []
    completed = False
    with _fake_credentials(), mock_aws(config=MOTO_CONFIG), LocalEndpoint() as endpoint:
        gateway = SmsGateway(origination_numbers={PHONE_NUMBER_ID: ORIGINATION_NUMBER}).install()
        endpoint.serve_sms(gateway)
        runtime = LocalLambdaRuntime(endpoint_url=endpoint.url, region_name=REGION, max_workers=workers).install()
        try:
            deployed = deploy_cdk_out(cdk_out, STACK_NAME, region_name=REGION)
            runtime.register_all(deployed.functions)
            if warm:
                runtime.initialize()  # the init phase of each function, as on AWS
            topic_arn = deployed.outputs["InboundSmsTopicArn"]
            if not gateway.two_way_channels:  # configureTwoWay=false: wired by hand, as docs/deploying.md says
                gateway.inbound_topic_arn = topic_arn
            gateway.on_message(script := _Script(scenario, gateway, runtime))
            _fail_sends(scenario, gateway)
            _deliver_receipts(scenario, gateway, cdk_out, deployed)
            ops_queue = _subscribe_queue(deployed.outputs["OpsTopicArn"])
            table = boto3.resource("dynamodb", region_name=REGION).Table(deployed.outputs["IncidentsTableName"])
            client = boto3.client("dynamodb", region_name=REGION)
            _store_overrides(scenario, deployed.outputs["OncallTableName"])
            alerts = _Alerts(scenario, deployed, errors)
            heartbeats = HeartbeatsDriver(scenario.heartbeats, deployed, REGION, errors)
            started = time.monotonic()
            start_wall = time.time()
            if scenario.incident is not None:
                client.put_item(TableName=table.name, Item=scenario.incident)
            injections = [
                *_inject(scenario, script, started, topic_arn=topic_arn, table_name=table.name, errors=errors),
                *alerts.schedule(script, started),
                *_scheduled(script, started, heartbeats.plans(), errors, "sandbox-heartbeats"),
            ]
            try:
                completed = _wait(scenario, gateway, runtime, injections, started, errors)
            finally:
                script.close()
                heartbeats.stop()
            incidents = sorted((_plain(i) for i in _scan(table)), key=lambda i: str(i.get("incident_id")))
            item = _main_incident(scenario, table, incidents)
            executions = _executions(errors)
            invocations = _invocations(deployed, runtime, start_wall)
            errors.extend(f"{e.function_name} ({e.source}): {e.error_type}: {e.error_message}" for e in runtime.errors)
            errors.extend(_dead_letters(deployed.physical_ids))
            result = {
                "scenario": scenario.name,
                "completed": completed,
                "incident": item,
                "incidents": incidents,
                "sms": [
                    {
                        "t": round(message.at.timestamp() - start_wall, 3),
                        "to": message.to,
                        "body": message.body,
                        "segments": message.segments,
                        "encoding": message.encoding,
                        "message_id": message.message_id,
                    }
                    for message in gateway.sent
                ],
                "receipts": [
                    {
                        "t": round(receipt.at.timestamp() - start_wall, 3),
                        "to": receipt.to,
                        "message_id": receipt.message_id,
                        "event_type": receipt.event_type,
                        "price": float(receipt.price) if receipt.price is not None else None,
                    }
                    for receipt in gateway.receipts
                ],
                "replies": [
                    {
                        "t": round(inbound.at.timestamp() - start_wall, 3),
                        "from": inbound.payload["originationNumber"],
                        "body": inbound.payload["messageBody"],
                    }
                    for inbound in gateway.inbound
                ],
                "executions": executions,
                "ops_notifications": _drain_queue(ops_queue),
                "invocations": invocations,
                "events": alerts.event_results,
                "alarms": alerts.alarm_results,
                "heartbeats": heartbeats.results(start_wall),
                "errors": errors,
            }
        finally:
            _stop(errors)
            runtime.uninstall()
            gateway.uninstall()
    return result


@contextmanager
def _fake_credentials() -> Iterator[None]:
    """Moto's fake credentials and the sandbox's region in the environment, restored afterwards."""
    saved_env = {key: os.environ.get(key) for key in FAKE_ENV}
    os.environ.update(FAKE_ENV)
    try:
        yield
    finally:
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _stop(errors: list[str]) -> None:
    """Stop what still runs (held windows first); what would not stop is reported in errors, never raised."""
    WINDOWS.reset()
    try:
        drain_executions(10, region_name=REGION)
    except ExecutionsStillRunning as error:
        errors.append(f"after the run: {error}")


def _executions(errors: list[str]) -> list[dict[str, Any]]:
    """Every execution: name, status and the states it entered (a history moto cannot serve is an error, not a crash)."""
    found = []
    for execution in list_executions(REGION):
        try:
            entered = states_entered(execution["executionArn"], region_name=REGION)
        except Exception as error:  # reported with the result: the run's other findings still print
            errors.append(f"history of {execution['name']} unreadable: {type(error).__name__}: {error}")
            entered = []
        found.append({"name": execution["name"], "status": execution["status"], "states_entered": entered})
    return found


def _invocations(deployed: DeployedStack, runtime: LocalLambdaRuntime, start_wall: float) -> list[dict[str, Any]]:
    """Every handler invocation, with its time since the start."""
    handlers = {name: local.handler.split(".")[0] for name, local in deployed.functions.items()}
    return [
        {
            "t": round(record.started.timestamp() - start_wall, 3),
            "handler": handlers.get(record.function_name, record.function_name),
            "source": record.source,
            "duration": round(record.duration_s, 3),
            "result": record.result,
            "error": record.error_type,
        }
        for record in runtime.invocations
    ]


def _fail_sends(scenario: Scenario, gateway: SmsGateway) -> None:
    """Arm the gateway with the scenario's send failures."""
    for failure in scenario.sms_failures:
        gateway.fail_next(
            failure.code, failure.message, to=failure.to, reason=failure.reason, fields=failure.fields,
            after_sms=failure.after_sms,
        )  # fmt: skip


def _deliver_receipts(scenario: Scenario, gateway: SmsGateway, cdk_out: Path, deployed: DeployedStack) -> None:
    """Wire the template's configuration set destinations (moto has none) and the scenario's delivery scripts."""
    template = load_stack(cdk_out, STACK_NAME).template
    for name, topic_arn, _ in configuration_set_destinations(template, deployed.physical_ids):
        gateway.add_event_destination(name, topic_arn)
    for number, scripts in scenario.delivery.items():
        gateway.script_delivery(number, scripts)


def _main_incident(scenario: Scenario, table: Any, incidents: list[dict[str, Any]]) -> dict[str, Any]:
    """The scenario's incident as it ended; with none (events, alarms), the latest one they opened."""
    if scenario.incident is None:
        return max(incidents, key=lambda i: str(i.get("opened_at", "")), default={})
    incident_id = next(iter(TypeDeserializer().deserialize({"M": {"id": scenario.incident["incident_id"]}}).values()))
    item: dict[str, Any] = _plain(table.get_item(Key={"incident_id": incident_id}, ConsistentRead=True).get("Item", {}))
    return item


class _Alerts:
    """The scenario's integrations, endpoint posts and alarm state changes, reaching the deployed alerts function."""

    def __init__(self, scenario: Scenario, deployed: DeployedStack, errors: list[str]) -> None:
        from escalation.alerts.integrations import create_integration  # noqa: PLC0415 (lambdas/ is on the path once stacks are)

        self._scenario = scenario
        self._errors = errors
        self.event_results: list[dict[str, Any]] = []
        self.alarm_results: list[dict[str, Any]] = []
        self._keys: dict[str, str] = {}
        self._arns: dict[str, str] = {}
        self._states: dict[str, str] = {}
        self._lock = threading.Lock()
        self._answered = [threading.Event() for _ in scenario.events]  # set once each post has its answer (or failed)
        if not (scenario.events or scenario.alarms or scenario.integrations):
            return
        table = boto3.resource("dynamodb", region_name=REGION).Table(deployed.outputs["IntegrationsTableName"])
        for name, spec in scenario.integrations.items():
            created = create_integration(table, name, contacts=spec.get("contacts") or [], policy=spec.get("policy"))
            self._keys[name] = created["routing_key"]
        self._gateway = AlertsGateway(deployed.function_name("AlertEvents"), region=REGION)
        for change in scenario.alarms:
            if change.alarm_name not in self._arns:
                self._arns[change.alarm_name] = self._gateway.alarm(change.alarm_name, integration=change.integration)
                self._states[change.alarm_name] = "OK"

    def _post(self, index: int) -> None:
        try:
            post = self._scenario.events[index]
            if post.after_answer_to is not None:
                self._answered[post.after_answer_to].wait()
                time.sleep(post.after_seconds)
            body = dict(post.body)
            if post.integration is not None and body.get("routing_key") in (None, "ROUTING_KEY"):
                body["routing_key"] = self._keys[post.integration]
            status, response = self._gateway.post(json.dumps(body))
            with self._lock:
                self.event_results.append({"index": index, "status": status, "response": response})
        finally:
            self._answered[index].set()

    def _change(self, index: int) -> None:
        change = self._scenario.alarms[index]
        with self._lock:
            previous = self._states[change.alarm_name]
            self._states[change.alarm_name] = change.state
        arn = self._arns[change.alarm_name]
        event = self._gateway.state_change_event(arn, change.alarm_name, change.state, previous, datetime.now(UTC))
        reached = self._gateway.deliver(event)
        with self._lock:
            self.alarm_results.append(
                {"index": index, "alarm_name": change.alarm_name, "state": change.state, "delivered_to": len(reached)}
            )

    def schedule(self, script: _Script, started: float) -> list[threading.Thread]:
        """Start the posts and alarm changes on their schedule; their threads."""
        events, alarms = self._scenario.events, self._scenario.alarms
        plans: list[tuple[float, SmsTrigger | None, str, Callable[[], object]]] = [
            (0 if post.after_answer_to is not None else post.after_seconds, post.on_sms, f"events[{i}]",
             functools.partial(self._post, i))
            for i, post in enumerate(events)
        ]  # fmt: skip
        plans += [
            (change.after_seconds, change.on_sms, f"alarms[{i}]", functools.partial(self._change, i))
            for i, change in enumerate(alarms)
        ]
        return _scheduled(script, started, plans, self._errors, "sandbox-alerts")


def _oncall_setting(scenario: Scenario) -> dict[str, str]:
    """OncallFile for a scenario with its own on-call definitions: written once per content (JSON is YAML)."""
    if scenario.oncall is None:
        return {}
    text = json.dumps(scenario.oncall, sort_keys=True, indent=1)
    path = CACHE / f"oncall-{hashlib.sha256(text.encode()).hexdigest()[:16]}.yaml"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return {"oncallFile": str(path)}


def _store_overrides(scenario: Scenario, table_name: str) -> None:
    """Store the scenario's overrides, relative to now (the incident is inserted right after)."""
    from escalation.oncall.store import OncallStore  # noqa: PLC0415 (lambdas/ is on the path once stacks are imported)

    now = datetime.now(UTC)
    store = OncallStore(boto3.resource("dynamodb", region_name=REGION).Table(table_name))
    for override in scenario.overrides:
        store.add_override(
            rotation=override.rotation,
            person=override.person,
            start=now + timedelta(seconds=override.from_seconds),
            end=now + timedelta(seconds=override.to_seconds),
            created_by="scenario",
        )


def _scan(table: Any) -> list[dict[str, Any]]:
    """Every item of a table (all pages)."""
    response = table.scan(ConsistentRead=True)
    items: list[dict[str, Any]] = response["Items"]
    while "LastEvaluatedKey" in response:
        response = table.scan(ConsistentRead=True, ExclusiveStartKey=response["LastEvaluatedKey"])
        items.extend(response["Items"])
    return items


def _wait(  # noqa: PLR0917 - the run's parts, all needed
    scenario: Scenario,
    gateway: SmsGateway,
    runtime: LocalLambdaRuntime,
    injections: list[threading.Thread],
    started: float,
    errors: list[str],
) -> bool:
    """Wait until executions finished and every scripted reply and injection was delivered.

    Also until no stream record, async event or invocation is queued or running.
    """
    while True:
        remaining = scenario.time_limit_seconds - (time.monotonic() - started)
        if remaining <= 0:
            errors.append(f"time limit of {scenario.time_limit_seconds:g} s reached before the run completed")
            return False
        try:
            for thread in injections:
                thread.join(remaining)
            gateway.wait_replies(max(remaining, 0.1))
            wait_for_executions(
                max(scenario.time_limit_seconds - (time.monotonic() - started), 0.1), region_name=REGION, poll_s=0.25
            )
        except (TimeoutError, ExecutionsStillRunning) as error:
            errors.append(f"time limit of {scenario.time_limit_seconds:g} s reached: {error}")
            return False
        # A reply can schedule another reply (or a courtesy SMS another phone answers): settle first.
        time.sleep(0.2)
        runtime.wait_settled(max(scenario.time_limit_seconds - (time.monotonic() - started), 0.1))
        if (
            not runtime.pending()
            and not gateway.pending_replies()
            and not any(t.is_alive() for t in injections)
            and not list_executions(REGION, status="RUNNING")
        ):
            return True


def check_expectations(result: dict[str, Any], expect: dict[str, Any]) -> list[str]:
    """What the run got wrong compared with the scenario's `expect` block (empty when all is well)."""
    problems = []
    incident = result["incident"]
    for key in ("incident_stat", "acknowledged_by", "resolved_by", "double_escalation", "error", "alert_count"):
        if key in expect and incident.get(key) != expect[key]:
            problems.append(f"{key}: expected {expect[key]!r}, got {incident.get(key)!r}")
    if "cost" in expect and abs(float(incident.get("cost") or 0) - float(expect["cost"])) > 1e-9:
        problems.append(f"cost: expected {expect['cost']!r}, got {incident.get('cost')!r}")
    if "error_contains" in expect and expect["error_contains"] not in str(incident.get("error", "")):
        problems.append(f"error: expected to contain {expect['error_contains']!r}, got {incident.get('error')!r}")
    if "statuses" in expect:
        final = {str(item["incident_id"]): item.get("incident_stat") for item in result["incidents"]}
        if final != expect["statuses"]:
            problems.append(f"statuses: expected {expect['statuses']}, got {final}")
    if "incidents_opened" in expect and len(result["incidents"]) != expect["incidents_opened"]:
        problems.append(f"incidents: expected {expect['incidents_opened']}, got {len(result['incidents'])}")
    posted = [entry["status"] for entry in sorted(result.get("events", []), key=lambda entry: entry["index"])]
    if "event_statuses" in expect and posted != expect["event_statuses"]:
        problems.append(f"event statuses: expected {expect['event_statuses']}, got {posted}")
    sms = result["sms"]
    if "max_sms" in expect and len(sms) > expect["max_sms"]:
        problems.append(f"sms: expected at most {expect['max_sms']}, got {len(sms)}")
    if "sms_count" in expect and len(sms) != expect["sms_count"]:
        problems.append(f"sms: expected {expect['sms_count']}, got {len(sms)}")
    segments = sum(message["segments"] for message in sms)
    if "max_segments" in expect and segments > expect["max_segments"]:
        problems.append(f"segments: expected at most {expect['max_segments']}, got {segments}")
    if "sms_to" in expect and [message["to"] for message in sms] != expect["sms_to"]:
        problems.append(f"sms_to: expected {expect['sms_to']}, got {[message['to'] for message in sms]}")
    events = [entry.get("event") for entry in incident.get("timeline", [])]
    missing = [event for event in expect.get("timeline_includes", []) if event not in events]
    if missing:
        problems.append(f"timeline: missing {missing}; got {events}")
    entered = {state for execution in result["executions"] for state in execution["states_entered"]}
    absent = [state for state in expect.get("states_include", []) if state not in entered]
    if absent:
        problems.append(f"states: never entered {absent}")
    if "ops_notifications" in expect and len(result["ops_notifications"]) != expect["ops_notifications"]:
        problems.append(f"ops notifications: expected {expect['ops_notifications']}, got {len(result['ops_notifications'])}")
    if "executions" in expect and len(result["executions"]) != expect["executions"]:
        problems.append(f"executions: expected {expect['executions']}, got {len(result['executions'])}")
    statuses = {execution["status"] for execution in result["executions"]}
    expected_statuses = set(expect.get("execution_statuses", ["SUCCEEDED"]))  # paging stopped by a fault of ours: FAILED
    if statuses - expected_statuses:
        problems.append(f"executions: expected {sorted(expected_statuses)}, got {sorted(statuses)}")
    if "max_decline_latency_seconds" in expect:
        latency = decline_latency(result)
        if latency is None or latency > expect["max_decline_latency_seconds"]:
            problems.append(f"NO -> next page latency: expected <= {expect['max_decline_latency_seconds']} s, got {latency}")
    if result["errors"] and not expect.get("errors_allowed"):
        problems.append(f"errors: {result['errors']}")
    return problems


def decline_latency(result: dict[str, Any]) -> float | None:
    """Seconds from the first NO reply to the next page sent to someone else."""
    for reply in result["replies"]:
        if reply["body"].strip().casefold().strip(".!") in ("no", "n", "decline"):
            later = [m for m in result["sms"] if m["t"] >= reply["t"] and m["to"] != reply["from"] and "INCIDENT" in m["body"]]
            return round(later[0]["t"] - reply["t"], 3) if later else None
    return None


def dumps(result: dict[str, Any]) -> str:
    """The --json output."""
    return json.dumps(result, indent=2, sort_keys=False)
