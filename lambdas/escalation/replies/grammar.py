"""The reply grammar: what a contact's SMS answer means.

A reply means something only when the whole message, trimmed, in any case and without the
punctuation at the edges of its words, is one of:

    <yes>            acknowledge        <yes> = YES | Y | ACK
    <yes> <id>       acknowledge id
    <yes> ALL        acknowledge every incident open for the sender
    <no>             decline            <no> = NO | N | DECLINE
    <no> <id>        decline id
    RESOLVE          resolve (the problem is over: stop escalating, tell everyone paged)
    RESOLVE <id>     resolve id
    TEST <code>      answer a test page (incidents test-page): no incident is involved
    <service word>   left to End User Messaging (STOP, HELP, ...), alone

Anything else ("No problem, on it", "ok", "yes 123 thanks") is not understood and gets help.
"""

import string
from dataclasses import dataclass
from enum import StrEnum

YES_WORDS = frozenset({"yes", "y", "ack"})
NO_WORDS = frozenset({"no", "n", "decline"})
RESOLVE_WORDS = frozenset({"resolve"})
TEST_WORD = "test"
ALL_WORD = "all"
# Keywords End User Messaging SMS answers itself (opt-out, opt-in, help): never ours to answer.
SERVICE_KEYWORDS = frozenset(
    {
        "stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout", "opt-out", "arret", "remove",
        "start", "unstop", "subscribe", "optin", "opt-in", "help", "info", "aide",
    }
)  # fmt: skip
EDGE_PUNCTUATION = string.punctuation + "\u00a1\u00bf\u201c\u201d\u2018\u2019\u00ab\u00bb\u2026"  # typographic marks
MAX_WORDS = 2  # `<keyword> <id>`: anything longer is never an acknowledgement or a decline


class Intent(StrEnum):
    """What a reply asks for."""

    ACKNOWLEDGE = "acknowledge"
    ACKNOWLEDGE_ALL = "acknowledge_all"
    DECLINE = "decline"
    RESOLVE = "resolve"
    TEST = "test"  # the answer to a test page: incident_id holds the test's code
    SERVICE_KEYWORD = "service_keyword"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Reply:
    """A parsed reply: its intent and the incident id it names, if any (as written, edges trimmed)."""

    intent: Intent
    incident_id: str | None = None


def clean(word: str) -> str:
    """A word without the punctuation around it ("#INC-7." -> "INC-7")."""
    return word.strip(EDGE_PUNCTUATION)


def id_key(incident_id: str) -> str:
    """How an incident id is compared with one written in a reply: case-insensitive, edges and '#' trimmed."""
    return clean(incident_id.strip()).casefold()


def words(text: str) -> list[str]:
    """The message's words, trimmed of edge punctuation; words that were only punctuation are dropped."""
    return [cleaned for cleaned in (clean(word) for word in text.split()) if cleaned]


def parse_reply(text: str) -> Reply:
    """Parse a whole SMS answer; never raises: every text is one of the intents above."""
    tokens = words(text)
    if not tokens or len(tokens) > MAX_WORDS:
        return Reply(Intent.UNKNOWN)
    keyword = tokens[0].casefold()
    incident_id = tokens[1] if len(tokens) == MAX_WORDS else None
    if keyword in YES_WORDS:
        if incident_id is not None and incident_id.casefold() == ALL_WORD:
            return Reply(Intent.ACKNOWLEDGE_ALL)
        return Reply(Intent.ACKNOWLEDGE, incident_id)
    if keyword in NO_WORDS:
        return Reply(Intent.DECLINE, incident_id)
    if keyword in RESOLVE_WORDS:
        return Reply(Intent.RESOLVE, incident_id)
    if keyword == TEST_WORD and incident_id is not None:
        return Reply(Intent.TEST, incident_id)
    if keyword in SERVICE_KEYWORDS and incident_id is None:
        return Reply(Intent.SERVICE_KEYWORD)
    return Reply(Intent.UNKNOWN)
