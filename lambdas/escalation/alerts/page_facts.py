"""What a trigger's incident says: the facts its page carries, and the incident item itself.

A trigger's incident (incident_item) carries what its page says: `description` is the integration's page
template filled in with the alert's facts (escalation.alerts.page_template; by default the summary, then the first
alert's instance and description from Alertmanager-style custom_details), `url` the first link, else
`client_url`, which the page puts after the text. `details` keeps custom_details as JSON, at most
MAX_DETAILS_BYTES (4,096) bytes, for `incidents show`. Items written by hand are paged as before.
"""

import json
import re
from typing import Any

from escalation.alerts.events import MAX_DETAILS_BYTES, AlertEvent
from escalation.alerts.page_template import DEFAULT_TEMPLATE, has_link, render
from escalation.incidents.item import MAX_DESCRIPTION_LENGTH, MAX_URL_LENGTH
from escalation.incidents.urgency import urgency_of
from escalation.sms.segments import ELLIPSIS, NO_URL, one_line


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
    """What a page may say about this alert, by placeholder (escalation.alerts.page_template), each fact one line."""
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
    urgency: str | None = None,
) -> dict[str, Any]:
    """The incident item a trigger writes (the shape lambdas/escalation/incidents/item.py checks), plus where it came from.

    page_template: the integration's (escalation.alerts.page_template), else DEFAULT_TEMPLATE; without {link}, no url.
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
        "urgency": urgency_of(event.severity, urgency),  # low waits for working hours (escalation.incidents.urgency)
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
