"""Every SMS text the system sends, and the segment accounting that keeps them cheap.

SMS is billed per segment. GSM-7 fits 160 characters in one segment and 153 per part
once split; a single character outside GSM-7 turns the whole message into UCS-2, which
fits 70 (67 per part). Characters of the GSM-7 extension table take two septets.
"""

import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
GSM7 = "GSM-7"
UCS2 = "UCS-2"
NO_URL = "no url"
ELLIPSIS = "..."
REPLY_INSTRUCTIONS = "Reply YES to ack, NO to escalate."
MAX_NAMED_ID = 24  # characters of an unknown id echoed back (it is whatever the person typed)
MAX_LISTED_IDS = 5  # incident ids a text lists before it says "+N more"
MIN_DESCRIPTION = 24  # characters of description a page keeps before it gives up the URL
_TYPOGRAPHIC = str.maketrans(
    {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-", "\u2026": "...", "\u00a0": " "}
)


def count_segments(text: str) -> tuple[int, str]:
    """Number of SMS segments and the encoding the network will use for text."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        septets = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
        return (1 if septets <= 160 else math.ceil(septets / 153)), GSM7
    units = len(text.encode("utf-16-le")) // 2
    return (1 if units <= 70 else math.ceil(units / 67)), UCS2


def fits(text: str, max_segments: int) -> bool:
    """True when text costs at most max_segments segments."""
    return count_segments(text)[0] <= max_segments


@dataclass(frozen=True)
class Sms:
    """A text ready to send, with what it will cost."""

    body: str
    segments: int
    encoding: str


def _priced(body: str) -> Sms:
    segments, encoding = count_segments(body)
    return Sms(body=body, segments=segments, encoding=encoding)


def shorten(text: str, length: int) -> str:
    """The text cut to at most length characters plus an ellipsis, at a word boundary where one is near enough.

    A cut inside a word backs off to the previous space when that keeps at least half of what fits, so a
    page reads "Urgent assistance is..." rather than "Urgent assistance is r..."; one long word is cut hard.
    A separator left at the end ("api-7 -", "db-1:") goes too: "api-7..." reads as a cut, "api-7 -..." does not.
    """
    if len(text) <= length:
        return text
    kept = text[:length]
    if not text[length].isspace() and not kept[-1:].isspace():  # the cut falls inside a word
        boundary = kept.rstrip().rfind(" ")
        if boundary >= length // 2:
            kept = kept[:boundary]
    return kept.rstrip().rstrip("-:;,|").rstrip() + ELLIPSIS


def _shorten_to_fit(template: str, description: str, max_segments: int, *, min_keep: int = 0) -> str | None:
    """Fill template's {description} with the longest prefix of description that fits (at least min_keep characters)."""
    if fits(template.format(description=description), max_segments):
        return template.format(description=description)
    # Binary search on the hard cut (description[:n] + "..."), whose cost only grows with n; shorten's cut at a word
    # boundary is a prefix of it, so it fits too. (Searching on shorten itself is not monotonic: a longer n can back
    # off to an earlier space, and the search then settled for far less than fits.)
    low, high = min_keep, len(description) - 1
    best: int | None = None
    while low <= high:
        mid = (low + high) // 2
        if fits(template.format(description=description[:mid] + ELLIPSIS), max_segments):
            best, low = mid, mid + 1
        else:
            high = mid - 1
    return None if best is None else template.format(description=shorten(description, best))


def _literal(text: str) -> str:
    """Escape text for a str.format template: ids and URLs may contain braces."""
    return text.replace("{", "{{").replace("}", "}}")


def _has_url(url: str | None) -> bool:
    return url is not None and url.strip().casefold() not in ("", NO_URL)


def one_line(text: str) -> str:
    """Outside text (a summary, a description, a name) as one line: what could make a text read as another is gone.

    Line and paragraph breaks, tabs and every other control character become a space; bidirectional controls
    and other invisible format characters (which can reorder what a phone shows) are removed; runs of spaces
    become one.
    """
    kept = []
    for character in text:
        category = unicodedata.category(character)
        if category in ("Cc", "Zl", "Zp"):
            kept.append(" ")
        elif category != "Cf":
            kept.append(character)
    return " ".join("".join(kept).split())


def gsm_friendly(text: str) -> str:
    """Outside text made one line (one_line), with the typographic marks editors and phones insert as their GSM-7 twins.

    One curly quote would otherwise turn the whole page into UCS-2, which holds 70 characters, not 160.
    """
    return one_line(text).translate(_TYPOGRAPHIC)


def reply_instructions(incident_id: str, *, other_open: bool = False) -> str:
    """How to answer a page: a bare YES / NO, or naming the incident when the person has another one open.

    A bare keyword acts on the most recent page, which is right until a second incident pages the same
    person; naming the id is then the only unambiguous answer, and it is shorter than the default.
    """
    return f"Reply YES {incident_id} or NO {incident_id}." if other_open else REPLY_INSTRUCTIONS


def segment_budget(text: str, max_segments: int, max_unicode_segments: int | None) -> int:
    """The segments a text about this description may use: more when it needs UCS-2 (any character outside GSM-7).

    One UCS-2 segment holds 70 characters (67 each when split), so a page in Cyrillic or with an emoji would keep
    about 18 characters of its description in one. The cost: every segment is billed as one message, so a UCS-2
    page at maxSmsSegmentsUnicode 2 costs 2 messages where a GSM-7 page at maxSmsSegments 1 costs 1.
    """
    if max_unicode_segments is None or count_segments(gsm_friendly(text))[1] != UCS2:
        return max_segments
    return max(max_segments, max_unicode_segments)


def page(
    incident_id: str,
    description: str,
    url: str | None,
    *,
    level: int,
    max_segments: int,
    other_open: bool = False,
    max_unicode_segments: int | None = None,
) -> Sms:
    """The page a contact receives; the description is shortened to the segment budget.

    other_open: the contact has another incident open, so the page asks for `YES <id>`.
    max_unicode_segments: the budget when the description needs UCS-2 (maxSmsSegmentsUnicode).
    """
    label = f"INCIDENT {incident_id}" + (" (escalated)" if level > 0 else "")
    instructions = reply_instructions(incident_id, other_open=other_open)
    max_segments = segment_budget(description, max_segments, max_unicode_segments)
    description = gsm_friendly(description.strip())
    if url is not None and _has_url(url):
        # The URL is worth its place only while the description keeps a readable start.
        with_url = f"{_literal(label)}: {{description}} {_literal(url.strip())} {_literal(instructions)}"
        body = _shorten_to_fit(with_url, description, max_segments, min_keep=min(len(description), MIN_DESCRIPTION))
        if body is not None:
            return _priced(body)
    body = _shorten_to_fit(f"{_literal(label)}: {{description}} {_literal(instructions)}", description, max_segments)
    return _priced(body if body is not None else f"{label}. {instructions}")


BATCH_INSTRUCTIONS = "Reply YES ALL or YES <id>."


def batch_page(incidents: Sequence[tuple[str, str]], *, max_segments: int) -> Sms:
    """One text for several pages to one person, e.g. "3 new incidents: 4821 db-cpu, 4822 api-5xx, 4823 +1 more. ...".

    incidents: (id, description), oldest first. Each id is listed with as much of its description as fits
    the segment budget (down to none); ids that do not fit at all are counted as "+N more".
    """
    head = f"{len(incidents)} new incidents: "

    def body(listed: int, keep: int) -> str:
        parts = []
        for incident_id, description in incidents[:listed]:
            words = gsm_friendly(" ".join(description.split()))
            short = words if len(words) <= keep else shorten(words, keep - 1) if keep > 1 else ""
            parts.append(f"{incident_id} {short}".rstrip())
        rest = len(incidents) - listed
        listing = ", ".join(parts) + (f", +{rest} more" if rest else "")
        return f"{head}{listing}. {BATCH_INSTRUCTIONS}"

    # A few incidents with a readable start of their description beat a bare list of ids; failing that, the ids.
    with_words = [(listed, keep) for keep in (40, 24, 16, 12) for listed in range(len(incidents), min(len(incidents), 3) - 1, -1)]
    for listed, keep in [*with_words, *((listed, 0) for listed in range(len(incidents), 0, -1))]:
        if fits(body(listed, keep), max_segments):
            return _priced(body(listed, keep))
    return _priced(f"{len(incidents)} new incidents. {BATCH_INSTRUCTIONS}")


def reminder(
    incident_id: str, description: str, *, max_segments: int, other_open: bool = False, max_unicode_segments: int | None = None
) -> Sms:
    """A reminder to the contact already paged; it never carries the URL again."""
    instructions = reply_instructions(incident_id, other_open=other_open)
    max_segments = segment_budget(description, max_segments, max_unicode_segments)
    template = f"REMINDER {_literal(incident_id)}: {{description}} {_literal(instructions)}"
    body = _shorten_to_fit(template, gsm_friendly(description.strip()), max_segments)
    return _priced(body if body is not None else f"REMINDER {incident_id}. {instructions}")


def escalated_notice(incident_id: str) -> Sms:
    """Tells the contact who declined or stayed silent that the next contact is paged."""
    return _priced(f"Incident {incident_id} has been escalated to the next contact.")


def _id_list(incident_ids: Sequence[str]) -> str:
    """'INC-7, 8812' (at most MAX_LISTED_IDS ids, then '+N more')."""
    listed = ", ".join(incident_ids[:MAX_LISTED_IDS])
    rest = len(incident_ids) - MAX_LISTED_IDS
    return f"{listed} +{rest} more" if rest > 0 else listed


def _also_open(incident_ids: Sequence[str]) -> str:
    """' Also open for you: INC-7, 8812. Reply YES <id>.' (empty when nothing else is open)."""
    if not incident_ids:
        return ""
    example = incident_ids[0] if len(incident_ids) == 1 else "<id>"
    return f" Also open for you: {_id_list(incident_ids)}. Reply YES {example}."


def acknowledged_confirmation(incident_id: str, also_open: Sequence[str] = ()) -> Sms:
    """Confirms to the contact who replied YES that the incident is theirs, and what else is open for them."""
    return _priced(f"Incident {incident_id} acknowledged. Thank you, it is yours.{_also_open(also_open)}")


def acknowledged_all_confirmation(incident_ids: Sequence[str], also_open: Sequence[str] = ()) -> Sms:
    """Confirms a YES ALL: every incident it acknowledged (and any that opened meanwhile)."""
    if len(incident_ids) == 1:
        return acknowledged_confirmation(incident_ids[0], also_open)
    return _priced(f"Acknowledged: {_id_list(incident_ids)}. Thank you, they are yours.{_also_open(also_open)}")


def handoff_notice(rotation: str, local_start: str, zone: str) -> Sms:
    """Tells the person about to go on call when their shift starts (handoff notices, off by default)."""
    return _priced(f"On call: you take over {one_line(rotation)} at {local_start} ({one_line(zone)}). No reply needed.")


def acknowledged_notice(incident_id: str, acknowledged_by: str) -> Sms:
    """Tells the other contacts paged that someone took the incident."""
    return _priced(f"Incident {incident_id} was acknowledged by {one_line(acknowledged_by)}. No action needed.")


def acknowledged_digest(incident_ids: Sequence[str], acknowledged_by: str) -> Sms:
    """Tells another contact paged that someone took several incidents with one YES ALL (one text, not one each)."""
    return _priced(f"Incidents {_id_list(incident_ids)} were acknowledged by {one_line(acknowledged_by)}. No action needed.")


def batch_needs_id(batch_ids: Sequence[str], also_open: Sequence[str] = ()) -> Sms:
    """Answer to a bare keyword after a batch text: it named several incidents, so nothing was done."""
    example = batch_ids[0]
    return _priced(
        f"Your last text listed {len(batch_ids)} incidents: {_id_list(batch_ids)}. Nothing done. "
        f"Reply YES ALL, or YES {example} for one.{_also_open(also_open)}"
    )


# What a storm digest says of each kind of notice it stands for, in this order (escalation.storms).
DIGEST_LINES = (
    ("escalated_notice", "moved to the next contact"),
    ("exhausted_notice", "UNACKNOWLEDGED, escalation stopped"),
    ("acknowledged_notice", "acknowledged by others"),
    ("resolved_notice", "resolved"),
)


def _some_ids(incident_ids: Sequence[str], shown: int) -> str:
    """': 4821, 4822 +58 more' (shown ids at most; nothing when shown is 0)."""
    if not shown:
        return ""
    rest = len(incident_ids) - shown
    return ": " + ", ".join(incident_ids[:shown]) + (f" +{rest} more" if rest > 0 else "")


def storm_digest(members: Sequence[Mapping[str, Any]], max_segments: int) -> Sms:
    """One text for the notices held in a storm: per kind, how many and which ids, within max_segments.

    Fewer ids are named until it fits (five, three, one, none: then counts only).
    """
    by_kind = {
        kind: list(dict.fromkeys(str(member["incident_id"]) for member in members if member.get("kind") == kind))
        for kind, _ in DIGEST_LINES
    }
    tail = " Reply YES <id> to take one, YES ALL for all." if by_kind["exhausted_notice"] else " No action needed."
    body = ""
    for shown in (MAX_LISTED_IDS, 3, 1, 0):
        lines = [
            f"{len(ids)} {what}{_some_ids(ids, shown)}."
            for (kind, what), ids in zip(DIGEST_LINES, by_kind.values(), strict=True)
            if ids
        ]
        body = "Storm update: " + " ".join(lines) + tail
        if fits(body, max_segments):
            break
    return _priced(body)


def already_acknowledged(incident_id: str, acknowledged_by: str) -> Sms:
    """Answer to a reply about an incident someone else already took."""
    return _priced(f"Incident {incident_id} is already acknowledged by {one_line(acknowledged_by)}.")


def already_escalated(incident_id: str) -> Sms:
    """Answer to a NO from a contact the escalation has already moved past."""
    return _priced(f"Incident {incident_id} was already escalated. Reply YES if you take it after all.")


def exhausted_notice(incident_id: str) -> Sms:
    """Tells everyone paged that nobody acknowledged and escalation stopped."""
    return _priced(f"Incident {incident_id} is UNACKNOWLEDGED: escalation stopped. Reply YES to take it.")


def help_text(incident_id: str, open_ids: Sequence[str] = ()) -> Sms:
    """The one help reply sent for a text the grammar does not understand (open_ids: all open for the sender)."""
    others = [other for other in open_ids if other != incident_id]
    listed = f". Open for you: {_id_list([incident_id, *others])}." if others else ""
    return _priced(f"Reply YES to acknowledge incident {incident_id} or NO to escalate it, e.g. YES {incident_id}{listed}")


def unknown_incident(named: str, open_ids: Sequence[str]) -> Sms:
    """Answer to a reply naming an id that matches no incident paged to the sender: nothing was done."""
    named = gsm_friendly(named)[:MAX_NAMED_ID]
    if not open_ids:
        return _priced(f"No incident {named} was paged to you, and nothing is open for you. Nothing done.")
    return _priced(f"No incident {named} was paged to you. Nothing done.{_open_for_you(open_ids)}")


def _open_for_you(open_ids: Sequence[str]) -> str:
    """The suffix listing open ids, e.g. ' Open for you: 1, 2. Reply YES <id>.' (empty when nothing is open)."""
    if not open_ids:
        return ""
    example = open_ids[0] if len(open_ids) == 1 else "<id>"
    return f" Open for you: {_id_list(open_ids)}. Reply YES {example}."


def nothing_open(incident_id: str, acknowledged_by: str | None = None, open_ids: Sequence[str] = ()) -> Sms:
    """Answer to a bare keyword when the incident of the sender's latest page cannot take it any more.

    open_ids: the sender's other open incidents; a bare keyword never acts on them, so they are listed.
    """
    state = f"was acknowledged by {acknowledged_by}" if acknowledged_by else "is closed"
    if open_ids:
        return _priced(f"Incident {incident_id} {state}. Nothing done.{_open_for_you(open_ids)}")
    return _priced(f"Nothing is open for you: incident {incident_id} {state}. No action needed.")


def ops_notification(incident_id: str, description: str, contacts_paged: int) -> tuple[str, str]:
    """Subject and body for the ops topic when the chain is exhausted."""
    subject = f"Incident {incident_id} unacknowledged"[:100]
    body = (
        f"Incident {incident_id} was not acknowledged by any of the {contacts_paged} contact(s) paged.\n"
        f"Description: {description}\n"
        "Escalation has stopped; the incident item's timeline has the details."
    )
    return subject, body


def ops_fault_notification(incident_id: str, fault: str) -> tuple[str, str]:
    """Subject and body for the ops topic when a page cannot be sent because of a fault on our side."""
    subject = f"Incident {incident_id}: page not sent (fault on our side)"[:100]
    body = (
        f"A page for incident {incident_id} could not be sent: {fault}\n"
        "This is not the contact's fault (quota, spend limit, access, origination identity, or throttling): "
        "the page is being retried and the escalation does not move on. Fix the cause; the incident item shows it."
    )
    return subject, body


def ops_nobody_on_call_notification(incident_id: str, description: str, level: str, reason: str) -> tuple[str, str]:
    """Subject and body for the ops topic when a policy level resolves to nobody (it is skipped)."""
    subject = f"Incident {incident_id}: nobody on call for {level}"[:100]
    body = (
        f"Incident {incident_id} reached {level}, and nobody is on call there: {reason}\n"
        f"Description: {description}\n"
        "The level was skipped and the escalation moved on. Fix the rotation or add an override "
        "(incidents oncall override ...)."
    )
    return subject, body


def ops_failed_notification(incident_id: str, description: str, error: str) -> tuple[str, str]:
    """Subject and body for the ops topic when paging stopped because a fault of ours outlasted its retries."""
    subject = f"Incident {incident_id}: paging stopped"[:100]
    body = (
        f"Paging for incident {incident_id} stopped after retries: {error}\n"
        f"Description: {description}\n"
        "Nobody was blamed for it: the incident is marked failed. Page the on-call person another way, "
        "fix the cause, then write the incident again to page it."
    )
    return subject, body


def resolved_confirmation(incident_id: str) -> Sms:
    """Confirms to the contact who resolved the incident by SMS that it is closed."""
    return _priced(f"Incident {incident_id} resolved. Thank you. Escalation stopped.")


def resolved_notice(incident_id: str, resolved_by: str) -> Sms:
    """Tells everyone else paged that the incident is resolved (by a person's number or an integration's name)."""
    return _priced(f"Incident {incident_id} was resolved by {gsm_friendly(resolved_by)[:40]}. No action needed.")


def already_resolved(incident_id: str, resolved_by: str, open_ids: Sequence[str] = ()) -> Sms:
    """Answer to a reply about an incident that is already resolved (open_ids: the sender's open ones, listed)."""
    if open_ids:
        return _priced(
            f"Incident {incident_id} is already resolved by {gsm_friendly(resolved_by)[:40]}. Nothing done."
            f"{_open_for_you(open_ids)}"
        )
    return _priced(f"Incident {incident_id} is already resolved by {gsm_friendly(resolved_by)[:40]}. No action needed.")
