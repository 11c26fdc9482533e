"""Phone number rules: E.164 validation and masking for logs and the audit trail."""

import re

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def is_e164(value: object) -> bool:
    """True when value is a string in E.164 form, e.g. +447700900001."""
    return isinstance(value, str) and E164.fullmatch(value) is not None


def mask(number: str) -> str:
    """Hide all but the country prefix and the last two digits: +44*********01."""
    if len(number) <= 5:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 5) + number[-2:]
