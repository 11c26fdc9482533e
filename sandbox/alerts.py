"""Alerts in the sandbox: the Events API v2 endpoint over local HTTP, and CloudWatch alarm events via EventBridge.

Both reach the deployed AlertEvents function as on AWS: an endpoint request becomes the API Gateway REST
proxy event its integration would pass (invoked synchronously, its response returned as the HTTP
response); an alarm state change becomes EventBridge's `CloudWatch Alarm State Change` event, checked
against the deployed rule's pattern and sent to the rule's target asynchronously (retries and the
dead-letter destination as deployed). Alarms are created in moto's CloudWatch so their tags can be read.
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
import sys
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
from moto.events.models import EventPattern

ENQUEUE_PATH = "/v2/enqueue"
HEARTBEAT_PREFIX = "/v2/heartbeat/"  # POST (or GET) /v2/heartbeat/<token>: a monitor's beat (docs/heartbeats.md)
NOT_SERVED = {"message": f"only POST {ENQUEUE_PATH} and {HEARTBEAT_PREFIX}<token> are served here"}
INTEGRATION_TAG = "incident-escalation:integration"  # lambdas/escalation/alerts/alarms.py
ALARM_STATES = ("ALARM", "OK", "INSUFFICIENT_DATA")
REASONS = {
    "ALARM": "Threshold Crossed: 1 out of the last 1 datapoints [97.5] was greater than the threshold (90.0)",
    "OK": "Threshold Crossed: 1 out of the last 1 datapoints [12.0] was not greater than the threshold (90.0)",
    "INSUFFICIENT_DATA": "Insufficient Data: 1 datapoint was unknown",
}


def proxy_event(body: str, *, request_id: str | None = None, path: str = ENQUEUE_PATH) -> dict[str, Any]:
    """The API Gateway REST proxy-integration event for `POST /v2/enqueue` with this body."""
    request_id = request_id or str(uuid.uuid4())
    return {
        "resource": "/enqueue",
        "path": path,
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"Content-Type": ["application/json"]},
        "queryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "requestId": request_id,
            "stage": "v2",
            "httpMethod": "POST",
            "resourcePath": "/enqueue",
            "path": f"/v2{path.removeprefix('/v2')}",
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": body,
        "isBase64Encoded": False,
    }


class AlertsGateway:
    """The deployed alerts function and rule, reached as API Gateway and EventBridge would reach them."""

    def __init__(self, function_name: str, *, region: str) -> None:
        self.function_name = function_name
        self.region = region
        self._lambda = boto3.client("lambda", region_name=region)
        self._events = boto3.client("events", region_name=region)
        self._cloudwatch = boto3.client("cloudwatch", region_name=region)
        self._account = boto3.client("sts", region_name=region).get_caller_identity()["Account"]

    def post(self, body: str | bytes) -> tuple[int, dict[str, Any]]:
        """POST a body to the endpoint: (status, response body), as API Gateway's proxy integration answers.

        A body that is not UTF-8 reaches the function base64-encoded with ``isBase64Encoded``, as API Gateway
        passes a body it cannot pass as text; the function decides what to answer.
        """
        event = proxy_event(body if isinstance(body, str) else "")
        if isinstance(body, bytes):
            try:
                event["body"] = body.decode("utf-8")
            except UnicodeDecodeError:
                event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode("ascii"), True
        response = self._lambda.invoke(FunctionName=self.function_name, Payload=json.dumps(event).encode())
        payload = json.loads(response["Payload"].read() or b"null")
        if "FunctionError" in response or not isinstance(payload, dict) or "statusCode" not in payload:
            return 502, {"message": "Internal server error"}  # what API Gateway answers for a failed integration
        return int(payload["statusCode"]), json.loads(payload.get("body") or "{}")

    def alarm(self, name: str, *, integration: str | None = None) -> str:
        """Create (or update) a metric alarm in moto, tagged with the integration it pages; its ARN."""
        tags = [{"Key": INTEGRATION_TAG, "Value": integration}] if integration else []
        self._cloudwatch.put_metric_alarm(
            AlarmName=name,
            MetricName="CPUUtilization",
            Namespace="AWS/RDS",
            Statistic="Average",
            Period=60,
            EvaluationPeriods=1,
            Threshold=90,
            ComparisonOperator="GreaterThanThreshold",
            Tags=tags,
        )
        arn: str = self._cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"]
        return arn

    def state_change_event(self, arn: str, name: str, state: str, previous: str, at: datetime) -> dict[str, Any]:
        """EventBridge's `CloudWatch Alarm State Change` event (tests/data/cloudwatch_alarm_state_change.json)."""
        stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "CloudWatch Alarm State Change",
            "source": "aws.cloudwatch",
            "account": self._account,
            "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": [arn],
            "detail": {
                "alarmName": name,
                "configuration": {"description": f"{name} (sandbox)", "metrics": []},
                "previousState": {"reason": REASONS[previous], "timestamp": stamp, "value": previous},
                "state": {"reason": REASONS[state], "timestamp": stamp, "value": state},
            },
        }

    def deliver(self, event: dict[str, Any]) -> list[str]:
        """Send event to the target of every deployed rule whose pattern matches it; the targets reached."""
        reached = []
        for rule in self._events.list_rules()["Rules"]:
            if not EventPattern.load(rule.get("EventPattern")).matches_event(event):  # type: ignore[arg-type]
                continue
            for target in self._events.list_targets_by_rule(Rule=rule["Name"])["Targets"]:
                self._lambda.invoke(FunctionName=target["Arn"], InvocationType="Event", Payload=json.dumps(event).encode())
                reached.append(target["Arn"])
        return reached


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up on the TLS handshake (it does not trust the local authority) is its own business."""
        if not isinstance(sys.exc_info()[1], ssl.SSLError | ConnectionError):
            super().handle_error(request, client_address)


class EventsEndpoint:
    """`POST http(s)://127.0.0.1:<port>/v2/enqueue` and `/v2/heartbeat/<token>`, served through the deployed functions.

    tls: serve https with this context (sandbox/tls.py); the handshake happens on the request's own thread, so a
    client that never finishes it holds up nobody else. beat: answers a heartbeat token as the deployed beat
    function does (None: heartbeat URLs get 404).
    """

    def __init__(
        self,
        gateway: AlertsGateway,
        *,
        port: int,
        host: str = "127.0.0.1",
        tls: ssl.SSLContext | None = None,
        beat: Callable[[str, str], tuple[int, dict[str, Any]]] | None = None,
    ) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _beat(self, method: str) -> bool:
                path = self.path.split("?", 1)[0]
                if beat is None or not path.startswith(HEARTBEAT_PREFIX):
                    return False
                outer._answer(self, *beat(path.removeprefix(HEARTBEAT_PREFIX), method))
                return True

            def do_GET(self) -> None:
                if not self._beat("GET"):
                    outer._answer(self, 404, NOT_SERVED)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self._beat("POST"):
                    return
                if self.path.split("?", 1)[0] != ENQUEUE_PATH:
                    outer._answer(self, 404, NOT_SERVED)
                    return
                try:
                    status, answer = gateway.post(body)
                except Exception:  # every request gets an answer, as API Gateway gives one
                    logging.getLogger(__name__).exception("the events endpoint could not reach the function")
                    status, answer = 502, {"message": "Internal server error"}
                outer._answer(self, status, answer)

            def log_message(self, format: str, *args: Any) -> None:
                return  # the sandbox prints texts, not access logs

        self._server = _Server((host, port), Handler)
        self._scheme = "http"
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True, do_handshake_on_connect=False)
            self._scheme = "https"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="sandbox-events-endpoint")

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    @property
    def base_url(self) -> str:
        """What a PagerDuty client library is given (it adds /v2/enqueue itself)."""
        host, port = self._server.server_address[:2]
        return f"{self._scheme}://{host!s}:{port}"

    @property
    def url(self) -> str:
        """Where to POST events: the full URL (Alertmanager, Grafana, Zabbix, curl)."""
        return self.base_url + ENQUEUE_PATH

    def start(self) -> EventsEndpoint:
        """Serve on a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
