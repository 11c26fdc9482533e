"""Who is on call at an instant, and the shifts of a rotation over a period, from the definitions.

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

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import (
    AwareDatetime,
)

from escalation.oncall.definitions import Definitions, Layer, Override, Person
from escalation.oncall.fields import StrictModel


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


class OnCallShift(StrictModel):
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
