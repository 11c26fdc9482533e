"""Acknowledgement windows that wait for the work in flight (what the replaced moto timeouts wait on).

``sandbox.moto_patches`` makes the two waits that end a task at its ``TimeoutSeconds`` go through
``WINDOWS``: the local Lambda runtime holds the windows while its work is queued or running, a scenario
while a scripted action's effects settle.
"""

from __future__ import annotations

import threading
from typing import Final


class WindowHolds:
    """Task timeouts that wait for the work in flight: a timeout fires once its time is up and nothing holds it.

    Two things hold: every piece of work the local Lambda runtime has queued or running (so a slow
    cold start or a busy machine never eats an acknowledgement window: windows only run out while
    the system is idle), and every scripted action of a scenario from its trigger until its effects
    settled (so "the YES comes before the window closes" holds on any machine). A task that ends
    (its token completed) is never held: only a timeout waits.
    """

    _POLL_S = 0.05  # an Event cannot wake a Condition: a held timeout re-checks its event this often

    def __init__(self) -> None:
        self._holds = 0
        self._changed = threading.Condition()

    def acquire(self, count: int = 1) -> None:
        """Hold every timeout that comes due until the matching release()."""
        with self._changed:
            self._holds += count

    def release(self, count: int = 1) -> None:
        """Let timeouts that came due meanwhile fire (when no other hold remains)."""
        with self._changed:
            self._holds = max(self._holds - count, 0)
            self._changed.notify_all()

    def reset(self) -> None:
        """Drop every hold (a run that ended, however it ended, holds nothing)."""
        with self._changed:
            self._holds = 0
            self._changed.notify_all()

    @property
    def held(self) -> int:
        """How many holds are taken."""
        with self._changed:
            return self._holds

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        """event.wait(timeout), except that a timeout does not end the wait while a hold is taken."""
        if threading.Event.wait(event, timeout) or timeout is None:  # the base wait, also for a HeldEvent
            return event.is_set()
        with self._changed:
            while self._holds and not event.is_set():
                self._changed.wait(self._POLL_S)
        return event.is_set()


WINDOWS: Final = WindowHolds()
"""The sandbox's task timeouts (see WindowHolds); scenarios hold them, nothing else does."""


class HeldEvent(threading.Event):
    """The Event a state's TimeoutSeconds waits on (the task's work sets it when it ends).

    Once the state's timeout is due, this wait does not fire by itself: it waits for the task's own work
    to end. For a waitForTaskToken task (the only kind with a TimeoutSeconds in this app) that work is the
    token wait, which has the same timeout, is held by WINDOWS, and ends with the answer (if one came) or
    with its own timeout (``States.Timeout``, as the state's would be). Firing here instead would race the
    answer that arrived just before it, and would leave that token wait running beside the states that
    follow (moto's state then times out while its task still runs). A task that never ends is cut off
    after HUNG_TASK_SECONDS more.
    """

    HUNG_TASK_SECONDS = 600.0

    def wait(self, timeout: float | None = None) -> bool:
        """The base wait; once the timeout is due, the task's own end (or HUNG_TASK_SECONDS more)."""
        if super().wait(timeout) or timeout is None:
            return self.is_set()
        return super().wait(self.HUNG_TASK_SECONDS)


class ThreadingForTimeouts:
    """What execute_state sees as ``threading``: its only use is ``threading.Event()`` for a state's timeout."""

    Event = HeldEvent
