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

A trigger's incident (incident_item) carries what its page says: `description` is the integration's page
template filled in with the alert's facts (escalation.page_template; by default the summary, then the first
alert's instance and description from Alertmanager-style custom_details), `url` the first link, else
`client_url`, which the page puts after the text. `details` keeps custom_details as JSON, at most
MAX_DETAILS_BYTES (4,096) bytes, for `incidents show`. Items written by hand are paged as before.

The body itself: UTF-8, at most MAX_BODY_BYTES bytes (512,000, where Alertmanager and Grafana cut an event;
counted in bytes, not characters), and arrays and objects nested at most MAX_NESTING (32) levels deep, the
body itself being the first. Both limits are checked before the JSON is parsed, so no body can make the
parser recurse out of the stack.
"""

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from escalation.alerts.page_template import DEFAULT_TEMPLATE, has_link, render
from escalation.incidents.item import MAX_DESCRIPTION_LENGTH, MAX_URL_LENGTH
from escalation.sms.segments import ELLIPSIS, NO_URL, one_line

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


def incident_url(event: AlertEvent) -> str | None:
    """The incident's `url`: the first link that is a web address short enough for the item, else `client_url`."""
    for candidate in [link["href"] for link in event.links] + [event.client_url or ""]:
        href = candidate.strip()
        if href.startswith(("https://", "http://")) and len(href) <= MAX_URL_LENGTH:
            return href
    return None


_LABEL_LINE = re.compile(r"^\s*-\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")
# Flat custom_details keys read when there is no Alertmanager-style `firing` text (Zabbix's webhook names its own).
_INSTANCE_KEYS = ("instance", "host", "hostname", "Event host")
_DESCRIPTION_KEYS = ("description", "summary", "Trigger description", "Trigger opdata")


def _first_alert_facts(details: Any) -> tuple[str, str]:
    """(instance, description) of the first alert in Alertmanager-style custom_details.

    Its `instance` label and its `description` annotation, else its `summary` annotation, from the `firing`
    text Alertmanager and Grafana send by default; flat details with such keys work too (_INSTANCE_KEYS,
    _DESCRIPTION_KEYS).
    """
    if not isinstance(details, dict):
        return "", ""
    flat = {key: value.strip() for key, value in details.items() if isinstance(value, str)}
    instance = next((flat[key] for key in _INSTANCE_KEYS if flat.get(key)), "")
    what = next((flat[key] for key in _DESCRIPTION_KEYS if flat.get(key)), "")
    firing = details.get("firing")
    if isinstance(firing, str) and firing.strip():
        section = ""
        labels: dict[str, str] = {}
        annotations: dict[str, str] = {}
        for line in firing.splitlines()[:200]:
            if line.strip() in ("Labels:", "Annotations:"):
                if line.strip() == "Labels:" and labels:
                    break  # the second alert begins: the first one is enough
                section = line.strip()
                continue
            match = _LABEL_LINE.match(line)
            if match:
                (labels if section == "Labels:" else annotations).setdefault(match.group(1), match.group(2).strip())
        instance = labels.get("instance") or instance
        what = annotations.get("description") or annotations.get("summary") or what
    return instance, what


def page_facts(event: AlertEvent) -> dict[str, str]:
    """What a page may say about this alert, by placeholder (escalation.page_template), each fact one line."""
    instance, description = _first_alert_facts(event.custom_details)
    facts = {
        "summary": event.summary,
        "instance": instance,
        "description": description,
        "source": event.source,
        "severity": event.severity,
        "component": event.component or "",
        "group": event.group or "",
        "class": event.class_ or "",
        "link": incident_url(event) or "",
    }
    return {name: one_line(value) for name, value in facts.items()}


def page_description(event: AlertEvent, template: str | None = None) -> str:
    """The description of the alert's incident: its template filled in (DEFAULT_TEMPLATE: summary, instance, description).

    The link is not in it: it goes in the item's `url`, which the page puts after the text; the page keeps as
    much of both as its segment budget holds.
    """
    return render(template or DEFAULT_TEMPLATE, page_facts(event))


def _details(custom_details: Any) -> tuple[str, str | None]:
    """custom_details as JSON text of at most MAX_DETAILS_BYTES (UTF-8), and what was cut, if anything."""
    text = json.dumps(custom_details, ensure_ascii=False)
    data = text.encode("utf-8")
    if len(data) <= MAX_DETAILS_BYTES:
        return text, None
    kept = data[: MAX_DETAILS_BYTES - len(ELLIPSIS)].decode("utf-8", "ignore") + ELLIPSIS  # never half a character
    return kept, f"payload.custom_details: {len(data)} bytes of JSON; the incident keeps the first {MAX_DETAILS_BYTES}"


def incident_item(
    event: AlertEvent,
    *,
    incident_id: str,
    integration: str,
    contacts: tuple[str, ...],
    policy: str | None,
    dedup_key: str,
    at: str,
    page_template: str | None = None,
) -> dict[str, Any]:
    """The incident item a trigger writes (the shape lambdas/escalation/incidents/item.py checks), plus where it came from.

    page_template: the integration's (escalation.page_template), else DEFAULT_TEMPLATE; without {link}, no url.
    """
    template = page_template or DEFAULT_TEMPLATE
    normalised = list(event.normalised)
    item: dict[str, Any] = {
        "incident_id": incident_id,
        "incident_stat": "not_acknowledged",
        "double_escalation": "no",
        "description": page_description(event, template)[:MAX_DESCRIPTION_LENGTH],
        "url": (incident_url(event) if has_link(template) else None) or NO_URL,
        "dedup_key": dedup_key,
        "integration": integration,
        "alert_count": 1,
        "severity": event.severity,
        "source": event.source[:256],
        "opened_at": at,
    }
    if event.custom_details is not None:  # the sender's details, bounded, for `incidents show`
        item["details"], cut = _details(event.custom_details)
        normalised += [cut] if cut else []
    if normalised:
        item["normalised"] = normalised
    if policy:
        item["policy"] = policy  # paged by the policy: who is on call is resolved when each level is paged
    else:
        item["contacts"] = list(contacts)
    return item
