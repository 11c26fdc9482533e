"""Entries of the incident's `timeline`: the audit log kept on the item itself."""

from datetime import UTC, datetime
from typing import Any

from escalation.incidents.levels import label, phone_of
from escalation.incidents.status import Event, WorkflowError
from escalation.sms.phone_numbers import mask


def utc_now() -> str:
    """The current time as ISO-8601 UTC with milliseconds, taken when the event happens."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def timeline_entry(event: Event, at: str, *, level: int | None = None, phone: str | None = None, **detail: Any) -> dict[str, Any]:
    """One audit entry: what happened, when, at which level, to whom (masked)."""
    entry: dict[str, Any] = {"at": at, "event": str(event)}
    if level is not None:
        entry["level"] = level
    if phone is not None:
        entry["phone"] = mask(phone)
    entry.update({key: value for key, value in detail.items() if value is not None})
    return entry


def level_outcome(event: dict[str, Any], at: str) -> list[dict[str, Any]]:
    """The entry for why a workflow level ended: declined, silent, or an error (none when page_contact recorded it)."""
    level = int(event["level"])
    who = level_who(event["contacts"][level])
    error = event.get("error") or {}
    if not error:
        return []  # the level has not ended (the first page)
    name = error.get("Error", "")
    if name == WorkflowError.DECLINED:
        return [timeline_entry(Event.DECLINED, at, level=level, **who)]
    if name == WorkflowError.TIMEOUT:
        return [timeline_entry(Event.TIMED_OUT, at, level=level, **who)]
    if name in (WorkflowError.SMS_FAILED, WorkflowError.NOBODY_ON_CALL):
        return []  # page_contact wrote the sms_failed or nobody_on_call entry, with the reason
    return [timeline_entry(Event.SMS_FAILED, at, level=level, **who, error=f"{name}: {str(error.get('Cause', ''))[:500]}")]


def level_who(entry: str) -> dict[str, str]:
    """Timeline fields naming a chain entry: its number (masked by timeline_entry), or the policy level."""
    phone = phone_of(entry)
    return {"phone": phone} if phone is not None else {"target": label(entry)}
