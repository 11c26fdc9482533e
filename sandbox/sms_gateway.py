"""A fake of AWS End User Messaging SMS (``pinpoint-sms-voice-v2``) with scriptable phones.

The gateway answers two ways, with the same logic:

* over HTTP, for the functions' worker processes: the sandbox's local endpoint
  (``sandbox.runtime.endpoint``) hands it every request whose ``X-Amz-Target`` is
  ``PinpointSMSVoiceV2.*`` (``handle_request``), and the gateway validates it against the real
  service model before answering, as the service does;
* in-process: ``install()`` registers botocore ``before-call`` handlers on boto3's default session
  (inside ``mock_aws``), for calls made by the sandbox's own process, such as the stack's
  two-way ``UpdatePhoneNumber`` custom resource at deploy time.

Operations:

* ``SendTextMessage``: the message is recorded (``SentSms``) and delivered to the scripted phones;
  answers ``{"MessageId": ...}``. ``fail_next()`` makes the next send fail with a service error.
* ``UpdatePhoneNumber`` (what the stack's AwsCustomResource calls to turn two-way SMS on): the
  two-way channel is remembered, so replies to messages sent from that identity go to that topic.
* ``CreateEventDestination`` (what the stack's AwsCustomResource calls on a configuration set managed
  elsewhere): an SNS destination is remembered, as are those of the template's own configuration set
  (``add_event_destination``, from ``sandbox.receipts.configuration_set_destinations``).

The phones (``sandbox.sms_phones``: what each was sent, scripted replies, delivery receipts) and the
records (``sandbox.sms_messages``) live beside this module.

Delivery receipts: for each text whose send names a configuration set with an SNS event destination, the
text event its phone's script says (``sandbox.receipts``; by default TEXT_DELIVERED 0.2 s later, priced
per part) is published to the destination topic through moto's SNS, where the stack's subscription hands
it to the receipts function. Like replies, pending events count in ``pending_replies``.

Replies are published to the inbound SNS topic with the documented inbound payload, through
moto's SNS, so the reply handler receives what it would receive on AWS. As on the real service
(SMS has no threads), ``previousPublishedMessageId`` is the last message sent to that phone when
the reply arrives, whatever message the person meant to answer.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any, cast

import boto3
import botocore.session
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import ParamValidationError
from botocore.model import OperationNotFoundError, ServiceModel
from botocore.validate import validate_parameters

from .sms_messages import SentSms
from .sms_phones import SmsPhones
from .voice import send_voice

SERVICE_ID = "pinpoint-sms-voice-v2"


def _http_response(status: int) -> AWSResponse:
    """What botocore expects as the HTTP half of a short-circuited call."""
    return AWSResponse(f"https://sms-voice.sandbox.invalid/{status}", status, HTTPHeaders(), None)


def _metadata(status: int = 200) -> dict[str, Any]:
    return {"RequestId": str(uuid.uuid4()), "HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0}


class SmsGateway(SmsPhones):
    """The fake SMS service: records sends, drives scripted phones, publishes replies."""

    # -- installation -------------------------------------------------------------------------------

    def install(self) -> SmsGateway:
        """Register the botocore hooks on boto3's default session (inside mock_aws)."""
        session = boto3._get_default_session()
        events = session.events
        # before-call handlers may return a response; the stubs type every handler as returning None
        on_send = cast(Callable[..., None], self._on_send)
        on_update = cast(Callable[..., None], self._on_update_phone_number)
        on_destination = cast(Callable[..., None], self._on_create_event_destination)
        events.register(f"before-call.{SERVICE_ID}.SendTextMessage", on_send, unique_id=f"sandbox-sms-{id(self)}")
        events.register(f"before-call.{SERVICE_ID}.UpdatePhoneNumber", on_update, unique_id=f"sandbox-sms-two-way-{id(self)}")
        events.register(
            f"before-call.{SERVICE_ID}.CreateEventDestination", on_destination, unique_id=f"sandbox-sms-events-{id(self)}"
        )
        self._session = session
        self._closing.clear()
        return self

    def uninstall(self) -> None:
        """Remove the hooks and cancel replies not yet published; safe to call twice."""
        # A reply published after mock_aws ends would go to the real AWS endpoint
        self._closing.set()
        if self._session is None:
            return
        events = self._session.events
        events.unregister(f"before-call.{SERVICE_ID}.SendTextMessage", unique_id=f"sandbox-sms-{id(self)}")
        events.unregister(f"before-call.{SERVICE_ID}.UpdatePhoneNumber", unique_id=f"sandbox-sms-two-way-{id(self)}")
        events.unregister(f"before-call.{SERVICE_ID}.CreateEventDestination", unique_id=f"sandbox-sms-events-{id(self)}")
        self._session = None

    def __enter__(self) -> SmsGateway:
        """Install on entering a with block."""
        return self.install()

    def __exit__(self, *exc_info: object) -> None:
        """Uninstall on leaving a with block (pending replies are cancelled, see wait_replies)."""
        self.uninstall()

    # -- scripted failures --------------------------------------------------------------------------

    def fail_next(
        self,
        code: str = "ThrottlingException",
        message: str = "Rate exceeded",
        to: str | None = None,
        *,
        reason: str | None = None,
        fields: tuple[str, ...] = (),
        after_sms: int = 0,
    ) -> None:
        """Make the next send (to the given number, or any) fail with this service error.

        after_sms: only once that many texts were sent to the number (1: its page went out, the next text fails).

        reason and fields are the error's ``Reason`` and ``Fields`` members, as the service sends
        them (for example ``ConflictException`` with ``DESTINATION_PHONE_NUMBER_OPTED_OUT``); both
        are checked against the service model. Over HTTP the SDK's own retries of that call fail
        too, so the caller sees the error.
        """
        body: dict[str, Any] = {"__type": code, "message": message}
        if reason is not None or fields:
            shape = _error_shape(code)
            if reason is not None:
                allowed = getattr(shape.members.get("Reason"), "enum", None) if shape is not None else None
                if not allowed or reason not in allowed:
                    raise ValueError(f"{code} has no Reason {reason!r} in the service model")
                body["Reason"] = reason
            if fields:
                if shape is None or "Fields" not in shape.members:
                    raise ValueError(f"{code} has no Fields in the service model")
                body["Fields"] = [{"Name": name, "Message": message} for name in fields]
        with self._lock:
            self._failures.append((body, to, after_sms))

    # -- requests (HTTP and in-process) -------------------------------------------------------------

    def handle_request(self, operation: str, body: bytes, invocation_id: str | None = None) -> tuple[int, dict[str, Any]]:
        """Answer one JSON-protocol request: (HTTP status, response or ``{"__type", "message"}``).

        invocation_id is the SDK's ``amz-sdk-invocation-id``, the same on every retry of one call.
        """
        try:
            request = json.loads(body or b"{}")
            operation_model = _service_model().operation_model(operation)
        except (ValueError, OperationNotFoundError) as error:
            return 400, {"__type": "ValidationException", "message": f"{operation}: {error}"}
        try:
            if operation_model.input_shape is not None:
                validate_parameters(request, operation_model.input_shape)
        except ParamValidationError as error:
            return 400, {"__type": "ValidationException", "message": str(error)}
        if operation == "SendTextMessage":
            return self._send(request, invocation_id)
        if operation == "SendVoiceMessage":
            return send_voice(self, request)  # sandbox.voice
        if operation == "UpdatePhoneNumber":
            return self._update_phone_number(request)
        if operation == "CreateEventDestination":
            return self._create_event_destination(request)
        with self._lock:
            self.other_calls.append((operation, request))
        return 400, {"__type": "ValidationException", "message": f"{operation} is not emulated by the sandbox"}

    def handle_reply_request(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """``{"from": number, "body": text}``: publish that phone's reply; answer with the payload."""
        try:
            request = json.loads(body or b"{}")
            inbound = self.reply(str(request["from"]), str(request["body"]))
        except (ValueError, KeyError, LookupError) as error:
            return 400, {"__type": "ValidationException", "message": str(error)}
        return 200, dict(inbound.payload)

    def _send(self, request: Mapping[str, Any], invocation_id: str | None = None) -> tuple[int, dict[str, Any]]:
        to = request["DestinationPhoneNumber"]
        with self._lock:
            # A scripted failure fails one call: every attempt the SDK makes of it (its own retries)
            failure = self._failing_calls.get(invocation_id) if invocation_id else None
            if failure is None:
                delivered = sum(1 for sent in self.sent if sent.to == to)
                failure = next((f for f in self._failures if f[1] in (None, to) and delivered >= f[2]), None)
                if failure is not None:
                    self._failures.remove(failure)
                    if invocation_id:
                        self._failing_calls[invocation_id] = failure
        if failure is not None:
            return 400, dict(failure[0])
        segments, encoding = self.count_segments(request["MessageBody"])
        message = SentSms(
            message_id=str(uuid.uuid4()),
            at=dt.datetime.now(dt.UTC),
            to=to,
            origination_identity=request.get("OriginationIdentity", ""),
            body=request["MessageBody"],
            message_type=request.get("MessageType"),
            context=dict(request.get("Context") or {}),
            segments=segments,
            encoding=encoding,
            request=request,
        )
        with self._lock:
            self.sent.append(message)
            listeners = list(self._listeners)
        for listener in listeners:
            listener(message)
        self._schedule_receipt(message)
        return 200, {"MessageId": message.message_id}

    def _create_event_destination(self, request: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.other_calls.append(("CreateEventDestination", request))
        topic = (request.get("SnsDestination") or {}).get("TopicArn")
        if topic:
            self.add_event_destination(request["ConfigurationSetName"], topic)
        name = str(request["ConfigurationSetName"]).rsplit("configuration-set/", 1)[-1]
        destination = {
            key: request[key] for key in ("EventDestinationName", "MatchingEventTypes", "SnsDestination") if key in request
        }
        return 200, {"ConfigurationSetName": name, "EventDestination": {**destination, "Enabled": True}}

    def _update_phone_number(self, request: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        phone_id = request["PhoneNumberId"]
        with self._lock:
            self.other_calls.append(("UpdatePhoneNumber", request))
            if request.get("TwoWayEnabled") and request.get("TwoWayChannelArn"):
                self.two_way_channels[phone_id] = request["TwoWayChannelArn"]
            elif request.get("TwoWayEnabled") is False:
                self.two_way_channels.pop(phone_id, None)
        response = {
            "PhoneNumberId": phone_id,
            "PhoneNumber": self.origination_numbers.get(phone_id, phone_id),
            "Status": "ACTIVE",
            "TwoWayEnabled": bool(request.get("TwoWayEnabled")),
        }
        if request.get("TwoWayChannelArn"):
            response["TwoWayChannelArn"] = request["TwoWayChannelArn"]
        return 200, response

    def _on_send(self, params: Mapping[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        return _as_botocore(*self._send(json.loads(params["body"] or b"{}")))

    def _on_update_phone_number(self, params: Mapping[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        return _as_botocore(*self._update_phone_number(json.loads(params["body"] or b"{}")))

    def _on_create_event_destination(self, params: Mapping[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        return _as_botocore(*self._create_event_destination(json.loads(params["body"] or b"{}")))


def _as_botocore(status: int, answer: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
    """A before-call handler's answer: the HTTP half and the parsed response (or error)."""
    if status != 200:
        members = {key: value for key, value in answer.items() if key not in ("__type", "message")}
        error = {
            "Error": {"Code": answer["__type"], "Message": answer["message"]},
            **members,  # modeled members (Reason, Fields) sit beside Error, as botocore parses them
            "ResponseMetadata": _metadata(status),
        }
        return _http_response(status), error
    return _http_response(status), {**answer, "ResponseMetadata": _metadata()}


_SERVICE_MODEL: list[ServiceModel] = []


def _error_shape(code: str) -> Any:
    """The service model's shape for an error code, or None."""
    try:
        return _service_model().shape_for(code)
    except Exception:  # botocore raises NoShapeFoundError for unknown names
        return None


def _service_model() -> ServiceModel:
    """The real service model of pinpoint-sms-voice-v2 (loaded once)."""
    if not _SERVICE_MODEL:
        _SERVICE_MODEL.append(botocore.session.get_session().get_service_model(SERVICE_ID))
    return _SERVICE_MODEL[0]
