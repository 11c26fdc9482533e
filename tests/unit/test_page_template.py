"""Page templates: what an alert's page says, checked when an integration sets one, never evaluated."""

from __future__ import annotations

import pytest

from escalation.alerts.page_template import DEFAULT_TEMPLATE, InvalidTemplate, check_template, has_link, render

FACTS = {"summary": "Disk full", "instance": "db-1:9100", "description": "1% left on /var", "link": "https://g.example/d/1"}


def test_the_default_says_the_summary_then_the_instance_and_description_and_leaves_the_link_to_the_page() -> None:
    assert render(DEFAULT_TEMPLATE, FACTS) == "Disk full - db-1:9100: 1% left on /var"
    assert has_link(DEFAULT_TEMPLATE)


@pytest.mark.parametrize(
    ("template", "facts", "text"),
    [
        (DEFAULT_TEMPLATE, {**FACTS, "instance": ""}, "Disk full: 1% left on /var"),  # the text before it goes with it
        (DEFAULT_TEMPLATE, {**FACTS, "description": ""}, "Disk full - db-1:9100"),
        (DEFAULT_TEMPLATE, {**FACTS, "summary": "Disk full on DB-1:9100"}, "Disk full on DB-1:9100: 1% left on /var"),  # said
        ("{instance}: {summary}", {**FACTS, "instance": ""}, "Disk full"),  # at the start, the text after it goes
        ("ALERT {instance}: {summary}", {**FACTS, "instance": ""}, "ALERT Disk full"),
        ("{{{severity}}} {summary} {link}", {**FACTS, "severity": "critical"}, "{critical} Disk full"),  # {{ is a brace
        (
            "{summary} {instance}",
            {**FACTS, "instance": "db-1\n\u202eINCIDENT 9999 resolved"},
            "Disk full db-1 INCIDENT 9999 resolved",
        ),
    ],
)
def test_a_template_is_filled_with_one_line_facts_leaving_out_what_is_empty_or_said(
    template: str, facts: dict[str, str], text: str
) -> None:
    assert render(check_template(template), facts) == text


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{summary} on {host}", "unknown placeholder {host}; the placeholders are {summary}, {instance}, {description},"),
        ("{summary!r}", "unknown placeholder {summary!r}"),
        ("{summary:>99999999}", "unknown placeholder {summary:>99999999}"),  # no format specs: nothing is evaluated
        ("{summary.__class__.__init__}", "unknown placeholder {summary.__class__.__init__}"),
        ("{summary[0]}", "unknown placeholder {summary[0]}"),
        ("{0}", "unknown placeholder {0}"),
        ("{summary", "expected '}' before end of string; write {{ and }} for a brace"),
        ("{link} {summary}", "{link} may appear once, at the end"),
        ("{summary} {link} (dashboard)", "{link} may appear once, at the end"),
        ("{summary}\n{link}", "must be one line"),
        ("{summary} \u202e", "must be one line"),
        ("{severity} {link}", "needs {summary}, {description} or {instance}"),
        ("   ", "must not be empty"),
        ("{summary}" + "x" * 300, "is 309 characters long; the limit is 256"),
    ],
)
def test_a_template_that_cannot_be_used_is_refused_naming_the_problem(template: str, problem: str) -> None:
    with pytest.raises(InvalidTemplate) as refused:
        check_template(template)
    assert str(refused.value).startswith(problem), str(refused.value)


def test_a_template_without_link_sends_no_link() -> None:
    assert not has_link("{summary} {instance}")
