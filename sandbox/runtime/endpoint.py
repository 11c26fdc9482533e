"""The sandbox's one local endpoint: moto in server mode plus the SMS gateway, over HTTP.

Worker processes reach AWS through ``AWS_ENDPOINT_URL`` set to this endpoint; so can a person
(``make sandbox``) with ``aws --endpoint-url``. Requests are routed by what they are:

* ``X-Amz-Target: PinpointSMSVoiceV2.*`` (AWS End User Messaging SMS, which moto lacks): answered
  by the ``SmsGateway``, which validates the request against the botocore service model, as the
  real service validates it;
* ``POST /_sandbox/sms/reply`` (``{"from": ..., "body": ...}``): a phone's reply, published by the
  gateway to the two-way channel as the real service would (``python -m sandbox reply``);
* Lambda API calls: moto, without the API lock (an invocation waits for a handler that itself
  calls moto);
* anything else: moto, holding ``sandbox.moto_patches.API_LOCK`` for the duration of the call, so
  each call is atomic as on AWS while handlers interleave between their calls.

It serves the same moto backends as the in-process ``mock_aws`` of the process that starts it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from ..moto_patches import API_LOCK, is_lambda_call

if TYPE_CHECKING:
    from ..sms_gateway import SmsGateway

SMS_TARGET_PREFIX = "PinpointSMSVoiceV2."
REPLY_PATH = "/_sandbox/sms/reply"
StartResponse = Callable[..., Any]


class _Router:
    """WSGI application: the SMS gateway, or moto (under the API lock unless it is Lambda)."""

    def __init__(self, moto_app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]]) -> None:
        self.moto_app = moto_app
        self.gateway: SmsGateway | None = None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        path = str(environ.get("PATH_INFO", ""))
        if target.startswith(SMS_TARGET_PREFIX) or path == REPLY_PATH:
            return self._sms(environ, start_response, target.removeprefix(SMS_TARGET_PREFIX), path == REPLY_PATH)
        url = f"http://{environ.get('HTTP_HOST', '')}{path}"
        if is_lambda_call(url, str(environ.get("HTTP_AUTHORIZATION", ""))):
            return self.moto_app(environ, start_response)
        with API_LOCK:
            return list(self.moto_app(environ, start_response))  # the whole response inside the lock

    def _sms(self, environ: dict[str, Any], start_response: StartResponse, operation: str, reply: bool) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        if self.gateway is None:
            status, answer = 400, {"__type": "UnrecognizedClientException", "message": "no SMS gateway in this sandbox"}
        elif reply:
            status, answer = self.gateway.handle_reply_request(body)
        else:
            status, answer = self.gateway.handle_request(operation, body, environ.get("HTTP_AMZ_SDK_INVOCATION_ID"))
        data = json.dumps(answer, default=str).encode()
        reason = "OK" if status == 200 else "Bad Request"
        start_response(
            f"{status} {reason}",
            [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(data)))],
        )
        return [data]


class LocalEndpoint:
    """moto and the SMS gateway on http://127.0.0.1:<port> (port 0: any free port)."""

    def __init__(self, *, port: int = 0, host: str = "127.0.0.1") -> None:
        self._router = _Router(DomainDispatcherApplication(create_backend_app))
        self._host = host
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The endpoint URL (AWS_ENDPOINT_URL of every worker)."""
        if self._server is None:
            raise RuntimeError("the endpoint is not started")
        return f"http://{self._host}:{self._server.server_port}"

    def serve_sms(self, gateway: SmsGateway) -> None:
        """Answer End User Messaging SMS requests with this gateway."""
        self._router.gateway = gateway

    def start(self) -> LocalEndpoint:
        """Start serving on a background thread."""
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per HTTP request otherwise
        self._server = make_server(self._host, self._port, self._router, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="sandbox-endpoint")
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; safe to call twice."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> LocalEndpoint:
        """Start on entering a with block."""
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        """Stop on leaving a with block."""
        self.stop()
