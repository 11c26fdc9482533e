"""On-call definitions (people, rotations, escalation policies) and who is on call at an instant.

The definitions are checked with pydantic; every error carries the path of the bad value
(``policies.payments.levels[1].targets``, see ``format_loc``). Only the oncall package
imports pydantic (the Powertools layer ships it), so the handlers that do not page by
policy never load it. YAML is read at synth time only; functions get the definitions as JSON
(``Definitions.model_dump(mode="json")`` and ``Definitions.model_validate`` round-trip).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Self
from zoneinfo import ZoneInfo

from pydantic import (
    AwareDatetime,
    BeforeValidator,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from escalation.incidents.urgency import DEFAULT_HOURS, BadWorkingHours, WorkingHours, parse_hours
from escalation.oncall.fields import WEEKDAYS, Clock, Id, Phone, StrictModel, Weekday, Zone
from escalation.oncall.notify import DEFAULT_NOTIFY, Notify, voice_after_seconds


class Person(StrictModel):
    """Someone who can be paged. ``id`` is the key under ``people``."""

    id: Id
    name: str = Field(min_length=1)
    phone: Phone
    zone: Zone
    # When low-urgency incidents may page them, in their zone (escalation.incidents.urgency); None: Mon-Fri 09:00-18:00.
    working_hours: str | None = None

    @model_validator(mode="after")
    def _hours_readable(self) -> Self:
        if self.working_hours is not None:
            try:
                parse_hours(self.working_hours, self.zone)
            except BadWorkingHours as error:
                raise PydanticCustomError("working_hours", "working_hours: {problem}", {"problem": str(error)}) from None
        return self

    def hours(self) -> WorkingHours:
        """Their working hours in their zone."""
        return parse_hours(self.working_hours or DEFAULT_HOURS, self.zone)

    notify: Notify = DEFAULT_NOTIFY  # escalation.oncall.notify: text, then maybe a call

    @property
    def voice_after_seconds(self) -> int | None:
        """Seconds from a level's page to the call its rules ask for; None when the person is not called."""
        return voice_after_seconds(self.notify)


class Shift(StrictModel):
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


class Restriction(StrictModel):
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


class Layer(StrictModel):
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


class Rotation(StrictModel):
    """One or more layers; the last one listed is the highest."""

    _not_empty = ("layers",)
    layers: tuple[Layer, ...]


class Target(StrictModel):
    """A rotation (whoever is on call in it) or a person."""

    rotation: Id | None = None
    person: Id | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if (self.rotation is None) == (self.person is None):
            raise PydanticCustomError("target", "give exactly one of rotation or person", {})
        return self


class Level(StrictModel):
    """Targets paged together; any of them can acknowledge within ``ack_timeout_seconds``."""

    _not_empty = ("targets",)
    targets: tuple[Target, ...]
    ack_timeout_seconds: int = Field(default=300, ge=1, le=86_400)


MAX_TARGETS_PER_POLICY = 10  # as many as a contact chain may list (incident.MAX_CONTACTS): the SMS ceilings assume it


class Policy(StrictModel):
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


class Definitions(StrictModel):
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
        errors += self._calls_that_never_ring()
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

    def _people_of(self, target: Target) -> set[str]:
        if target.person is not None:
            return {target.person}
        rotation = self.rotations.get(target.rotation or "")
        return {person for layer in rotation.layers for person in layer.participants} if rotation else set()

    def _calls_that_never_ring(self) -> list[InitErrorDetails]:
        """A call due no sooner than a level paging the person ends would never ring: refused, naming both."""
        errors = []
        for person_id, person in self.people.items():
            delay = person.voice_after_seconds
            if delay is None:
                continue
            index = next(i for i, step in enumerate(person.notify) if step.method == "voice")
            for policy_id, policy in self.policies.items():
                for level_index, level in enumerate(policy.levels):
                    pages = set().union(*(self._people_of(target) for target in level.targets))
                    if person_id in pages and delay >= level.ack_timeout_seconds:
                        errors.append(
                            InitErrorDetails(
                                type=PydanticCustomError(
                                    "call_never_rings",
                                    "a call {minutes} minutes after the page never rings: policies.{policy}.levels[{level}] "
                                    "pages them and ends after {window} s (ack_timeout_seconds); call sooner or wait longer",
                                    {"minutes": delay // 60, "policy": policy_id, "level": level_index,
                                     "window": level.ack_timeout_seconds},
                                ),
                                loc=("people", person_id, "notify", index, "voice"),
                                input=delay // 60,
                            )
                        )  # fmt: skip
        return errors


class Override(StrictModel):
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
