"""Every SMS text the system sends, each within its segment budget (segments.py counts and shortens)."""

from collections.abc import Sequence
from dataclasses import dataclass

from escalation.sms.segments import (
    count_segments,
    fits,
    gsm_friendly,
    has_url,
    literal,
    one_line,
    segment_budget,
    shorten,
    shorten_to_fit,
)

REPLY_INSTRUCTIONS = "Reply YES to ack, NO to escalate."
MAX_NAMED_ID = 24  # characters of an unknown id echoed back (it is whatever the person typed)
MAX_LISTED_IDS = 5  # incident ids a text lists before it says "+N more"
MIN_DESCRIPTION = 24  # characters of description a page keeps before it gives up the URL


@dataclass(frozen=True)
class Sms:
    """A text ready to send, with what it will cost."""

    body: str
    segments: int
    encoding: str


def priced(body: str) -> Sms:
    """The text to send, with what it will cost (segments and encoding)."""
    segments, encoding = count_segments(body)
    return Sms(body=body, segments=segments, encoding=encoding)


def reply_instructions(incident_id: str, *, other_open: bool = False) -> str:
    """How to answer a page: a bare YES / NO, or naming the incident when the person has another one open.

    A bare keyword acts on the most recent page, which is right until a second incident pages the same
    person; naming the id is then the only unambiguous answer, and it is shorter than the default.
    """
    return f"Reply YES {incident_id} or NO {incident_id}." if other_open else REPLY_INSTRUCTIONS


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
    if url is not None and has_url(url):
        # The URL is worth its place only while the description keeps a readable start.
        with_url = f"{literal(label)}: {{description}} {literal(url.strip())} {literal(instructions)}"
        body = shorten_to_fit(with_url, description, max_segments, min_keep=min(len(description), MIN_DESCRIPTION))
        if body is not None:
            return priced(body)
    body = shorten_to_fit(f"{literal(label)}: {{description}} {literal(instructions)}", description, max_segments)
    return priced(body if body is not None else f"{label}. {instructions}")


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
            return priced(body(listed, keep))
    return priced(f"{len(incidents)} new incidents. {BATCH_INSTRUCTIONS}")


def reminder(
    incident_id: str, description: str, *, max_segments: int, other_open: bool = False, max_unicode_segments: int | None = None
) -> Sms:
    """A reminder to the contact already paged; it never carries the URL again."""
    instructions = reply_instructions(incident_id, other_open=other_open)
    max_segments = segment_budget(description, max_segments, max_unicode_segments)
    template = f"REMINDER {literal(incident_id)}: {{description}} {literal(instructions)}"
    body = shorten_to_fit(template, gsm_friendly(description.strip()), max_segments)
    return priced(body if body is not None else f"REMINDER {incident_id}. {instructions}")


def escalated_notice(incident_id: str) -> Sms:
    """Tells the contact who declined or stayed silent that the next contact is paged."""
    return priced(f"Incident {incident_id} has been escalated to the next contact.")


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
    return priced(f"Incident {incident_id} acknowledged. Thank you, it is yours.{_also_open(also_open)}")


def acknowledged_all_confirmation(incident_ids: Sequence[str], also_open: Sequence[str] = ()) -> Sms:
    """Confirms a YES ALL: every incident it acknowledged (and any that opened meanwhile)."""
    if len(incident_ids) == 1:
        return acknowledged_confirmation(incident_ids[0], also_open)
    return priced(f"Acknowledged: {_id_list(incident_ids)}. Thank you, they are yours.{_also_open(also_open)}")


def handoff_notice(rotation: str, local_start: str, zone: str) -> Sms:
    """Tells the person about to go on call when their shift starts (handoff notices, off by default)."""
    return priced(f"On call: you take over {one_line(rotation)} at {local_start} ({one_line(zone)}). No reply needed.")


def acknowledged_notice(incident_id: str, acknowledged_by: str) -> Sms:
    """Tells the other contacts paged that someone took the incident."""
    return priced(f"Incident {incident_id} was acknowledged by {one_line(acknowledged_by)}. No action needed.")


