"""On-call definitions (people, rotations, escalation policies) and who is on call at an instant.

The definitions are checked with pydantic; every error carries the path of the bad value
(``policies.payments.levels[1].targets``, see ``format_loc``). This is the only Lambda module
that imports pydantic (the Powertools layer ships it), so the handlers that do not page by
policy never load it. YAML is read at synth time only; functions get the definitions as JSON
(``Definitions.model_dump(mode="json")`` and ``Definitions.model_validate`` round-trip).

Time rules, all on the local wall clock of the rotation's zone (``zoneinfo`` does DST):

- A layer's handoffs happen at ``start`` + ``handoff`` + k x ``shift`` local time, so a 09:00
  handoff stays at 09:00 on both sides of a DST change (that shift is an hour shorter or longer).
  A handoff at a time the clocks skip happens at the instant PEP 495 gives it with ``fold=0``
  (the offset before the change: 01:30 on a London spring-forward day is 02:30 BST); a handoff
  at a time that occurs twice happens at its first occurrence, and never flips back.
- Before a layer's ``start`` the layer is not in effect.
- A restriction ``{days, from, to}`` keeps a layer in effect only in those local hours; ``to``
  before ``from`` runs overnight into the next day. Outside every restriction the layer is not
  in effect, and a lower layer (earlier in the list) shows through.
- Layers: the last layer listed is the highest; the highest layer in effect decides.
- Overrides take precedence over every layer. Of the overrides of a rotation in effect at the
  instant (``from`` <= instant < ``to``, and ``covers`` unset or naming the person the layers
  put on call), the latest created wins; equal creation times go to the later in the list.
  An override naming a person who is not in the definitions is ignored.
- Nobody on call: ``on_call`` returns None and ``resolve_level`` an empty list. The caller
  decides what an empty level means (paging moves on to the next level and tells ops).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, ClassVar, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
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


class _Model(BaseModel):
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


class Person(_Model):
    """Someone who can be paged. ``id`` is the key under ``people``."""

    id: Id
    name: str = Field(min_length=1)
    phone: Phone
    zone: Zone


class Shift(_Model):
    """Shift length: exactly one of hours, days or weeks."""

    hours: int | None = Field(default=None, ge=1, le=24 * 7)
    days: int | None = Field(default=None, ge=1, le=365)
    weeks: int | None = Field(default=None, ge=1, le=52)

    @model_validator(mode="after")
    def _one_unit(self) -> Self:
        if sum(value is not None for value in (self.hours, self.days, self.weeks)) != 1:
            raise PydanticCustomError("shift", "give exactly one of hours, days or weeks, e.g. {weeks: 1}", {})
        return self

    @property
    def length(self) -> timedelta:
        """The shift as a span of local wall-clock time."""
        return timedelta(hours=self.hours or 0, days=self.days or 0, weeks=self.weeks or 0)


class Restriction(_Model):
    """Local hours in which a layer is in effect, e.g. weekdays 09:00-17:00."""

    _not_empty = ("days",)
    days: tuple[Weekday, ...] = WEEKDAYS
    from_: Clock = Field(default=time(0, 0), alias="from")
    to: Clock = Field(default=time(0, 0))

    def covers(self, local: datetime) -> bool:
        """True when the naive local wall-clock time falls inside the restriction."""
        day = WEEKDAYS[local.weekday()]
        previous = WEEKDAYS[(local - timedelta(days=1)).weekday()]
        now = local.time()
        if self.from_ < self.to:
            return day in self.days and self.from_ <= now < self.to
        # to <= from: the window runs overnight (or, when equal, for a whole day) from the listed day.
        return (day in self.days and now >= self.from_) or (previous in self.days and now < self.to)


class Layer(_Model):
    """Participants taking turns, one shift each, from ``start`` at ``handoff`` in ``zone``."""

    name: str = Field(default="", max_length=64)
    _not_empty = ("participants",)
    participants: tuple[Id, ...]
    shift: Shift
    handoff: Clock
    zone: Zone
    start: date
    restrictions: tuple[Restriction, ...] = ()

    def _handoff_at(self, index: int) -> datetime:
        """The instant of the index-th handoff (0 is the first), at its local wall-clock time."""
        wall = datetime.combine(self.start, self.handoff) + index * self.shift.length
        return wall.replace(tzinfo=ZoneInfo(self.zone))

    def scheduled(self, at: datetime) -> str | None:
        """The id of the participant this layer puts on call at ``at``, or None when not in effect."""
        zone = ZoneInfo(self.zone)
        local = at.astimezone(zone).replace(tzinfo=None)
        if self.restrictions and not any(restriction.covers(local) for restriction in self.restrictions):
            return None
        # Estimate the shift from the wall clock, then settle it on instants (repeated or skipped hours).
        index = (local - datetime.combine(self.start, self.handoff)) // self.shift.length
        if self._handoff_at(index + 1) <= at:
            index += 1
        elif self._handoff_at(index) > at:
            index -= 1
        if index < 0:
            return None
        return self.participants[index % len(self.participants)]


class Rotation(_Model):
    """One or more layers; the last one listed is the highest."""

    _not_empty = ("layers",)
    layers: tuple[Layer, ...]


class Target(_Model):
    """A rotation (whoever is on call in it) or a person."""

    rotation: Id | None = None
    person: Id | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if (self.rotation is None) == (self.person is None):
            raise PydanticCustomError("target", "give exactly one of rotation or person", {})
        return self


class Level(_Model):
    """Targets paged together; any of them can acknowledge within ``ack_timeout_seconds``."""

    _not_empty = ("targets",)
    targets: tuple[Target, ...]
    ack_timeout_seconds: int = Field(default=300, ge=1, le=86_400)


MAX_TARGETS_PER_POLICY = 10  # as many as a contact chain may list (incident.MAX_CONTACTS): the SMS ceilings assume it


class Policy(_Model):
    """Ordered levels; after the last one the policy starts over ``repeat`` times."""

    _not_empty = ("levels",)
    levels: tuple[Level, ...]
    repeat: int = Field(default=0, ge=0, le=3)

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        targets = sum(len(level.targets) for level in self.levels)
        if targets > MAX_TARGETS_PER_POLICY:
            raise PydanticCustomError(
                "too_many_targets",
                "has {count} targets over its levels; the limit is {limit} (as for a contact chain)",
                {"count": targets, "limit": MAX_TARGETS_PER_POLICY},
            )
        return self

    def pass_seconds(self) -> int:
        """How long one pass over the levels lasts when nobody answers (reminders not counted)."""
        return sum(level.ack_timeout_seconds for level in self.levels)


def _ids_from_keys(people: object) -> object:
    """``people: {alice: {...}}``: the key is the person's id (a repeated ``id`` must match it)."""
    if not isinstance(people, dict):
        return people
    return {key: {"id": key, **value} if isinstance(value, dict) else value for key, value in people.items()}


