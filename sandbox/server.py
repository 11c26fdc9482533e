"""`make sandbox`: keep the emulated account up on a local port, to drive by hand from the AWS CLI."""

from __future__ import annotations

import json
import os
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from .account import DEFAULT_SETTINGS, FAKE_ENV, ORIGINATION_NUMBER, PHONE_NUMBER_ID, REGION
from .alerts import AlertsGateway, EventsEndpoint
from .cloud_assembly import load_stack
from .deploy import DeployedStack, deploy_cdk_out, set_output
from .event_sources.schedules import OneTimeSchedules
from .executions import MOTO_CONFIG, drain_executions
from .heartbeats import proxy_event as heartbeat_event
from .local_lambda import LocalLambdaRuntime
from .receipts import configuration_set_destinations
from .runtime import LocalEndpoint
from .runtime.endpoint import REPLY_PATH
from .sms_gateway import SmsGateway
from .sms_messages import SentSms
from .synth import CACHE, STACK_NAME, synthesize
from .tls import LocalTls, make_local_tls


class Sandbox:
    """The deployed stack on moto, served over HTTP on 127.0.0.1, with the SMS gateway printing texts."""

    def __init__(
        self,
        *,
        port: int = 4566,
        settings: dict[str, Any] | None = None,
        on_sms: Callable[[SentSms], None] | None = None,
        events_port: int | None = None,
        https_port: int | None = None,
        tls_dir: Path | None = None,
    ) -> None:
        self.port = port
        self.events_port = port + 1 if events_port is None else events_port  # 0: any free port
        self.https_port = port + 2 if https_port is None else https_port  # 0: any free port
        self.events_endpoint: EventsEndpoint | None = None
        self.https_endpoint: EventsEndpoint | None = None
        self.tls: LocalTls | None = None
        self._tls_dir = tls_dir  # None: a directory of its own (sandboxes running side by side each have their own)
        self._schedules: OneTimeSchedules | None = None
        self.settings = {**DEFAULT_SETTINGS, **(settings or {})}
        self._on_sms = on_sms
        self._mock = mock_aws(config=MOTO_CONFIG)
        self._endpoint = LocalEndpoint(port=port)
        self.gateway: SmsGateway | None = None
        self.runtime: LocalLambdaRuntime | None = None
        self.deployed: DeployedStack | None = None

    @property
    def endpoint(self) -> str:
        """The URL to pass as --endpoint-url."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def events_url(self) -> str:
        """Where to POST Events API v2 events (the deployed AlertEvents function behind it)."""
        assert self.events_endpoint is not None, "the sandbox is not started"
        return self.events_endpoint.url

    @property
    def https_base_url(self) -> str:
        """The same endpoint over https (its authority: tls.ca_file), for the clients that insist on https."""
        assert self.https_endpoint is not None, "the sandbox is not started"
        return self.https_endpoint.base_url

    def _beat(self, token: str, method: str) -> tuple[int, dict[str, Any]]:
        """A heartbeat URL, answered by the deployed beat function as API Gateway's proxy integration would."""
        assert self.deployed is not None
        event = heartbeat_event(token)
        event["httpMethod"] = event["requestContext"]["httpMethod"] = method
        response = boto3.client("lambda", region_name=REGION).invoke(
            FunctionName=self.deployed.function_name("HeartbeatsHeartbeatEvents"), Payload=json.dumps(event).encode()
        )
        payload = json.loads(response["Payload"].read() or b"null")
        if "FunctionError" in response or not isinstance(payload, dict) or "statusCode" not in payload:
            return 502, {"message": "Internal server error"}
        return int(payload["statusCode"]), json.loads(payload.get("body") or "{}")

    def start(self) -> Sandbox:
        """Synthesize, deploy into moto, and start serving."""
        cdk_out = synthesize(self.settings)
        os.environ.update(FAKE_ENV)
        self._mock.start()
        self._endpoint.start()  # the functions' workers call it too, so it serves before the deploy
        self.gateway = SmsGateway(origination_numbers={PHONE_NUMBER_ID: ORIGINATION_NUMBER}).install()
        self._endpoint.serve_sms(self.gateway)
        self.runtime = LocalLambdaRuntime(endpoint_url=self._endpoint.url, region_name=REGION).install()
        self.deployed = deploy_cdk_out(cdk_out, STACK_NAME, region_name=REGION)
        template = load_stack(cdk_out, STACK_NAME).template  # delivery receipts: moto has no configuration sets
        for name, topic_arn, _ in configuration_set_destinations(template, self.deployed.physical_ids):
            self.gateway.add_event_destination(name, topic_arn)
        self.runtime.register_all(self.deployed.functions)
        self.runtime.initialize()  # the init phase of each function, as on AWS
        if self._on_sms is not None:
            self.gateway.on_message(self._on_sms)
        alerts = AlertsGateway(self.deployed.function_name("AlertEvents"), region=REGION)
        self.events_endpoint = EventsEndpoint(alerts, port=self.events_port, beat=self._beat).start()
        self.tls = make_local_tls(self._tls_dir or Path(tempfile.mkdtemp(prefix="sandbox-tls-")))
        self.https_endpoint = EventsEndpoint(alerts, port=self.https_port, beat=self._beat, tls=self.tls.server_context()).start()
        set_output(self.deployed, "EventsApiUrl", self.events_url)  # what `incidents integrations create` prints
        # moto's CloudFormation has no Scheduler: the groups are made here, and due one-time schedules fired.
        scheduler = boto3.client("scheduler", region_name=REGION)  # heartbeat deadlines, window edges, calls
        for group in ("HeartbeatScheduleGroup", "MaintenanceScheduleGroup", "VoiceScheduleGroup"):
            if group in self.deployed.outputs:  # calls only when the settings turn them on (voiceAfterSeconds)
                scheduler.create_schedule_group(Name=self.deployed.outputs[group])
        self._schedules = OneTimeSchedules(REGION).start()
        return self

    def stop(self) -> None:
        """Stop serving, drain executions, remove every patch."""
        if self._schedules is not None:
            self._schedules.stop()
        for endpoint in (self.events_endpoint, self.https_endpoint):
            if endpoint is not None:
                endpoint.stop()
        try:
            drain_executions(10, region_name=REGION)
        finally:  # whatever the drain met, nothing of this sandbox stays installed for the next one
            if self.runtime is not None:
                self.runtime.uninstall()
            self._endpoint.stop()
            if self.gateway is not None:
                self.gateway.uninstall()
            self._mock.stop()

    def instructions(self) -> str:
        """What to type in a second terminal."""
        assert self.deployed is not None and self.tls is not None
        table = self.deployed.outputs["IncidentsTableName"]
        return "\n".join(
            [
                f"Emulated AWS account ready at {self.endpoint} (region {REGION}, any credentials).",
                f"Incidents table: {table}",
                "",
                "Open an incident from another terminal:",
                f"  aws --endpoint-url {self.endpoint} --region {REGION} dynamodb put-item --table-name {table} \\",
                "      --item file://tests/data/seed_incident_item.json",
                "  (or: .venv/bin/python -m sandbox put-item ITEM.json)",
                "Answer as a phone:",
                '  .venv/bin/python -m sandbox reply +447700900001 "no"',
                "Look at the item:",
                f"  aws --endpoint-url {self.endpoint} --region {REGION} dynamodb get-item --table-name {table} "
                '--key \'{"incident_id": {"S": "123"}}\'',
                "",
                f"Events API v2 endpoint (POST PagerDuty / Alertmanager events): {self.events_url}",
                f"  over https: {self.https_base_url}/v2/enqueue (base URL for PagerDuty client libraries: "
                f"{self.https_base_url})",
                f"  trust its certificate: SSL_CERT_FILE / REQUESTS_CA_BUNDLE / NODE_EXTRA_CA_CERTS={self.tls.ca_file}",
                f"  routing keys: create an integration in {self.deployed.outputs['IntegrationsTableName']} (docs/alerts.md)",
                f"Heartbeats: POST {self.events_url.removesuffix('/v2/enqueue')}/v2/heartbeat/<token> (`incidents heartbeats`)",
                "",
                "Texts sent appear below. Ctrl-C stops the sandbox.",
            ]
        )


