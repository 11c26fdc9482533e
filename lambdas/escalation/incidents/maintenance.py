"""Maintenance windows: while one covers an incident's integration or policy, the incident opens and dedups but pages nobody.

A window names one integration or one policy, a start and an end (epoch seconds), why, and who. An incident whose
integration or policy an active window covers is held when its escalation would start: it stays open (repeats
dedup into it; the CLI and the events API can acknowledge or resolve it) and nobody is paged. When the window ends,
on time or early, each incident it still holds is released and starts paging then, unless it was closed meanwhile
(nothing is lost). An incident covered by two windows is held by the one that ends last; released early from it,
it is held again by the other.

Pure rules only: the store is escalation.store.maintenance_windows, the actions escalation.incidents.maintenance_actions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MAX_WINDOW_SECONDS = 7 * 86_400  # a week: longer than any deploy or migration; a longer silence is a config change
MAX_ADVANCE_SECONDS = 90 * 86_400  # how far ahead a window may be planned
MAX_REASON_LENGTH = 200
SCOPES = ("integration", "policy")


class MaintenanceError(ValueError):
    """A window that cannot be: the message names the field and the problem."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


@dataclass(frozen=True)
class Window:
    """One maintenance window; ended_at: when it was ended early (None: it runs to its end)."""

    id: str
    scope: str
    target: str
    start: int
    end: int
    reason: str = ""
    by: str = ""
    ended_at: int | None = None

    @property
    def until(self) -> int:
        """When it stops holding incidents: its end, or when it was ended early."""
        return self.end if self.ended_at is None else min(self.end, self.ended_at)

    def active(self, now: float) -> bool:
        """Holding incidents at now."""
        return self.start <= now < self.until

    def covers(self, integration: str | None, policy: str | None) -> bool:
        """It names this incident's integration or its policy."""
        return (self.scope == "integration" and self.target == integration) or (self.scope == "policy" and self.target == policy)


def iso(epoch: float) -> str:
    """An epoch time as the app shows times (ISO 8601 UTC, seconds)."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def check_window(scope: str, target: str, start: int, end: int, *, now: float, reason: str = "") -> None:
    """Refuse a window that cannot be (MaintenanceError naming the field)."""
    if scope not in SCOPES:
        raise MaintenanceError("scope", f"must be one of {', '.join(SCOPES)}, got {scope!r}")
    if not target or len(target) > 64:
        raise MaintenanceError(scope, "must name one, 1-64 characters")
    if end <= start:
        raise MaintenanceError("to", f"must be after from ({iso(start)}), got {iso(end)}")
    if end <= now:
        raise MaintenanceError("to", f"is in the past ({iso(end)})")
    if end - start > MAX_WINDOW_SECONDS:
        raise MaintenanceError(
            "to", f"a window lasts at most {MAX_WINDOW_SECONDS // 86_400} days, got {(end - start) / 3600:.1f} h"
        )
    if start - now > MAX_ADVANCE_SECONDS:
        raise MaintenanceError("from", f"may be at most {MAX_ADVANCE_SECONDS // 86_400} days ahead")
    if len(reason) > MAX_REASON_LENGTH:
        raise MaintenanceError("reason", f"at most {MAX_REASON_LENGTH} characters")


def covering(windows: Iterable[Window], integration: str | None, policy: str | None, now: float) -> Window | None:
    """The active window covering this incident that ends last (None: page it)."""
    found = [window for window in windows if window.active(now) and window.covers(integration, policy)]
    return max(found, key=lambda window: (window.until, window.id)) if found else None


def window_from_item(item: Mapping[str, Any]) -> Window:
    """A stored window (escalation.store.maintenance_windows)."""
    ended = item.get("ended_at")
    return Window(
        id=str(item["sk"]), scope=str(item["scope"]), target=str(item["target"]), start=int(item["start"]),
        end=int(item["end"]), reason=str(item.get("reason", "")), by=str(item.get("by", "")),
        ended_at=None if ended is None else int(ended),
    )  # fmt: skip


def describe(window: Window, now: float) -> dict[str, Any]:
    """What `incidents maintenance list` shows of a window."""
    state = "planned" if now < window.start else "active" if window.active(now) else "ended"
    return {
        "id": window.id, "scope": window.scope, window.scope: window.target, "from": iso(window.start),
        "to": iso(window.until), "state": state, "reason": window.reason, "by": window.by,
    }  # fmt: skip