class Definitions(_Model):
    """Everything in oncall.yaml."""

    _not_empty = ("people",)
    people: Annotated[dict[Id, Person], BeforeValidator(_ids_from_keys)]
    rotations: dict[Id, Rotation] = Field(default_factory=dict)
    policies: dict[Id, Policy] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references(self) -> Self:
        errors: list[InitErrorDetails] = []

        def unknown(loc: tuple[int | str, ...], kind: str, value: str, known: dict[str, Any]) -> None:
            choices = ", ".join(sorted(known)) or "none defined"
            errors.append(
                InitErrorDetails(
                    type=PydanticCustomError(
                        "unknown_reference",
                        "unknown {kind} {value} (known: {choices})",
                        {"kind": kind, "value": repr(value), "choices": choices},
                    ),
                    loc=loc,
                    input=value,
                )
            )

        for key, person in self.people.items():
            if person.id != key:
                errors.append(
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "id_mismatch", "id {id} differs from its key {key}", {"id": repr(person.id), "key": repr(key)}
                        ),
                        loc=("people", key, "id"),
                        input=person.id,
                    )
                )
        for rotation_id, rotation in self.rotations.items():
            for layer_index, layer in enumerate(rotation.layers):
                for index, participant in enumerate(layer.participants):
                    if participant not in self.people:
                        loc = ("rotations", rotation_id, "layers", layer_index, "participants", index)
                        unknown(loc, "person", participant, self.people)
        for policy_id, policy in self.policies.items():
            for level_index, level in enumerate(policy.levels):
                for index, target in enumerate(level.targets):
                    loc = ("policies", policy_id, "levels", level_index, "targets", index)
                    if target.rotation is not None and target.rotation not in self.rotations:
                        unknown((*loc, "rotation"), "rotation", target.rotation, self.rotations)
                    if target.person is not None and target.person not in self.people:
                        unknown((*loc, "person"), "person", target.person, self.people)
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self


