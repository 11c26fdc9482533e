"""The reply grammar: the whole message is `<keyword>` or `<keyword> <id>` (or YES ALL); anything else is help."""

from __future__ import annotations

import string

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from escalation.replies.grammar import Intent, Reply, id_key, parse_reply

EDGE = string.punctuation + "¡¿\u201c\u201d\u2018\u2019«»…"  # typographic quotes too


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
        ("yes #INC-7", Reply(Intent.ACKNOWLEDGE, "INC-7")),
        ("“Yes”", Reply(Intent.ACKNOWLEDGE)),
        ("Yes - 123", Reply(Intent.ACKNOWLEDGE, "123")),  # a word of punctuation only is no word
        ("YES ALL", Reply(Intent.ACKNOWLEDGE_ALL)),
        ("yes all!", Reply(Intent.ACKNOWLEDGE_ALL)),
        ("ack All", Reply(Intent.ACKNOWLEDGE_ALL)),
        ("no.", Reply(Intent.DECLINE)),
        ("N", Reply(Intent.DECLINE)),
        ("decline", Reply(Intent.DECLINE)),
        ("No INC-7", Reply(Intent.DECLINE, "INC-7")),
        ("no all", Reply(Intent.DECLINE, "all")),  # there is no NO ALL: "all" is an id like any other
        ("No problem, on it", Reply(Intent.UNKNOWN)),
        ("No worries", Reply(Intent.DECLINE, "worries")),  # two words: an id that will match no incident
        ("yes 123 thanks", Reply(Intent.UNKNOWN)),
        ("Yes I'm on it", Reply(Intent.UNKNOWN)),
        ("yes all please", Reply(Intent.UNKNOWN)),
        ("ok", Reply(Intent.UNKNOWN)),
        ("", Reply(Intent.UNKNOWN)),
        ("  ?! ", Reply(Intent.UNKNOWN)),
        ("yesterday", Reply(Intent.UNKNOWN)),
        ("nope", Reply(Intent.UNKNOWN)),
        ("yes,123", Reply(Intent.UNKNOWN)),  # words are separated by spaces
        ("STOP", Reply(Intent.SERVICE_KEYWORD)),
        ("stop.", Reply(Intent.SERVICE_KEYWORD)),
        ("HELP", Reply(Intent.SERVICE_KEYWORD)),
        ("Unsubscribe", Reply(Intent.SERVICE_KEYWORD)),
        ("stop 123", Reply(Intent.UNKNOWN)),
        ("TEST 482193", Reply(Intent.TEST, "482193")),  # the answer to a test page (incidents test-page)
        ("test 482193.", Reply(Intent.TEST, "482193")),
        ("test", Reply(Intent.UNKNOWN)),  # a test answer names its code
        ("test 1 2", Reply(Intent.UNKNOWN)),
    ],
)
def test_reply_grammar_examples(text: str, expected: Reply) -> None:
    assert parse_reply(text) == expected


@pytest.mark.parametrize(("written", "stored"), [("inc-7", "INC-7"), ("#INC-7", "INC-7"), ("Inc-7.", "inc-7"), ("#8812", "8812")])
def test_ids_compare_case_insensitively_without_a_leading_hash(written: str, stored: str) -> None:
    assert id_key(written) == id_key(stored)


@pytest.mark.parametrize(("written", "stored"), [("INC-71", "INC-7"), ("INC7", "INC-7"), ("8813", "8812")])
def test_a_different_id_never_compares_equal(written: str, stored: str) -> None:
    assert id_key(written) != id_key(stored)


_PUNCTUATION = st.text(alphabet=EDGE, max_size=3)
_SPACE = st.text(alphabet=" \t\r\n\u00a0", max_size=3)
_INCIDENT_ID = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9_-]{0,20}[A-Za-z0-9])?", fullmatch=True).filter(
    lambda value: value.casefold() != "all"
)


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


@given(_PUNCTUATION, _spelled(("yes", "y", "ack")), _SPACE, _spelled(("all",)), _PUNCTUATION)
def test_any_spelling_of_yes_all_acknowledges_all(before: str, yes: str, space: str, all_: str, after: str) -> None:
    assert parse_reply(f"{before}{yes} {space}{all_}{after}") == Reply(Intent.ACKNOWLEDGE_ALL)


def _words(text: str) -> list[str]:
    """The test's own reading of the words of a message (independent of the parser's helpers)."""
    return [word.strip(EDGE) for word in text.split() if word.strip(EDGE)]


_KEYWORD_LED = st.builds(
    lambda lead, keyword, rest: lead + keyword + rest,
    _PUNCTUATION,
    st.sampled_from(["yes", "NO", "y", "N", "Ack", "decline", "ok", "stop", "yes all"]),
    st.text(),
)


@given(st.text() | _KEYWORD_LED)
@example("No problem, on it")
@example("Yes 123 done")
@example("no no no")
def test_every_text_has_one_documented_intent_and_only_short_ones_act(text: str) -> None:
    reply = parse_reply(text)  # never raises
    assert reply.intent in set(Intent)
    words = _words(text)
    if reply.intent in (Intent.ACKNOWLEDGE, Intent.DECLINE, Intent.ACKNOWLEDGE_ALL):
        assert 1 <= len(words) <= 2, "a message longer than `<keyword> <id>` must never act"
        keywords = {"yes", "y", "ack"} if reply.intent != Intent.DECLINE else {"no", "n", "decline"}
        assert words[0].casefold() in keywords
        assert reply.incident_id == (words[1] if len(words) == 2 and reply.intent != Intent.ACKNOWLEDGE_ALL else None)
    if reply.intent == Intent.SERVICE_KEYWORD:
        assert len(words) == 1
    if reply.intent == Intent.TEST:
        assert len(words) == 2 and words[0].casefold() == "test" and reply.incident_id == words[1]
    if reply.intent == Intent.UNKNOWN:
        assert reply.incident_id is None


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=["Zs", "Cc"]), min_size=1), min_size=3))
def test_three_or_more_words_are_never_yes_or_no(words: list[str]) -> None:
    text = " ".join(["yes", *words[1:]])
    if len(_words(text)) > 2:
        assert parse_reply(text).intent == Intent.UNKNOWN
