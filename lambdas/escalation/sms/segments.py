"""What a text costs and how outside text is made fit to send: SMS segments, shortening, one line.

SMS is billed per segment. GSM-7 fits 160 characters in one segment and 153 per part
once split; a single character outside GSM-7 turns the whole message into UCS-2, which
fits 70 (67 per part). Characters of the GSM-7 extension table take two septets.
"""

import math
import unicodedata

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
GSM7 = "GSM-7"
UCS2 = "UCS-2"
NO_URL = "no url"
ELLIPSIS = "..."
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


def shorten_to_fit(template: str, description: str, max_segments: int, *, min_keep: int = 0) -> str | None:
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


def literal(text: str) -> str:
    """Escape text for a str.format template: ids and URLs may contain braces."""
    return text.replace("{", "{{").replace("}", "}}")


def has_url(url: str | None) -> bool:
    """True when url is a link worth sending (not empty, not the "no url" placeholder)."""
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


def segment_budget(text: str, max_segments: int, max_unicode_segments: int | None) -> int:
    """The segments a text about this description may use: more when it needs UCS-2 (any character outside GSM-7).

    One UCS-2 segment holds 70 characters (67 each when split), so a page in Cyrillic or with an emoji would keep
    about 18 characters of its description in one. The cost: every segment is billed as one message, so a UCS-2
    page at maxSmsSegmentsUnicode 2 costs 2 messages where a GSM-7 page at maxSmsSegments 1 costs 1.
    """
    if max_unicode_segments is None or count_segments(gsm_friendly(text))[1] != UCS2:
        return max_segments
    return max(max_segments, max_unicode_segments)
