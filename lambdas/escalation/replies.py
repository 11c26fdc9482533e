"""The reply grammar: what a contact's SMS answer means."""

import string
from dataclasses import dataclass
from enum import StrEnum

YES_WORDS = frozenset({"yes", "y", "ack"})
NO_WORDS = frozenset({"no", "n", "decline"})
# Keywords End User Messaging SMS answers itself (opt-out, opt-in, help): never ours to answer.
SERVICE_KEYWORDS = frozenset(
    {
        "stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout", "opt-out", "arret", "remove",
        "start", "unstop", "subscribe", "optin", "opt-in", "help", "info", "aide",
    }
)  # fmt: skip
_EDGE_PUNCTUATION = string.punctuation + "\u00a1\u00bf\u201c\u201d\u2018\u2019\u00ab\u00bb\u2026"  # typographic marks


class Intent(StrEnum):
    """What a reply asks for."""

    ACKNOWLEDGE = "acknowledge"
    DECLINE = "decline"
    SERVICE_KEYWORD = "service_keyword"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Reply:
    """A parsed reply: its intent and the incident id it names, if any."""

    intent: Intent
    incident_id: str | None = None


def _clean(token: str) -> str:
    return token.strip(_EDGE_PUNCTUATION)


def parse_reply(text: str) -> Reply:
    """Parse an SMS answer: trimmed, case- and punctuation-insensitive YES/NO, optional incident id."""
    tokens = [cleaned for cleaned in (_clean(token) for token in text.split()) if cleaned]
    if not tokens:
        return Reply(Intent.UNKNOWN)
    keyword = tokens[0].casefold()
    incident_id = tokens[1] if len(tokens) == 2 else None
    if keyword in YES_WORDS:
        return Reply(Intent.ACKNOWLEDGE, incident_id)
    if keyword in NO_WORDS:
        return Reply(Intent.DECLINE, incident_id)
    if keyword in SERVICE_KEYWORDS and len(tokens) == 1:
        return Reply(Intent.SERVICE_KEYWORD)
    return Reply(Intent.UNKNOWN)
