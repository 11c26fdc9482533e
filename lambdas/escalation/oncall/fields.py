"""The value types of on-call definitions: ids, E.164 numbers, zones, clock times, and the strict model base.

Every error carries the path of the bad value (``policies.payments.levels[1].targets``, see ``format_loc``).
"""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, ClassVar, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

Id = Annotated[str, Field(pattern=_ID)]


def format_loc(loc: tuple[int | str, ...]) -> str:
    """``('policies', 'payments', 'levels', 1, 'targets')`` -> ``policies.payments.levels[1].targets``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _phone(value: object) -> object:
    if not isinstance(value, str) or _E164.fullmatch(value) is None:
        raise PydanticCustomError(
            "e164", "must be an E.164 number in quotes, e.g. '+447700900001', got {value}", {"value": repr(value)}
        )
    return value


def _zone(value: object) -> object:
    if not isinstance(value, str):
        raise PydanticCustomError(
            "zone", "must be an IANA time zone name such as Europe/London, got {value}", {"value": repr(value)}
        )
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "zone", "unknown time zone {value}; use an IANA name such as Europe/London", {"value": repr(value)}
        ) from None
    return value


def _clock(value: object) -> object:
    # YAML 1.1 reads an unquoted 17:00 as the number 1020 (base 60).
    if isinstance(value, int):
        raise PydanticCustomError("clock", "write times in quotes, e.g. '17:00' (unquoted, YAML reads a number)", {})
    return value


Phone = Annotated[str, BeforeValidator(_phone)]
Zone = Annotated[str, AfterValidator(_zone)]
Clock = Annotated[time, BeforeValidator(_clock)]


class StrictModel(BaseModel):
    """A definition: unknown keys refused, frozen, and `_not_empty` fields checked after the rest."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    # Checked after the fields, not with min_length: pydantic would also call a collection whose items
    # failed "too short", a second error for one mistake.
    _not_empty: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _filled(self) -> Self:
        empty = [name for name in self._not_empty if not getattr(self, name)]
        if empty:
            errors = [
                InitErrorDetails(
                    type=PydanticCustomError("empty", "must not be empty", {}),
                    loc=(type(self).model_fields[name].alias or name,),
                    input=getattr(self, name),
                )
                for name in empty
            ]
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self
