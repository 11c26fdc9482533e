"""`incidents integrations create / rotate / revoke / list` against the stack's integrations table on moto."""

from __future__ import annotations

import re

from escalation.alerts.integrations import Integration, create_integration, key_hash, lookup
from incidents_cli.main import app
from tests.cli.conftest import EVENTS_API_URL, FIRST, REGION, SECOND, Deployed, stack_template
from tests.cli.test_incident_commands import ok, refused

ROUTING_KEY = re.compile(r"\b[0-9a-f]{32}\b")


def test_create_prints_the_routing_key_once_and_the_events_url(deployed: Deployed) -> None:
    text = ok(deployed.cli("integrations", "create", "alertmanager", "--contact", FIRST, "--contact", SECOND, json_output=False))

    (routing_key,) = ROUTING_KEY.findall(text)
    assert EVENTS_API_URL in text and "shown this once" in text
    integration = lookup(deployed.integrations, routing_key)
    assert integration is not None
    assert (integration.name, integration.contacts, integration.policy) == ("alertmanager", (FIRST, SECOND), None)
    stored = str(deployed.integrations.scan()["Items"])
    assert routing_key not in stored and key_hash(routing_key) in stored  # only the hash is kept


def test_create_with_json_and_a_deployed_policy(deployed: Deployed) -> None:
    out = ok(deployed.cli("integrations", "create", "payments-alerts", "--policy", "payments"))

    assert set(out) == {
        "integration", "routing_key", "key_id", "created_at", "events_url", "base_url", "contacts", "policy", "page_template",
    }  # fmt: skip
    assert out["events_url"] == out["base_url"] + "/v2/enqueue"  # client libraries append the path themselves
    assert (out["integration"], out["events_url"], out["policy"], out["contacts"]) == (
        "payments-alerts",
        EVENTS_API_URL,
        "payments",
        [],
    )
    assert out["key_id"] == key_hash(out["routing_key"])[:8]
    integration = lookup(deployed.integrations, out["routing_key"])
    assert integration is not None and integration.policy == "payments"


def test_create_refuses_what_would_page_nobody_or_the_wrong_people(deployed: Deployed) -> None:
    both = deployed.cli("integrations", "create", "x", "--contact", FIRST, "--policy", "payments")
    assert "--contact NUMBER (repeatable) or --policy NAME, not both" in refused(both)
    assert "--contact NUMBER (repeatable) or --policy NAME" in refused(deployed.cli("integrations", "create", "x"))
    unknown = refused(deployed.cli("integrations", "create", "x", "--policy", "nights"))
    assert "--policy: no policy 'nights' is deployed (deployed: payments, platform)" in unknown
    bad = refused(deployed.cli("integrations", "create", "x", "--contact", "07700900001"))
    assert "refused, nothing changed: contacts[0]: '07700900001' is not an E.164 phone number" in bad
    assert "refused, nothing changed: name: must be 1-64 letters" in refused(
        deployed.cli("integrations", "create", "no spaces", "--contact", FIRST)
    )
    assert deployed.integrations.scan()["Items"] == []


def test_a_name_is_created_once(deployed: Deployed) -> None:
    ok(deployed.cli("integrations", "create", "alertmanager", "--contact", FIRST))
    again = refused(deployed.cli("integrations", "create", "alertmanager", "--contact", SECOND))
    assert "name: an integration 'alertmanager' exists already" in again


def test_rotate_adds_a_key_and_revoke_retires_the_old_one(deployed: Deployed) -> None:
    old = ok(deployed.cli("integrations", "create", "alertmanager", "--contact", FIRST))
    new = ok(deployed.cli("integrations", "rotate", "alertmanager"))
    assert new["events_url"] == EVENTS_API_URL and new["routing_key"] != old["routing_key"]
    assert lookup(deployed.integrations, old["routing_key"]) is not None  # no gap while senders switch
    assert lookup(deployed.integrations, new["routing_key"]) is not None
    (listed,) = ok(deployed.cli("integrations", "list"))
    assert listed == {
        "name": "alertmanager",
        "contacts": [FIRST],
        "policy": None,
        "page_template": None,
        "key_ids": sorted([old["key_id"], new["key_id"]]),
    }

    text = ok(deployed.cli("integrations", "revoke", "alertmanager", old["key_id"], json_output=False))

    assert f"Key {old['key_id']} of alertmanager revoked" in text
    assert lookup(deployed.integrations, old["routing_key"]) is None
    assert lookup(deployed.integrations, new["routing_key"]) is not None
    assert ok(deployed.cli("integrations", "list"))[0]["key_ids"] == [new["key_id"]]


def test_rotate_and_revoke_name_what_does_not_exist(deployed: Deployed) -> None:
    assert "name: no integration 'ghost'" in refused(deployed.cli("integrations", "rotate", "ghost"))
    ok(deployed.cli("integrations", "create", "alertmanager", "--contact", FIRST))
    assert "key_id: 'alertmanager' has no key 'deadbeef'" in refused(
        deployed.cli("integrations", "revoke", "alertmanager", "deadbeef")
    )


def test_list_for_a_person_masks_numbers_and_never_shows_keys(deployed: Deployed) -> None:
    assert "No integrations" in ok(deployed.cli("integrations", "list", json_output=False))
    created = ok(deployed.cli("integrations", "create", "alertmanager", "--contact", FIRST, "--contact", SECOND))
    ok(deployed.cli("integrations", "create", "payments-alerts", "--policy", "payments"))

    text = ok(deployed.cli("integrations", "list", json_output=False))

    assert "+44********01 -> +44********02" in text and "policy payments" in text
    assert created["key_id"] in text and created["routing_key"] not in text


