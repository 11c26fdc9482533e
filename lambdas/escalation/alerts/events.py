"""Events API v2 (PagerDuty compatible) and CloudWatch alarm events: parsing and validation, no AWS calls.

A body is checked whole: every problem is reported as `<field>: <problem>` (PagerDuty's `errors` list),
and nothing is changed when there is one. What is checked follows PagerDuty's Events API v2:

- `routing_key`: 32 characters; `event_action`: trigger, acknowledge or resolve.
- `dedup_key`: at most 255 characters; required to acknowledge or resolve; a trigger without one gets one.
- `payload` (trigger): `summary` (1-1024 characters), `source`, `severity` (critical, error, warning, info)
  required; `component`, `group`, `class` strings; `custom_details` anything JSON.
- `links` [{href, text}], `images` [{src, href, alt}], `client`, `client_url`.

Liberal where PagerDuty documents nothing (Alertmanager and Zabbix do not retry a 400: the alert would be
lost): more than MAX_LINKS links keep the first ones, a numeric `dedup_key` is taken as its string, and a
`timestamp` that is not ISO 8601 is dropped; each is recorded in `normalised` on the incident.

What a trigger's incident carries (its page's description, url, details): escalation.alerts.page_facts.

The body itself: UTF-8, at most MAX_BODY_BYTES bytes (512,000, where Alertmanager and Grafana cut an event;
counted in bytes, not characters), and arrays and objects nested at most MAX_NESTING (32) levels deep, the
body itself being the first. Both limits are checked before the JSON is parsed, so no body can make the
parser recurse out of the stack. A body API Gateway passes base64 encoded (one that is not UTF-8) is decoded
first (parse_request).
"""

import base64
import binascii
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
MAX_BODY_BYTES = 512_000  # bytes of UTF-8; Alertmanager and Grafana send no PagerDuty event larger
MAX_NESTING = 32  # arrays and objects in one another, the body included: custom_details gets 30 levels
_STRING_OR_NOISE = re.compile(r'"(?:[^"\\]|\\.)*"|[^"\[\]{}]+', re.DOTALL)  # what cannot nest: strings, other text
MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255
MAX_STRING = 1024  # source, component, group, class, client, client_url, a link's href or text
MAX_LINKS = 20
MAX_DETAILS_BYTES = 4_096  # custom_details kept on the incident: JSON text, cut there (UTF-8 bytes)


class InvalidEvent(ValueError):
    """The event cannot be accepted; errors are `<field>: <problem>` strings."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class AlertEvent:
    """One checked event."""

    routing_key: str
    action: str
    dedup_key: str | None
    summary: str = ""
    source: str = ""
    severity: str = ""
    timestamp: str | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = None
    custom_details: Any = None
    links: tuple[dict[str, str], ...] = field(default_factory=tuple)
    client: str | None = None
    client_url: str | None = None
    normalised: tuple[str, ...] = ()  # what was accepted after a change (kept on the incident)


def _string(container: dict[str, Any], name: str, where: str, errors: list[str], *, required: bool, limit: int) -> str | None:
    value = container.get(name)
    if value is None:
        if required:
            errors.append(f"{where}{name}: is required")
        return None
    if not isinstance(value, str):
        errors.append(f"{where}{name}: must be a string")
        return None
    if required and not value.strip():
        errors.append(f"{where}{name}: must not be empty")
    if len(value) > limit:
        errors.append(f"{where}{name}: is {len(value)} characters long; the limit is {limit}")
    return value


def _links(body: dict[str, Any], errors: list[str], normalised: list[str]) -> tuple[dict[str, str], ...]:
    raw = body.get("links")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        errors.append("links: must be a list of {href, text}")
        return ()
    if len(raw) > MAX_LINKS:  # PagerDuty documents no limit: keep the first ones rather than lose the alert
        normalised.append(f"links: kept the first {MAX_LINKS} of {len(raw)}")
    links = []
    for index, link in enumerate(raw[:MAX_LINKS]):
        if not isinstance(link, dict):
            errors.append(f"links[{index}]: must be an object with href")
            continue
        href = _string(link, "href", f"links[{index}].", errors, required=True, limit=MAX_STRING)
        text = _string(link, "text", f"links[{index}].", errors, required=False, limit=MAX_STRING)
        if href:
            links.append({"href": href, "text": text or ""})
    return tuple(links)


def _images(body: dict[str, Any], errors: list[str]) -> None:
    raw = body.get("images")
    if raw is None:
        return
    if not isinstance(raw, list):
        errors.append("images: must be a list of {src, href, alt}")
        return
    for index, image in enumerate(raw):
        if not isinstance(image, dict):
            errors.append(f"images[{index}]: must be an object with src")
            continue
        _string(image, "src", f"images[{index}].", errors, required=True, limit=MAX_STRING)
        for name in ("href", "alt"):
            _string(image, name, f"images[{index}].", errors, required=False, limit=MAX_STRING)


def _timestamp(payload: dict[str, Any], normalised: list[str]) -> str | None:
    """The sender's timestamp when it is ISO 8601; anything else is dropped and recorded (the alert is kept)."""
    value = payload.get("timestamp")
    if value is None:
        return None
    if isinstance(value, str) and len(value) <= 64:
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return value
    normalised.append(f"payload.timestamp: dropped {str(value)[:64]!r}, not an ISO 8601 date and time")
    return None


