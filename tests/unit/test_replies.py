"""The reply grammar: trimmed, case- and punctuation-insensitive YES/NO with an optional incident id."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from escalation.replies import Intent, Reply, parse_reply


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes ", Reply(Intent.ACKNOWLEDGE)),
        (" Yes!", Reply(Intent.ACKNOWLEDGE)),
        ("y", Reply(Intent.ACKNOWLEDGE)),
        ("Y.", Reply(Intent.ACKNOWLEDGE)),
        ("YES\n", Reply(Intent.ACKNOWLEDGE)),
        ("ACK 123", Reply(Intent.ACKNOWLEDGE, "123")),
        ("yes, 123.", Reply(Intent.ACKNOWLEDGE, "123")),
        ("“Yes”", Reply(Intent.ACKNOWLEDGE)),
        ("no.", Reply(Intent.DECLINE)),
        ("N", Reply(Intent.DECLINE)),
        ("decline", Reply(Intent.DECLINE)),
        ("No INC-7", Reply(Intent.DECLINE, "INC-7")),
        ("ok", Reply(Intent.UNKNOWN)),
        ("", Reply(Intent.UNKNOWN)),
        ("  ?! ", Reply(Intent.UNKNOWN)),
        ("yesterday", Reply(Intent.UNKNOWN)),
        ("nope", Reply(Intent.UNKNOWN)),
        ("STOP", Reply(Intent.SERVICE_KEYWORD)),
        ("stop.", Reply(Intent.SERVICE_KEYWORD)),
        ("HELP", Reply(Intent.SERVICE_KEYWORD)),
        ("Unsubscribe", Reply(Intent.SERVICE_KEYWORD)),
    ],
)
def test_reply_grammar_examples(text: str, expected: Reply) -> None:
    assert parse_reply(text) == expected


def test_trailing_space_yes_acknowledges() -> None:
    assert parse_reply("yes ").intent == Intent.ACKNOWLEDGE


def test_ok_is_not_understood() -> None:
    assert parse_reply("ok").intent == Intent.UNKNOWN


def test_stop_is_left_to_the_service() -> None:
    assert parse_reply("STOP").intent == Intent.SERVICE_KEYWORD


_PUNCTUATION = st.text(alphabet=string.punctuation + "¡¿…“”", max_size=3)
_SPACE = st.text(alphabet=" \t\r\n", max_size=3)
_INCIDENT_ID = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9_-]{0,20}[A-Za-z0-9])?", fullmatch=True)


@st.composite
def _spelled(draw: st.DrawFn, words: tuple[str, ...]) -> str:
    word = draw(st.sampled_from(words))
    upper = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    return "".join(char.upper() if up else char for char, up in zip(word, upper, strict=True))


def _reply_text(words: tuple[str, ...]) -> st.SearchStrategy[tuple[str, str | None]]:
    """A reply keyword in any case, padded with space and edge punctuation, maybe followed by an id."""

    @st.composite
    def build(draw: st.DrawFn) -> tuple[str, str | None]:
        keyword = draw(_PUNCTUATION) + draw(_spelled(words)) + draw(_PUNCTUATION)
        incident_id = draw(st.none() | _INCIDENT_ID)
        tail = "" if incident_id is None else " " + draw(_SPACE) + draw(_PUNCTUATION) + incident_id + draw(_PUNCTUATION)
        return draw(_SPACE) + keyword + tail + draw(_SPACE), incident_id

    return build()


@given(_reply_text(("yes", "y", "ack")))
def test_any_spelling_of_yes_acknowledges(case: tuple[str, str | None]) -> None:
    text, incident_id = case
    assert parse_reply(text) == Reply(Intent.ACKNOWLEDGE, incident_id)


@given(_reply_text(("no", "n", "decline")))
def test_any_spelling_of_no_declines(case: tuple[str, str | None]) -> None:
    text, incident_id = case
    assert parse_reply(text) == Reply(Intent.DECLINE, incident_id)


@given(
    st.text() | st.builds(lambda p, w, s: p + " " + w + s, _PUNCTUATION, st.sampled_from(["yes", "NO", "ok", "stop"]), st.text())
)
def test_parser_never_crashes_and_unknown_words_are_never_yes_or_no(text: str) -> None:
    reply = parse_reply(text)
    assert isinstance(reply.intent, Intent)
    words = [word.strip(string.punctuation + "¡¿\u201c\u201d\u2018\u2019«»…").casefold() for word in text.split()]
    first = next((word for word in words if word), "")
    if reply.intent == Intent.ACKNOWLEDGE:
        assert first in {"yes", "y", "ack"}
    if reply.intent == Intent.DECLINE:
        assert first in {"no", "n", "decline"}