US_NUMBER = "+12025550103"
OUTSIDE = f"{US_NUMBER} is outside the countries this deployment may text (allowedCountries: calling codes +353, +44)"


def test_create_refuses_a_number_outside_the_allowed_countries(deployed: Deployed) -> None:
    result = deployed.cli("integrations", "create", "alertmanager", "--contact", FIRST, "--contact", US_NUMBER)
    assert f"refused, nothing changed: contacts[1]: {OUTSIDE}" in refused(result)
    assert deployed.integrations.scan()["Items"] == []
    ok(deployed.cli("integrations", "create", "alertmanager", "--contact", "+353851234567", "--contact", FIRST))


def test_rotate_refuses_an_integration_that_pages_a_number_outside_the_allowed_countries(deployed: Deployed) -> None:
    # Created before allowedCountries left out its country: its incidents would be refused, so a new key is too.
    old = create_integration(deployed.integrations, "legacy", contacts=[FIRST, US_NUMBER])
    assert f"refused, nothing changed: contacts[1]: {OUTSIDE}" in refused(deployed.cli("integrations", "rotate", "legacy"))
    (listed,) = ok(deployed.cli("integrations", "list"))
    assert listed["key_ids"] == [old["key_id"]]
    ok(deployed.cli("integrations", "create", "by-policy", "--policy", "payments"))
    assert ok(deployed.cli("integrations", "rotate", "by-policy"))["integration"] == "by-policy"  # no numbers of its own


def _stack(deployed: Deployed, name: str, allowed_calling_codes: str | None) -> None:
    parameters = [{"ParameterKey": "StateMachineArn", "ParameterValue": deployed.state_machine_arn}]
    template = stack_template(oncall=False, allowed_calling_codes=allowed_calling_codes)
    deployed.cloudformation.create_stack(StackName=name, TemplateBody=template, Parameters=parameters)


def test_a_deployment_without_a_country_limit_takes_any_number(deployed: Deployed) -> None:
    _stack(deployed, "Anywhere", "any")
    result = deployed.runner.invoke(
        app, ["--region", REGION, "--stack", "Anywhere", "--json", "integrations", "create", "us", "--contact", US_NUMBER]
    )
    assert ok(result)["contacts"] == [US_NUMBER]
    assert ok(deployed.runner.invoke(app, ["--region", REGION, "--stack", "Anywhere", "--json", "integrations", "rotate", "us"]))


def test_a_stack_that_does_not_say_which_countries_it_may_text_says_to_deploy(deployed: Deployed) -> None:
    _stack(deployed, "Older", None)
    result = deployed.runner.invoke(
        app, ["--region", REGION, "--stack", "Older", "integrations", "create", "x", "--contact", FIRST]
    )
    assert "stack Older has no output AllowedCallingCodes" in refused(result)


def test_a_template_with_a_placeholder_it_does_not_know_is_refused_at_create_naming_it(deployed: Deployed) -> None:
    bad = refused(deployed.cli("integrations", "create", "zabbix", "--contact", FIRST, "--template", "{summary} on {host}"))
    assert "refused, nothing changed: template: unknown placeholder {host}; the placeholders are {summary}," in bad
    code = refused(deployed.cli("integrations", "create", "zabbix", "--contact", FIRST, "--template", "{summary.__class__}"))
    assert "template: unknown placeholder {summary.__class__}" in code  # nothing in a template is evaluated
    assert deployed.integrations.scan()["Items"] == []

    out = ok(deployed.cli("integrations", "create", "zabbix", "--contact", FIRST, "--template", "{summary} on {instance} {link}"))

    assert out["page_template"] == "{summary} on {instance} {link}"
    integration = lookup(deployed.integrations, out["routing_key"])
    assert integration is not None and integration.page_template == "{summary} on {instance} {link}"


def test_an_integrations_template_is_changed_and_set_back_to_the_default(deployed: Deployed) -> None:
    created = ok(deployed.cli("integrations", "create", "grafana", "--contact", FIRST))
    assert created["page_template"] == "{summary} - {instance}: {description} {link}"  # the default

    text = ok(deployed.cli("integrations", "template", "grafana", "[{severity}] {summary} {link}", json_output=False))

    assert "Pages of grafana now say: [{severity}] {summary} {link}" in text  # brackets are text, not markup
    integration = lookup(deployed.integrations, created["routing_key"])
    assert integration is not None and integration.page_template == "[{severity}] {summary} {link}"
    assert "template: {link} may appear once, at the end" in refused(
        deployed.cli("integrations", "template", "grafana", "{link} {summary}")
    )
    assert ok(deployed.cli("integrations", "template", "grafana", "--default"))["page_template"] == created["page_template"]
    assert lookup(deployed.integrations, created["routing_key"]) == Integration("grafana", (FIRST,))
    assert "name: no integration 'ghost'" in refused(deployed.cli("integrations", "template", "ghost", "{summary}"))


def test_an_integrations_urgency_is_set_and_set_back_to_by_severity(deployed: Deployed) -> None:
    created = ok(deployed.cli("integrations", "create", "nightly", "--contact", FIRST))
    assert ok(deployed.cli("integrations", "urgency", "nightly", "low")) == {"integration": "nightly", "urgency": "low"}
    integration = lookup(deployed.integrations, created["routing_key"])
    assert integration is not None and integration.urgency == "low"
    assert ok(deployed.cli("integrations", "urgency", "nightly", "by-severity"))["urgency"] == "by-severity"
    assert lookup(deployed.integrations, created["routing_key"]) == Integration("nightly", (FIRST,))
    assert "urgency: must be high, low or by-severity" in refused(deployed.cli("integrations", "urgency", "nightly", "urgent"))
    assert "name: no integration 'ghost'" in refused(deployed.cli("integrations", "urgency", "ghost", "high"))