class Override(_Model):
    """``person`` covers ``rotation`` from ``from`` to ``to`` (for ``covers`` only, when given)."""

    rotation: Id
    person: Id
    from_: AwareDatetime = Field(alias="from")
    to: AwareDatetime
    covers: Id | None = None
    created: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.to <= self.from_:
            raise PydanticCustomError("override_window", "'to' must be after 'from'", {})
        return self


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"instant must carry a time zone, got {at.isoformat()}")
    return at.astimezone(UTC)


def on_call(definitions: Definitions, overrides: list[Override], rotation: str, at: datetime) -> Person | None:
    """Who is on call in ``rotation`` at ``at``: an override, else the highest layer in effect; None if nobody."""
    at = _aware(at)
    layers = definitions.rotations[rotation].layers  # KeyError for an unknown rotation: a caller's mistake
    scheduled = next((person for layer in reversed(layers) if (person := layer.scheduled(at)) is not None), None)
    candidates = [
        (override.created, position, override)
        for position, override in enumerate(overrides)
        if override.rotation == rotation
        and override.from_ <= at < override.to
        and (override.covers is None or override.covers == scheduled)
        and override.person in definitions.people
    ]
    if candidates:
        return definitions.people[max(candidates, key=lambda candidate: candidate[:2])[2].person]
    return None if scheduled is None else definitions.people[scheduled]


def resolve_level(
    definitions: Definitions, overrides: list[Override], policy: str, level_index: int, at: datetime
) -> list[Person]:
    """The people a level pages together at ``at``, in target order, each once; empty when nobody is on call."""
    level = definitions.policies[policy].levels[level_index]
    people: list[Person] = []
    for target in level.targets:
        person = (
            definitions.people[target.person]
            if target.person is not None
            else on_call(definitions, overrides, str(target.rotation), at)
        )
        if person is not None and person not in people:
            people.append(person)
    return people


# --- the schedule over a span: the shifts a calendar shows -----------------------------------------


class OnCallShift(_Model):
    """``person`` (None: nobody) is on call in a rotation from ``start`` to ``end``."""

    start: AwareDatetime
    end: AwareDatetime
    person: Person | None


def _local_instant(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """A local wall-clock time on day as an instant (a skipped time resolves as in Layer._handoff_at, fold=0)."""
    return datetime.combine(day, clock).replace(tzinfo=zone)


def _layer_changes(layer: Layer, start: datetime, end: datetime) -> set[datetime]:
    """Every instant in [start, end) at which the layer may put someone else on call (or stop, or start)."""
    zone = ZoneInfo(layer.zone)
    changes: set[datetime] = set()
    index = max(
        0, (start.astimezone(zone).replace(tzinfo=None) - datetime.combine(layer.start, layer.handoff)) // layer.shift.length - 1
    )
    while (at := layer._handoff_at(index)) < end:
        if at >= start:
            changes.add(at)
        index += 1
    if layer.restrictions:
        day = start.astimezone(zone).date() - timedelta(days=1)
        while (first := _local_instant(day, time(0), zone)) < end:
            for restriction in layer.restrictions:
                for clock in (restriction.from_, restriction.to):
                    if start <= (at := _local_instant(day, clock, zone)) < end:
                        changes.add(at)
            if start <= first < end:
                changes.add(first)
            day += timedelta(days=1)
    return changes


def shifts(
    definitions: Definitions, overrides: list[Override], rotation: str, start: datetime, end: datetime
) -> list[OnCallShift]:
    """Who is on call in ``rotation`` over [start, end), as consecutive shifts (gaps as ``person=None``).

    A pure function of the same inputs as ``on_call``, which decides every instant: the span is cut at each
    instant anything can change (each layer's handoffs and restriction edges, each override's ends) and
    neighbouring pieces with the same person are joined. The first and last shifts are clipped to the span.
    """
    start, end = _aware(start), _aware(end)
    if end <= start:
        return []
    cuts = {start}
    for layer in definitions.rotations[rotation].layers:
        cuts |= _layer_changes(layer, start, end)
    for override in overrides:
        if override.rotation == rotation:
            cuts |= {at.astimezone(UTC) for at in (override.from_, override.to) if start <= at < end}
    result: list[OnCallShift] = []
    ordered = sorted(at.astimezone(UTC) for at in cuts)
    for piece_start, piece_end in zip(ordered, [*ordered[1:], end], strict=True):
        person = on_call(definitions, overrides, rotation, piece_start)
        if result and result[-1].person == person:
            result[-1] = result[-1].model_copy(update={"end": piece_end})
        else:
            result.append(OnCallShift(start=piece_start, end=piece_end, person=person))
    return result
