"""Phone number rules: E.164 validation, the deployment's countries, and masking for logs and the audit trail."""

import re

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def is_e164(value: object) -> bool:
    """True when value is a string in E.164 form, e.g. +447700900001."""
    return isinstance(value, str) and E164.fullmatch(value) is not None


def outside_countries(number: str, allowed_calling_codes: tuple[str, ...]) -> str | None:
    """Why number may not be texted by this deployment, or None when it may.

    allowed_calling_codes: allowedCountries as calling codes ("44", "353"); empty means no limit.
    """
    if not allowed_calling_codes or any(number.startswith(f"+{code}") for code in allowed_calling_codes):
        return None
    codes = ", ".join(f"+{code}" for code in allowed_calling_codes)
    return f"{number} is outside the countries this deployment may text (allowedCountries: calling codes {codes})"


def mask(number: str) -> str:
    """Hide all but the country prefix and the last two digits: +44*********01."""
    if len(number) <= 5:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 5) + number[-2:]
