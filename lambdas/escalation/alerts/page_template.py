"""Page templates: what the page of an alert's incident says, in a small placeholder syntax.

A template is one line of text with placeholders in braces; an integration may set its own
(`incidents integrations create --template`), else DEFAULT_TEMPLATE applies:

    {summary}      payload.summary
    {instance}     the first alert's `instance` label in Alertmanager-style custom_details
    {description}  that alert's `description` annotation, else its `summary` annotation
    {source} {severity} {component} {group} {class}   the payload's fields
    {link}         the first link (links[0].href, else client_url)

`{{` and `}}` are braces. Nothing is evaluated: a placeholder is one of these names, and anything else
(another name, a format spec, an index or attribute, an unclosed brace) is refused when the template is set.
`{link}` may only come last: the page puts the link after the text, where shortening the text to the
segment budget never cuts it in half; a template without `{link}` sends pages without the link.

A fact that is empty, or already said earlier in the text (an instance the summary names), is left out
with the text just before it (the text just after it, at the start), so "{summary} - {instance}: {description}"
reads "Disk full: only 1% left" when there is no instance. Every fact is made one line (messages.one_line).
"""

import unicodedata
from collections.abc import Mapping
from string import Formatter

from escalation.sms.segments import one_line

PLACEHOLDERS = ("summary", "instance", "description", "source", "severity", "component", "group", "class", "link")
DEFAULT_TEMPLATE = "{summary} - {instance}: {description} {link}"
MAX_TEMPLATE_LENGTH = 256
_LISTED = ", ".join("{" + name + "}" for name in PLACEHOLDERS)


class InvalidTemplate(ValueError):
    """A template that cannot be used; the message names the problem (an unknown placeholder by its name)."""


def _fields(template: str) -> list[tuple[str, str | None]]:
    """(literal text, placeholder or None) pairs; InvalidTemplate for anything but known, bare placeholders."""
    try:
        parsed = list(Formatter().parse(template))
    except ValueError as error:  # an unmatched brace
        raise InvalidTemplate(f"{error}; write {{{{ and }}}} for a brace") from None
    fields: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in parsed:
        if name is not None and (name not in PLACEHOLDERS or spec or conversion):
            shown = "{" + name + ("!" + conversion if conversion else "") + (":" + spec if spec else "") + "}"
            raise InvalidTemplate(f"unknown placeholder {shown}; the placeholders are {_LISTED}")
        fields.append((literal, name))
    return fields


def check_template(template: str) -> str:
    """The template, if it can be used; InvalidTemplate naming what is wrong otherwise."""
    if not isinstance(template, str) or not template.strip():
        raise InvalidTemplate("must not be empty")
    if len(template) > MAX_TEMPLATE_LENGTH:
        raise InvalidTemplate(f"is {len(template)} characters long; the limit is {MAX_TEMPLATE_LENGTH}")
    if any(unicodedata.category(character) in ("Cc", "Cf", "Zl", "Zp") for character in template):
        raise InvalidTemplate("must be one line, without control or invisible formatting characters")
    fields = _fields(template)
    names = [name for _, name in fields if name is not None]
    text_after_link = fields[-1][1] is None and bool(fields[-1][0].strip())
    if "link" in names and (names[-1] != "link" or names.count("link") > 1 or text_after_link):
        raise InvalidTemplate("{link} may appear once, at the end: the page puts the link after the text")
    if not any(name in names for name in ("summary", "description", "instance")):
        raise InvalidTemplate("needs {summary}, {description} or {instance}: a page must say what is wrong")
    return template


def has_link(template: str) -> bool:
    """True when pages from this (checked) template carry the link."""
    return any(name == "link" for _, name in _fields(template))


def render(template: str, facts: Mapping[str, str]) -> str:
    """The text of a (checked) template with these facts, one line; `{link}` is left to the page."""
    text = ""
    said = False  # a fact has been put in the text
    drop_literal = False  # the text before this placeholder goes: it followed a fact left out at the start
    for literal, name in _fields(template):
        before = "" if drop_literal else literal
        drop_literal = False
        if name is None:
            text += before
            continue
        value = "" if name == "link" else one_line(facts.get(name) or "")
        if value and value.casefold() not in text.casefold():
            text += before + value
            said = True
        elif not said:
            text += before
            drop_literal = True
    return one_line(text)
