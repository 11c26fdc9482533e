"""The senders' examples in docs/examples, run as a user runs them, against the sandbox over https (and http).

PagerDuty's client libraries take a base URL (pdjs: a host) and add /v2/enqueue themselves; the official Python
client and pdjs refuse anything but https, so the sandbox serves https with a certificate from a throwaway local
authority, which each client is told to trust the way its docs say (SSL_CERT_FILE, REQUESTS_CA_BUNDLE,
NODE_EXTRA_CA_CERTS). Alertmanager, Grafana and Zabbix are given the full URL: their exact bodies are posted to it.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from escalation.alerts.heartbeat_monitors import create_monitor
from escalation.alerts.integrations import create_integration
from sandbox.server import Sandbox
from sandbox.sms_messages import SentSms
from tests.conftest import REPO_ROOT
from tests.sandbox.test_server import _free_port, _wait_for

pytestmark = pytest.mark.xdist_group("sandbox-server")

EXAMPLES = REPO_ROOT / "docs" / "examples"
SUMMARY = "Disk 95% full on db-1"


@dataclass
class Running:
    sandbox: Sandbox
    sent: list[SentSms]
    integrations: Any
    incidents: Any

    def integration(self, name: str, contact: str) -> str:
        """A new integration paging contact; its routing key."""
        key: str = create_integration(self.integrations, name, contacts=[contact])["routing_key"]
        return key

    def texts_to(self, number: str) -> list[str]:
        return [message.body for message in self.sent if message.to == number]

    def incident_for(self, dedup_key: str) -> dict[str, Any]:
        items = self.incidents.scan()["Items"]
        (item,) = [item for item in items if item.get("dedup_key") == dedup_key]
        return dict(item)


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    sent: list[SentSms] = []
    sandbox = Sandbox(
        port=_free_port(), settings={"ackTimeoutSeconds": 60}, on_sms=sent.append, events_port=_free_port(),
        https_port=_free_port(),
    ).start()  # fmt: skip
    assert sandbox.deployed is not None
    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="eu-west-2")
    dynamodb = session.resource("dynamodb", endpoint_url=sandbox.endpoint)
    try:
        yield Running(
            sandbox, sent, dynamodb.Table(sandbox.deployed.outputs["IntegrationsTableName"]),
            dynamodb.Table(sandbox.deployed.outputs["IncidentsTableName"]),
        )  # fmt: skip
    finally:
        sandbox.stop()


def _run(command: list[str], env: dict[str, str], *args: str) -> str:
    """Run an example as a user would; its one output line (it must succeed)."""
    clean = {key: value for key, value in os.environ.items() if not key.endswith(("_PROXY", "_proxy"))}
    for key in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "CURL_CA_BUNDLE"):
        clean.pop(key, None)  # only what the example's docs say to set
    done = subprocess.run([*command, *args], env={**clean, **env}, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    return line


def _pages_then_resolves(running: Running, command: list[str], env: dict[str, str], contact: str) -> None:
    """The example triggers one incident, paged with its summary and link; the same example resolves it."""
    dedup_key = _run(command, env).removeprefix("triggered ")
    _wait_for(lambda: bool(running.texts_to(contact)), "the page")
    page = running.texts_to(contact)[0]
    assert SUMMARY in page and "https://runbooks.example.com/disk-full" in page, page
    assert _run(command, env, "--resolve", dedup_key) == f"resolved {dedup_key}"
    _wait_for(lambda: running.incident_for(dedup_key)["incident_stat"] == "resolved", "the resolve")


@pytest.mark.parametrize(
    ("example", "env_name"), [("pagerduty_python.py", "SSL_CERT_FILE"), ("pdpyras_python.py", "REQUESTS_CA_BUNDLE")]
)
def test_a_python_client_library_given_the_https_base_url_pages_and_resolves(
    running: Running, example: str, env_name: str
) -> None:
    contact = "+447700900011" if example.startswith("pagerduty") else "+447700900012"
    key = running.integration(example.split("_", maxsplit=1)[0], contact)
    assert running.sandbox.tls is not None
    env = {"ROUTING_KEY": key, "EVENTS_BASE_URL": running.sandbox.https_base_url, env_name: str(running.sandbox.tls.ca_file)}
    assert running.sandbox.https_base_url.startswith("https://127.0.0.1:")
    _pages_then_resolves(running, [sys.executable, str(EXAMPLES / example)], env, contact)


def test_the_official_python_client_refuses_the_http_url_and_pdpyras_takes_it(running: Running) -> None:
    http_base = running.sandbox.events_url.removesuffix("/v2/enqueue")
    key = running.integration("pdpyras-http", "+447700900013")
    env = {"ROUTING_KEY": key, "EVENTS_BASE_URL": http_base}
    _pages_then_resolves(running, [sys.executable, str(EXAMPLES / "pdpyras_python.py")], env, "+447700900013")
    refused = subprocess.run(
        [sys.executable, str(EXAMPLES / "pagerduty_python.py")], env={**os.environ, **env},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert refused.returncode != 0 and "https" in refused.stderr


def test_pdjs_given_the_https_host_pages_and_resolves(running: Running) -> None:
    node = shutil.which("node")
    assert node is not None, "Node.js is part of what this project needs (CDK)"
    assert (REPO_ROOT / "node_modules" / "@pagerduty" / "pdjs").is_dir(), "make setup installs pdjs (package.json)"
    assert running.sandbox.tls is not None
    key = running.integration("pdjs", "+447700900014")
    env = {
        "ROUTING_KEY": key,
        "EVENTS_HOST": running.sandbox.https_base_url.removeprefix("https://"),
        "NODE_EXTRA_CA_CERTS": str(running.sandbox.tls.ca_file),
    }
    _pages_then_resolves(running, [node, str(EXAMPLES / "pdjs.js")], env, "+447700900014")


def _post(url: str, body: bytes, context: ssl.SSLContext | None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.parametrize("body", ["alertmanager_firing.json", "grafana_firing.json", "zabbix_problem.json"])
def test_full_url_senders_bodies_are_accepted_over_https(running: Running, fixtures_dir: Path, body: str) -> None:
    assert running.sandbox.tls is not None
    key = running.integration(body.split("_", maxsplit=1)[0] + "-https", "+447700900015")
    sent = json.loads((fixtures_dir / body).read_text()) | {"routing_key": key}
    url = running.sandbox.https_base_url + "/v2/enqueue"
    status, answer = _post(url, json.dumps(sent).encode(), running.sandbox.tls.client_context())
    assert (status, answer["status"]) == (202, "success"), answer
    with pytest.raises(urllib.error.URLError) as refused:  # a client that does not trust the local authority refuses it
        urllib.request.urlopen(url, data=b"{}", timeout=30, context=ssl.create_default_context())
    assert isinstance(refused.value.reason, ssl.SSLCertVerificationError)


def test_a_body_that_is_not_utf8_gets_a_400_over_https(running: Running) -> None:
    assert running.sandbox.tls is not None
    url = running.sandbox.https_base_url + "/v2/enqueue"
    status, answer = _post(url, b'{"routing_key": "\xff\xfe"}', running.sandbox.tls.client_context())
    assert status == 400, answer


def test_the_heartbeat_url_is_served_over_http_and_https(running: Running) -> None:
    assert running.sandbox.tls is not None
    running.integration("nightly-backup", "+447700900016")
    token = create_monitor(running.integrations, "backup", integration="nightly-backup", interval_seconds=86_400)["token"]
    for base, context in (
        (running.sandbox.events_url.removesuffix("/v2/enqueue"), None),
        (running.sandbox.https_base_url, running.sandbox.tls.client_context()),
    ):
        status, answer = _post(f"{base}/v2/heartbeat/{token}", b"", context)
        assert status == 200, answer
    status, _ = _post(f"{running.sandbox.https_base_url}/v2/heartbeat/not-a-token", b"", running.sandbox.tls.client_context())
    assert status == 404
    # A GET (a link preview of a pasted URL) is no beat: 405, as API Gateway answers it.
    get = urllib.request.Request(f"{running.sandbox.https_base_url}/v2/heartbeat/{token}", method="GET")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(get, timeout=30, context=running.sandbox.tls.client_context())
    assert refused.value.code == 405
    assert f"{running.sandbox.https_base_url}/v2/enqueue" in running.sandbox.instructions()
