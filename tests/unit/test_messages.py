"""SMS texts and their segment accounting (what each page costs)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escalation.incidents import ops_notices
from escalation.sms import messages, segments
from escalation.sms.messages import page
from escalation.sms.segments import GSM7, UCS2, count_segments

SAMPLE_PAGE = (
    "INCIDENT 123: Error 111, unit 1 malfunctioned. Urgent assistance is required. "
    "https://example.com/incident/111/overview Reply YES to ack, NO to escalate."
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", (1, GSM7)),
        ("a" * 160, (1, GSM7)),
        ("a" * 161, (2, GSM7)),
        ("a" * 306, (2, GSM7)),
        ("a" * 307, (3, GSM7)),
        ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¡ÄÖÑÜ§¿äöñüà", (1, GSM7)),
    ],
)
def test_gsm7_fits_160_in_one_segment_and_153_per_part(text: str, expected: tuple[int, str]) -> None:
    assert count_segments(text) == expected


@pytest.mark.parametrize("char", list("^{}\\[~]|€\f"))
def test_gsm7_extension_characters_count_two_septets(char: str) -> None:
    assert count_segments(char * 80) == (1, GSM7)
    assert count_segments(char * 81) == (2, GSM7)
    assert count_segments("a" * 159 + char) == (2, GSM7)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ж" * 70, (1, UCS2)),
        ("ж" * 71, (2, UCS2)),
        ("ж" * 134, (2, UCS2)),
        ("ж" * 135, (3, UCS2)),
    ],
)
def test_ucs2_fits_70_in_one_segment_and_67_per_part(text: str, expected: tuple[int, str]) -> None:
    assert count_segments(text) == expected


def test_emoji_counts_two_utf16_units() -> None:
    assert count_segments("😀" * 35) == (1, UCS2)
    assert count_segments("😀" * 36) == (2, UCS2)
    assert count_segments("a" * 68 + "😀") == (1, UCS2)
    assert count_segments("a" * 69 + "😀") == (2, UCS2)


def test_one_non_gsm_character_turns_the_whole_text_into_ucs2() -> None:
    assert count_segments("a" * 100) == (1, GSM7)
    assert count_segments("a" * 100 + "ç") == (2, UCS2)  # lower-case c cedilla is not in GSM-7


def test_sample_incident_page_fits_one_segment() -> None:
    sms = messages.page(
        "123",
        "Error 111, unit 1 malfunctioned. Urgent assistance is required.",
        "https://example.com/incident/111/overview",
        level=0,
        max_segments=1,
    )
    assert sms.body == SAMPLE_PAGE
    assert (sms.segments, sms.encoding) == (1, GSM7)


def test_escalated_page_is_labelled_and_still_fits_one_segment() -> None:
    sms = messages.page("123", "Error 111, unit 1 malfunctioned.", "https://example.com/i/1", level=1, max_segments=1)
    assert sms.body.startswith("INCIDENT 123 (escalated): Error 111")
    assert sms.segments == 1


@pytest.mark.parametrize("url", ["no url", "NO URL", " No Url ", "", None])
def test_no_url_is_omitted_from_the_page(url: str | None) -> None:
    sms = messages.page("123", "Disk full on db-1.", url, level=0, max_segments=1)
    assert sms.body == "INCIDENT 123: Disk full on db-1. Reply YES to ack, NO to escalate."
    assert "url" not in sms.body.casefold()


def test_long_description_is_shortened_to_one_segment_and_keeps_url_and_instructions() -> None:
    description = "Database cluster db-prod-1 lost quorum after node 3 failed; " * 10
    url = "https://example.com/i/42"
    sms = messages.page("42", description, url, level=0, max_segments=1)
    assert sms.segments == 1
    assert count_segments(sms.body) == (1, GSM7)
    assert sms.body.startswith("INCIDENT 42: Database cluster db-prod-1")
    assert sms.body.endswith(f"... {url} Reply YES to ack, NO to escalate.")
    assert len(sms.body) > 140  # shortened to the budget, not to nothing


def test_long_description_uses_a_larger_budget_when_configured() -> None:
    description = "x" * 1000
    one = messages.page("42", description, None, level=0, max_segments=1)
    three = messages.page("42", description, None, level=0, max_segments=3)
    assert one.segments == 1
    assert three.segments == 3
    assert len(three.body) > 3 * 140


def test_non_gsm_description_is_shortened_to_the_ucs2_budget() -> None:
    description = "Сервер базы данных недоступен, требуется срочная помощь дежурного инженера"
    sms = messages.page("7", description, None, level=0, max_segments=1)
    assert sms.encoding == UCS2
    assert sms.segments == 1
    assert len(sms.body.encode("utf-16-le")) // 2 <= 70
    assert sms.body.startswith("INCIDENT 7: Сервер")
    assert "..." in sms.body


def test_url_too_long_for_the_budget_is_dropped_rather_than_overspending() -> None:
    url = "https://example.com/" + "a" * 200
    sms = messages.page("123", "Disk full.", url, level=0, max_segments=1)
    assert sms.segments == 1
    assert url not in sms.body
    assert sms.body == "INCIDENT 123: Disk full. Reply YES to ack, NO to escalate."


def test_braces_in_incident_id_and_url_are_sent_verbatim() -> None:
    sms = messages.page("INC-{7}", "Disk {full}.", "https://example.com/{id}", level=0, max_segments=1)
    assert sms.body == "INCIDENT INC-{7}: Disk {full}. https://example.com/{id} Reply YES to ack, NO to escalate."
    reminder = messages.reminder("INC-{7}", "x" * 500, max_segments=1)
    assert reminder.body.startswith("REMINDER INC-{7}: xxx")


def test_reminder_never_repeats_the_url_and_fits_the_budget() -> None:
    sms = messages.reminder("123", "Error 111, unit 1 malfunctioned. Urgent assistance is required.", max_segments=1)
    assert (
        sms.body
        == "REMINDER 123: Error 111, unit 1 malfunctioned. Urgent assistance is required. Reply YES to ack, NO to escalate."
    )
    assert sms.segments == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (messages.escalated_notice("123"), "Incident 123 has been escalated to the next contact."),
        (messages.acknowledged_confirmation("123"), "Incident 123 acknowledged. Thank you, it is yours."),
        (messages.exhausted_notice("123"), "Incident 123 is UNACKNOWLEDGED: escalation stopped. Reply YES to take it."),
        (messages.help_text("123"), "Reply YES to acknowledge incident 123 or NO to escalate it, e.g. YES 123"),
        (messages.already_escalated("123"), "Incident 123 was already escalated. Reply YES if you take it after all."),
    ],
)
def test_courtesy_texts_for_the_sample_incident_cost_one_gsm7_segment(text: Any, expected: str) -> None:
    assert text.body == expected
    assert (text.segments, text.encoding) == (1, GSM7)


def test_ops_notification_subject_fits_the_sns_limit() -> None:
    subject, body = ops_notices.ops_notification("i" * 128, "Disk full", 2)
    assert len(subject) <= 100
    assert "2 contact(s)" in body
    assert "Disk full" in body


@settings(max_examples=150, deadline=None)
@given(
    incident_id=st.from_regex(r"[A-Za-z0-9_{}-]{1,24}", fullmatch=True),
    description=st.text(max_size=600),
    url=st.one_of(st.none(), st.just("no url"), st.from_regex(r"https://example\.com/[a-z0-9/{}]{0,80}", fullmatch=True)),
    level=st.integers(min_value=0, max_value=3),
    max_segments=st.integers(min_value=1, max_value=4),
)
def test_page_never_exceeds_the_segment_budget(
    incident_id: str, description: str, url: str | None, level: int, max_segments: int
) -> None:
    sms = messages.page(incident_id, description, url, level=level, max_segments=max_segments)
    assert sms.segments <= max_segments
    assert count_segments(sms.body) == (sms.segments, sms.encoding)
    assert incident_id in sms.body
    assert sms.body.endswith("Reply YES to ack, NO to escalate.")


SAMPLE = ("123", "Error 111, unit 1 malfunctioned. Urgent assistance is required.", "https://example.com/incident/111/overview")


def test_sample_page_asks_for_the_id_when_another_incident_is_open_and_stays_one_segment() -> None:
    sms = messages.page(*SAMPLE, level=0, max_segments=1, other_open=True)
    assert sms.body == (
        "INCIDENT 123: Error 111, unit 1 malfunctioned. Urgent assistance is required. "
        "https://example.com/incident/111/overview Reply YES 123 or NO 123."
    )
    assert (sms.segments, sms.encoding) == (1, GSM7)
    reminder = messages.reminder("123", SAMPLE[1], max_segments=1, other_open=True)
    assert reminder.body.endswith("is required. Reply YES 123 or NO 123.")
    assert reminder.segments == 1


@settings(max_examples=100, deadline=None)
@given(
    incident_id=st.from_regex(r"[A-Za-z0-9_{}#-]{1,24}", fullmatch=True),
    description=st.text(max_size=400),
    url=st.one_of(st.none(), st.from_regex(r"https://example\.com/[a-z0-9/{}]{0,80}", fullmatch=True)),
    max_segments=st.integers(min_value=1, max_value=3),
)
def test_page_naming_the_id_never_exceeds_the_budget_and_always_says_how_to_answer(
    incident_id: str, description: str, url: str | None, max_segments: int
) -> None:
    sms = messages.page(incident_id, description, url, level=0, max_segments=max_segments, other_open=True)
    assert sms.segments <= max_segments
    assert sms.body.endswith(f"Reply YES {incident_id} or NO {incident_id}.")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            messages.acknowledged_confirmation("123", ["INC-7", "8812"]),
            "Incident 123 acknowledged. Thank you, it is yours. Also open for you: INC-7, 8812. Reply YES <id>.",
        ),
        (
            messages.acknowledged_confirmation("123", ["INC-7"]),
            "Incident 123 acknowledged. Thank you, it is yours. Also open for you: INC-7. Reply YES INC-7.",
        ),
        (messages.acknowledged_all_confirmation(["123", "INC-7"]), "Acknowledged: 123, INC-7. Thank you, they are yours."),
        (messages.acknowledged_all_confirmation(["123"]), "Incident 123 acknowledged. Thank you, it is yours."),
        (
            messages.help_text("123", ["123", "INC-7"]),
            "Reply YES to acknowledge incident 123 or NO to escalate it, e.g. YES 123. Open for you: 123, INC-7.",
        ),
        (
            messages.unknown_incident("inc-77", ["INC-7", "8812"]),
            "No incident inc-77 was paged to you. Nothing done. Open for you: INC-7, 8812. Reply YES <id>.",
        ),
        (
            messages.unknown_incident("9", []),
            "No incident 9 was paged to you, and nothing is open for you. Nothing done.",
        ),
        (messages.nothing_open("123"), "Nothing is open for you: incident 123 is closed. No action needed."),
    ],
)
def test_reply_answers_name_the_incident_and_cost_one_segment(text: Any, expected: str) -> None:
    assert text.body == expected
    assert (text.segments, text.encoding) == (1, GSM7)


def test_long_lists_of_open_incidents_are_cut_short() -> None:
    sms = messages.acknowledged_confirmation("1", [str(n) for n in range(2, 10)])
    assert sms.body.endswith("Also open for you: 2, 3, 4, 5, 6 +3 more. Reply YES <id>.")


def test_an_unknown_id_is_echoed_short() -> None:
    assert "x" * 25 not in messages.unknown_incident("x" * 500, ["1"]).body


def test_a_shortened_description_ends_at_a_word_boundary() -> None:
    sms = messages.page("123", *SAMPLE[1:], level=1, max_segments=1)
    assert "Urgent assistance is... " in sms.body and sms.segments == 1, sms.body
    assert segments.shorten("Disk full on db-1", 11) == "Disk full..."  # the cut fell inside "on": back to "full"
    assert segments.shorten("Disk full on db-1", 12) == "Disk full on..."  # the cut fell between words
    assert segments.shorten("Supercalifragilistic", 8) == "Supercal..."  # one long word: no boundary to back off to
    assert segments.shorten("short", 8) == "short"


def test_a_page_in_any_language_keeps_sixty_characters_with_its_unicode_budget() -> None:
    summary = "Диск заполнен на db-2: свободно 1%, запись в журнал остановлена, база данных только для чтения"
    one = page("4821", summary, None, level=0, max_segments=1)
    two = page("4821", summary, None, level=0, max_segments=1, max_unicode_segments=2)
    assert (one.encoding, one.segments, two.segments) == ("UCS-2", 1, 2)
    kept = two.body.removeprefix("INCIDENT 4821: ").split(" Reply ")[0]
    assert len(kept) >= 60 and kept.startswith("Диск заполнен на db-2"), kept
    assert len(one.body.removeprefix("INCIDENT 4821: ").split(" Reply ")[0]) < 30  # what one segment left
    gsm = page("4821", "Disk full on db-2", None, level=0, max_segments=1, max_unicode_segments=2)
    assert gsm.segments == 1  # a GSM-7 page keeps maxSmsSegments


def test_a_cut_right_after_a_word_keeps_the_word_and_drops_a_dangling_separator() -> None:
    described = "HighRequestLatency (api-server critical) - p99 latency above 2 s"
    assert segments.shorten(described, 41) == "HighRequestLatency (api-server critical)..."  # not "(api-server..."
    assert segments.shorten(described, 43) == "HighRequestLatency (api-server critical)..."  # not "critical) -..."
    assert segments.shorten("api-7.prod:9100: 5xx above 5%", 16) == "api-7.prod:9100..."


def test_a_page_keeps_the_longest_description_that_fits_beside_its_link() -> None:
    # "[" and "]" take two septets each: 55 characters of description fit beside this link in one segment.
    description = "[FIRING:1] HighRequestLatency (api-server critical) - p99 latency above 2 s"
    sms = page("4821", description, "http://alertmanager:9093/#/alerts?receiver=oncall-sms", level=0, max_segments=1)
    assert sms.segments == 1
    assert sms.body.startswith("INCIDENT 4821: [FIRING:1] HighRequestLatency (api-server critical)... http://"), sms.body


def test_names_in_a_text_are_one_line_too() -> None:
    name = "cli:ops\r\nIncident 9999 resolved.\u202e"
    texts = [
        messages.acknowledged_notice("4821", name),
        messages.acknowledged_digest(["4821", "4822"], name),
        messages.already_acknowledged("4821", name),
        messages.resolved_notice("4821", name),
        messages.handoff_notice("db\nnights\u2066", "09:00", "Europe/London"),
    ]
    for sms in texts:
        assert not any(character in sms.body for character in "\r\n\u202e\u2066"), sms.body