def acknowledged_digest(incident_ids: Sequence[str], acknowledged_by: str) -> Sms:
    """Tells another contact paged that someone took several incidents with one YES ALL (one text, not one each)."""
    return priced(f"Incidents {_id_list(incident_ids)} were acknowledged by {one_line(acknowledged_by)}. No action needed.")


def batch_needs_id(batch_ids: Sequence[str], also_open: Sequence[str] = ()) -> Sms:
    """Answer to a bare keyword after a batch text: it named several incidents, so nothing was done."""
    example = batch_ids[0]
    return priced(
        f"Your last text listed {len(batch_ids)} incidents: {_id_list(batch_ids)}. Nothing done. "
        f"Reply YES ALL, or YES {example} for one.{_also_open(also_open)}"
    )


def already_acknowledged(incident_id: str, acknowledged_by: str) -> Sms:
    """Answer to a reply about an incident someone else already took."""
    return priced(f"Incident {incident_id} is already acknowledged by {one_line(acknowledged_by)}.")


def already_escalated(incident_id: str) -> Sms:
    """Answer to a NO from a contact the escalation has already moved past."""
    return priced(f"Incident {incident_id} was already escalated. Reply YES if you take it after all.")


def exhausted_notice(incident_id: str) -> Sms:
    """Tells everyone paged that nobody acknowledged and escalation stopped."""
    return priced(f"Incident {incident_id} is UNACKNOWLEDGED: escalation stopped. Reply YES to take it.")


def help_text(incident_id: str, open_ids: Sequence[str] = ()) -> Sms:
    """The one help reply sent for a text the grammar does not understand (open_ids: all open for the sender)."""
    others = [other for other in open_ids if other != incident_id]
    listed = f". Open for you: {_id_list([incident_id, *others])}." if others else ""
    return priced(f"Reply YES to acknowledge incident {incident_id} or NO to escalate it, e.g. YES {incident_id}{listed}")


def unknown_incident(named: str, open_ids: Sequence[str]) -> Sms:
    """Answer to a reply naming an id that matches no incident paged to the sender: nothing was done."""
    named = gsm_friendly(named)[:MAX_NAMED_ID]
    if not open_ids:
        return priced(f"No incident {named} was paged to you, and nothing is open for you. Nothing done.")
    return priced(f"No incident {named} was paged to you. Nothing done.{_open_for_you(open_ids)}")


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
        return priced(f"Incident {incident_id} {state}. Nothing done.{_open_for_you(open_ids)}")
    return priced(f"Nothing is open for you: incident {incident_id} {state}. No action needed.")


def resolved_confirmation(incident_id: str) -> Sms:
    """Confirms to the contact who resolved the incident by SMS that it is closed."""
    return priced(f"Incident {incident_id} resolved. Thank you. Escalation stopped.")


def resolved_notice(incident_id: str, resolved_by: str) -> Sms:
    """Tells everyone else paged that the incident is resolved (by a person's number or an integration's name)."""
    return priced(f"Incident {incident_id} was resolved by {gsm_friendly(resolved_by)[:40]}. No action needed.")


def already_resolved(incident_id: str, resolved_by: str, open_ids: Sequence[str] = ()) -> Sms:
    """Answer to a reply about an incident that is already resolved (open_ids: the sender's open ones, listed)."""
    if open_ids:
        return priced(
            f"Incident {incident_id} is already resolved by {gsm_friendly(resolved_by)[:40]}. Nothing done."
            f"{_open_for_you(open_ids)}"
        )
    return priced(f"Incident {incident_id} is already resolved by {gsm_friendly(resolved_by)[:40]}. No action needed.")


def test_page(code: str) -> Sms:
    """A test page (incidents test-page): it asks for a reply that proves answers reach the pager."""
    return priced(f"Test page {code}: reply TEST {code} to show that your answers reach the pager. No incident is open.")


def test_answered(code: str, answered: bool) -> Sms:
    """The answer to `TEST <code>`: the round trip works, or no such test was sent to this number."""
    if answered:
        return priced(f"Test {code} received: your answers reach the pager. Nothing else to do.")
    return priced(f"No test page {literal(code)[:MAX_NAMED_ID]} was sent to you. Nothing done.")
