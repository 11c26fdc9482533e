"""Read oncall.yaml at synth time: YAML in, checked on-call definitions out, or an error naming the path.

The model lives with the functions (lambdas/escalation/oncall.py), which get the definitions as
JSON; YAML is only ever read here.
"""

import sys
from pathlib import Path

import yaml
from pydantic import ValidationError

from stacks.config import ConfigError

LAMBDA_SOURCE = Path(__file__).resolve().parent.parent / "lambdas"
if str(LAMBDA_SOURCE) not in sys.path:  # `cdk synth` runs app.py from the repository root only
    sys.path.append(str(LAMBDA_SOURCE))

from escalation.oncall import Definitions, format_loc  # noqa: E402
from escalation.oncall_store import definitions_item  # noqa: E402

__all__ = ["Definitions", "OncallConfigError", "check_destinations", "definitions_item", "load_oncall", "parse_oncall"]

ONCALL_FILE = Path(__file__).resolve().parent.parent / "oncall.yaml"


class OncallConfigError(ConfigError):
    """oncall.yaml is unreadable or wrong; each line reads ``oncall.yaml: <path>: <problem>``."""


def parse_oncall(text: str, source: str = "oncall.yaml") -> Definitions:
    """Check the YAML text of on-call definitions; raises OncallConfigError naming every bad path."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(top level)"
        raise OncallConfigError(f"{source}: {where}: not valid YAML ({getattr(error, 'problem', None) or error})") from None
    if not isinstance(data, dict):
        raise OncallConfigError(f"{source}: (top level): must be a mapping with people, rotations and policies")
    try:
        return Definitions.model_validate(data)
    except ValidationError as error:
        lines = [f"{source}: {format_loc(tuple(detail['loc']))}: {detail['msg']}" for detail in error.errors()]
        raise OncallConfigError("\n".join(lines)) from None


def load_oncall(path: Path = ONCALL_FILE) -> Definitions:
    """Read and check an oncall.yaml file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise OncallConfigError(f"{path.name}: (top level): cannot be read ({error.strerror})") from None
    return parse_oncall(text, source=path.name)


def check_destinations(definitions: Definitions, allowed_calling_codes: tuple[str, ...], source: str = "oncall.yaml") -> None:
    """Refuse people whose phones are outside allowedCountries (the start handler refuses such contacts too)."""
    if not allowed_calling_codes:
        return
    codes = ", ".join(f"+{code}" for code in allowed_calling_codes)
    bad = [
        f"{source}: people.{person_id}.phone: {person.phone} is outside the countries this deployment may text ({codes})"
        for person_id, person in definitions.people.items()
        if not any(person.phone.startswith(f"+{code}") for code in allowed_calling_codes)
    ]
    if bad:
        raise OncallConfigError("\n".join(bad))