def _nesting_exceeds(text: str, limit: int) -> bool:
    """True when arrays and objects nest more than limit deep (brackets in strings do not count); no recursion."""
    depth = 0
    for bracket in _STRING_OR_NOISE.sub("", text):
        if bracket in "[{":
            depth += 1
            if depth > limit:
                return True
        elif bracket in "]}":  # a stray quote (an unterminated string) is left for the parser to report
            depth = max(0, depth - 1)
    return False


def _decoded(raw: str | bytes) -> str:
    """The body as text, within the size and nesting limits; InvalidEvent naming the problem otherwise."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw  # what the sender sent, in bytes
    if len(data) > MAX_BODY_BYTES:
        raise InvalidEvent([f"body: is {len(data)} bytes; the limit is {MAX_BODY_BYTES}"])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidEvent([f"body: is not valid UTF-8 (byte 0x{data[error.start]:02x} at position {error.start})"]) from None
    if _nesting_exceeds(text, MAX_NESTING):
        raise InvalidEvent([f"body: nests arrays and objects more than {MAX_NESTING} levels deep; the limit is {MAX_NESTING}"])
    return text


def parse_request(request: dict[str, Any]) -> AlertEvent:
    """Check the body of an API Gateway proxy request (base64 decoded when so marked); InvalidEvent listing every problem."""
    raw: str | bytes = request.get("body") or ""
    if request.get("isBase64Encoded") and isinstance(raw, str):  # API Gateway's way with a body that is not UTF-8
        try:
            raw = base64.b64decode(raw, validate=True)
        except binascii.Error:
            raise InvalidEvent(["body: is marked base64 but is not"]) from None
    return parse_event(raw)


def parse_event(raw: str | bytes) -> AlertEvent:
    """Check one request body (text, or bytes as API Gateway passes a base64 body); raises InvalidEvent listing every problem."""
    text = _decoded(raw)
    try:
        body = json.loads(text)
    except ValueError as error:
        raise InvalidEvent([f"body: is not valid JSON ({error})"]) from error
    if not isinstance(body, dict):
        raise InvalidEvent(["body: must be a JSON object"])
    errors: list[str] = []
    routing_key = _string(body, "routing_key", "", errors, required=True, limit=64)
    if routing_key is not None and len(routing_key) != 32:
        errors.append("routing_key: must be 32 characters")
    action = body.get("event_action")
    if action not in ACTIONS:
        errors.append("event_action: " + ("is required" if action is None else f"must be one of {', '.join(ACTIONS)}"))
    normalised: list[str] = []  # what was accepted after a change, recorded on the incident
    if isinstance(body.get("dedup_key"), int | float) and not isinstance(body.get("dedup_key"), bool):
        normalised.append(f"dedup_key: the number {body['dedup_key']} taken as the string {str(body['dedup_key'])!r}")
        body["dedup_key"] = str(body["dedup_key"])
    dedup_key = _string(body, "dedup_key", "", errors, required=action in ("acknowledge", "resolve"), limit=MAX_DEDUP_KEY)
    payload = body.get("payload")
    summary = source = severity = ""
    timestamp = component = group = class_ = None
    if (action == "trigger" or payload is not None) and not isinstance(payload, dict):
        errors.append("payload: " + ("is required" if payload is None else "must be an object"))
    elif isinstance(payload, dict):
        required = action == "trigger"
        summary = _string(payload, "summary", "payload.", errors, required=required, limit=MAX_SUMMARY) or ""
        source = _string(payload, "source", "payload.", errors, required=required, limit=MAX_STRING) or ""
        severity = _string(payload, "severity", "payload.", errors, required=required, limit=16) or ""
        if severity and severity not in SEVERITIES:
            errors.append(f"payload.severity: must be one of {', '.join(SEVERITIES)}")
        timestamp = _timestamp(payload, normalised)
        component = _string(payload, "component", "payload.", errors, required=False, limit=MAX_STRING)
        group = _string(payload, "group", "payload.", errors, required=False, limit=MAX_STRING)
        class_ = _string(payload, "class", "payload.", errors, required=False, limit=MAX_STRING)
    links = _links(body, errors, normalised)
    _images(body, errors)
    client = _string(body, "client", "", errors, required=False, limit=MAX_STRING)
    client_url = _string(body, "client_url", "", errors, required=False, limit=MAX_STRING)
    if errors:
        raise InvalidEvent(errors)
    assert routing_key is not None and isinstance(action, str)
    return AlertEvent(
        routing_key=routing_key,
        action=action,
        dedup_key=dedup_key or None,
        summary=summary.strip(),
        source=source,
        severity=severity,
        timestamp=timestamp,
        component=component,
        group=group,
        class_=class_,
        custom_details=(payload or {}).get("custom_details"),
        links=links,
        client=client,
        client_url=client_url,
        normalised=tuple(normalised),
    )


def new_dedup_key() -> str:
    """A dedup key for a trigger sent without one (returned to the sender, as PagerDuty does)."""
    return uuid.uuid4().hex
