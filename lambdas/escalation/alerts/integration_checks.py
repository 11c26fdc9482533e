"""What an integration may be: its name, its contacts or policy, its page template; errors name the field."""

import re
from collections.abc import Sequence

from escalation.alerts.page_template import InvalidTemplate
from escalation.alerts.page_template import check_template as check_template_text
from escalation.incidents.item import MAX_CONTACTS
from escalation.sms.phone_numbers import is_e164, outside_countries

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_POLICY_LENGTH = 128


class IntegrationError(ValueError):
    """A request about integrations cannot be done; the message names the field and the problem."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def check_name(name: str) -> None:
    """An integration's name: 1-64 letters, digits, '.', '_' or '-'; IntegrationError otherwise."""
    if not isinstance(name, str) or not NAME.match(name):
        raise IntegrationError("name", "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")


def check_countries(contacts: Sequence[str], allowed_calling_codes: tuple[str, ...]) -> None:
    """Refuse a chain with a number the deployment may not text (the start handler would refuse its incidents)."""
    for index, number in enumerate(contacts):
        problem = outside_countries(number, allowed_calling_codes)
        if problem:
            raise IntegrationError(f"contacts[{index}]", problem)


def check_pages(contacts: Sequence[str], policy: str | None, allowed_calling_codes: tuple[str, ...]) -> tuple[str, ...]:
    """An integration pages an escalation policy (resolved when each level is paged) or a contact chain, not both."""
    if policy is not None and contacts:
        raise IntegrationError("policy", "give either policy or contacts, not both")
    if policy is not None:
        if not isinstance(policy, str) or not policy.strip() or len(policy) > MAX_POLICY_LENGTH:
            raise IntegrationError("policy", f"must be a non-empty name of at most {MAX_POLICY_LENGTH} characters")
        return ()
    if not contacts:
        raise IntegrationError("contacts", "must name at least one phone number, or give a policy")
    if len(contacts) > MAX_CONTACTS:
        raise IntegrationError("contacts", f"has {len(contacts)} numbers; the limit is {MAX_CONTACTS}")
    for index, number in enumerate(contacts):
        if not is_e164(number):
            raise IntegrationError(f"contacts[{index}]", f"{number!r} is not an E.164 phone number such as +447700900001")
    if len(set(contacts)) != len(contacts):
        raise IntegrationError("contacts", "lists a number more than once")
    check_countries(contacts, allowed_calling_codes)
    return tuple(contacts)


def check_page_template(template: str | None) -> str | None:
    """The page template, checked; IntegrationError naming the problem (an unknown placeholder by name)."""
    if template is None:
        return None
    try:
        return check_template_text(template)
    except InvalidTemplate as error:
        raise IntegrationError("template", str(error)) from None