def dynamodb_clients(endpoint: str) -> tuple[Any, Any]:
    """A DynamoDB client and resource for the running sandbox at endpoint."""
    # moto accepts any credentials; these are placeholders, not secrets.
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)  # noqa: S106
    return session.client("dynamodb", endpoint_url=endpoint), session.resource("dynamodb", endpoint_url=endpoint)


def table_named(client: Any, fragment: str) -> str:
    """The name of the sandbox's table with fragment in its name (Incidents, Messages...)."""
    names = [name for name in client.list_tables()["TableNames"] if fragment in name]
    if not names:
        raise LookupError(f"no table with {fragment!r} in its name at the endpoint: is the sandbox running?")
    return str(names[0])


def put_item(endpoint: str, item: dict[str, Any]) -> str:
    """Write an incident item (DynamoDB JSON) into the sandbox's incidents table; returns the table name."""
    client, _ = dynamodb_clients(endpoint)
    table = table_named(client, "Incidents")
    client.put_item(TableName=table, Item=item)
    return table


def reply(endpoint: str, from_number: str, body: str) -> dict[str, str]:
    """Answer as a phone: the sandbox's SMS gateway publishes the two-way payload End User Messaging would."""
    request = urllib.request.Request(  # noqa: S310 - the URL is the local endpoint given on the command line
        endpoint + REPLY_PATH,
        data=json.dumps({"from": from_number, "body": body}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            payload: dict[str, str] = json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise LookupError(json.loads(error.read()).get("message", str(error))) from None
    except urllib.error.URLError as error:
        raise LookupError(f"Could not connect to {endpoint}: is the sandbox running? ({error.reason})") from None
    return payload


def serve_forever(port: int, settings: dict[str, Any]) -> None:
    """Run the sandbox until Ctrl-C, printing every text sent."""

    def show(message: SentSms) -> None:
        print(f"SMS -> {message.to} [{message.segments} segment(s), {message.encoding}] {message.body}", flush=True)

    sandbox = Sandbox(port=port, settings=settings, on_sms=show, tls_dir=CACHE / "tls").start()
    print(sandbox.instructions(), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("\nStopping.")
    finally:
        sandbox.stop()
