"""Run a scenario against the synthesized stack deployed into moto, with scripted phones.

What the scenario does while it runs is in ``sandbox.scenario_script``, what the run reports in
``sandbox.run_report``, how that is checked in ``sandbox.expectations``.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from .account import DEFAULT_SETTINGS, FAKE_ENV, ORIGINATION_NUMBER, PHONE_NUMBER_ID, REGION
from .cloud_assembly import load_stack
from .deploy import DeployedStack, deploy_cdk_out
from .executions import MOTO_CONFIG, ExecutionsStillRunning, drain_executions, list_executions, wait_for_executions
from .heartbeats import HeartbeatsDriver
from .local_lambda import LocalLambdaRuntime
from .maintenance import MaintenanceDriver
from .receipts import configuration_set_destinations
from .run_report import (
    dead_letters,
    drain_ops_inbox,
    execution_records,
    invocation_records,
    main_incident,
    plain,
    scan,
    subscribe_ops_inbox,
)
from .runtime import DEFAULT_MAX_WORKERS, LocalEndpoint
from .scenario import Scenario
from .scenario_script import AlertsScript, Script, inject, scheduled
from .sms_gateway import SmsGateway
from .synth import CACHE, STACK_NAME, synthesize
from .voice import VoiceDriver, seed_earlier_calls
from .windows import WINDOWS
from .working_hours import apply_working_hours


def _stop_drivers(heartbeats: HeartbeatsDriver, maintenance: MaintenanceDriver, voice: VoiceDriver, errors: list[str]) -> None:
    """Fire no more schedules: heartbeat deadlines, maintenance edges, calls."""
    heartbeats.stop()
    maintenance.stop()
    voice.stop(errors)


def _before_the_start(deployed: Any, scenario: Scenario) -> float | None:
    """What the scenario sets up before anything runs: calls made earlier today, working hours (their start)."""
    seed_earlier_calls(deployed, scenario.calls_earlier_today, REGION)  # sandbox/voice.py
    return apply_working_hours(deployed, scenario.working_hours_start_in)  # sandbox/working_hours.py


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
            hours_start = _before_the_start(deployed, scenario)
            runtime.register_all(deployed.functions)
            if warm:
                runtime.initialize()  # the init phase of each function, as on AWS
            topic_arn = deployed.outputs["InboundSmsTopicArn"]
            if not gateway.two_way_channels:  # configureTwoWay=false: wired by hand, as docs/deploying.md says
                gateway.inbound_topic_arn = topic_arn
            gateway.on_message(script := Script(scenario, gateway, runtime))
            _fail_sends(scenario, gateway)
            _deliver_receipts(scenario, gateway, cdk_out, deployed)
            ops_queue = subscribe_ops_inbox(deployed.outputs["OpsTopicArn"])
            table = boto3.resource("dynamodb", region_name=REGION).Table(deployed.outputs["IncidentsTableName"])
            client = boto3.client("dynamodb", region_name=REGION)
            _store_overrides(scenario, deployed.outputs["OncallTableName"])
            alerts = AlertsScript(scenario, deployed, errors)
            heartbeats, maintenance = (  # sandbox/heartbeats.py, sandbox/maintenance.py
                HeartbeatsDriver(scenario.heartbeats, deployed, REGION, errors),
                MaintenanceDriver(scenario.maintenance, deployed, REGION, errors),
            )
            voice = VoiceDriver(deployed.outputs, REGION, poller_running=heartbeats.poller_running or maintenance.polling)
            started = time.monotonic()
            start_wall = time.time()
            if scenario.incident is not None:
                client.put_item(TableName=table.name, Item=scenario.incident)
            injections = [
                *inject(scenario, script, started, topic_arn=topic_arn, table_name=table.name, errors=errors),
                *alerts.schedule(script, started),
                *scheduled(script, started, heartbeats.plans(), errors, "sandbox-heartbeats"),
                *scheduled(script, started, maintenance.plans(), errors, "sandbox-maintenance"),
            ]
            try:
                completed = _wait(scenario, gateway, runtime, injections, started, errors)
            finally:
                script.close()
                _stop_drivers(heartbeats, maintenance, voice, errors)
            incidents = sorted((plain(i) for i in scan(table)), key=lambda i: str(i.get("incident_id")))
            item = main_incident(scenario, table, incidents)
            executions = execution_records(errors)
            invocations = invocation_records(deployed, runtime, start_wall)
            errors.extend(f"{e.function_name} ({e.source}): {e.error_type}: {e.error_message}" for e in runtime.errors)
            errors.extend(dead_letters(deployed.physical_ids))
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
                "calls": [
                    {
                        "t": round(call.at.timestamp() - start_wall, 3),
                        "to": call.to,
                        "body": call.body,
                        "message_id": call.message_id,
                    }
                    for call in gateway.calls
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
                "ops_notifications": drain_ops_inbox(ops_queue),
                "invocations": invocations,
                "events": alerts.event_results,
                "alarms": alerts.alarm_results,
                "heartbeats": heartbeats.results(start_wall),
                "maintenance": maintenance.results(start_wall),
                "working_hours_start_t": None if hours_start is None else round(hours_start - start_wall, 3),
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


def dumps(result: dict[str, Any]) -> str:
    """The --json output."""
    return json.dumps(result, indent=2, sort_keys=False)
