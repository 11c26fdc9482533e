"""The texts of a storm (escalation.paging.storms): a digest of notices, and a page batch that carries one."""

from collections.abc import Mapping, Sequence
from typing import Any

from escalation.sms.messages import MAX_LISTED_IDS, Sms, batch_page, priced
from escalation.sms.segments import fits

# What a storm digest says of each kind of notice it stands for, in this order (escalation.storms).
DIGEST_LINES = (
    ("escalated_notice", "moved to the next contact"),
    ("exhausted_notice", "UNACKNOWLEDGED, escalation stopped"),
    ("acknowledged_notice", "acknowledged by others"),
    ("resolved_notice", "resolved"),
    ("reminder", "still waiting for your answer"),
)


def _some_ids(incident_ids: Sequence[str], shown: int) -> str:
    """': 4821, 4822 +58 more' (shown ids at most; nothing when shown is 0)."""
    if not shown:
        return ""
    rest = len(incident_ids) - shown
    return ": " + ", ".join(incident_ids[:shown]) + (f" +{rest} more" if rest > 0 else "")


def _digest_lines(members: Sequence[Mapping[str, Any]], shown: int) -> list[str]:
    """Per kind of notice, in DIGEST_LINES order: how many and (at most shown of) which ids."""
    lines = []
    for kind, what in DIGEST_LINES:
        ids = list(dict.fromkeys(str(member["incident_id"]) for member in members if member.get("kind") == kind))
        if ids:
            lines.append(f"{len(ids)} {what}{_some_ids(ids, shown)}.")
    return lines


def _answerable(members: Sequence[Mapping[str, Any]]) -> bool:
    return any(member.get("kind") in ("exhausted_notice", "reminder") for member in members)


def storm_digest(members: Sequence[Mapping[str, Any]], max_segments: int) -> Sms:
    """One text for the notices held in a storm: per kind, how many and which ids, within max_segments.

    Fewer ids are named until it fits (five, three, one, none: then counts only).
    """
    tail = " Reply YES <id> to take one, YES ALL for all." if _answerable(members) else " No action needed."
    body = ""
    for shown in (MAX_LISTED_IDS, 3, 1, 0):
        body = "Storm update: " + " ".join(_digest_lines(members, shown)) + tail
        if fits(body, max_segments):
            break
    return priced(body)


def batch_page_with_digest(
    incidents: Sequence[tuple[str, str]], members: Sequence[Mapping[str, Any]], *, max_segments: int
) -> Sms:
    """A batch text that also says the person's storm digest, e.g. "3 new incidents: ... Also: 16 UNACKNOWLEDGED ...".

    The two would have reached the person within seconds of each other; one text wakes them once and costs the same.
    The page part keeps its own budget (batch_page); the digest part names fewer ids until the whole fits twice it.
    """
    page_part = batch_page(incidents, max_segments=max_segments).body
    for shown in (MAX_LISTED_IDS, 3, 1, 0):
        body = f"{page_part} Also: " + " ".join(_digest_lines(members, shown))
        if fits(body, 2 * max_segments):
            break
    return priced(body)
