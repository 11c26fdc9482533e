"""The scheduled self-test: a test page to everyone on call, then one summary to ops of who did not answer.

A pager that cannot reach someone is found out when an incident needs them, unless it is tried first. On the
schedule the deployment sets (selfTestSchedule, e.g. weekly), the self-test function sends each person on call
at any level of any policy the test page `incidents test-page` sends (escalation.sms.test_pages), waits up to
selfTestReplyMinutes for the receipts and the replies `TEST <code>`, and tells ops once: who was not sent to (a
number outside allowedCountries, a fault), whose text did not arrive (the receipt's status), and who did not reply.

At least once: a run is named by the time it was scheduled for, and each person's test by the run and the person,
so a schedule delivered twice sends nobody a second text (the test page's code comes from that name) and ops get
one summary (a once-only key). Whoever is on call is read at the run; a person on several levels is tested once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from escalation.oncall.definitions import Definitions, Override, Person
from escalation.oncall.schedule import resolve_level
from escalation.platform.observability import logger
from escalation.platform.wiring import Dependencies
from escalation.sms import test_pages
from escalation.sms.client import SmsAccountFault, SmsFailed, SmsThrottled
from escalation.sms.phone_numbers import mask

POLL_SECONDS = 5.0
SUMMARY_KEY = "self-test-summary#"


def everyone_on_call(definitions: Definitions, overrides: list[Override], at: datetime) -> list[Person]:
    """Each person any level of any policy would page at ``at``, once, in the order the policies list them."""
    people: list[Person] = []
    for name, policy in definitions.policies.items():
        for index in range(len(policy.levels)):
            for person in resolve_level(definitions, overrides, name, index, at):
                if person not in people:
                    people.append(person)
    return people


@dataclass
class Tested:
    """One person's test in a run: its code once sent, else why it was not."""

    person: Person
    code: str | None = None
    not_sent: str | None = None
    status: dict[str, Any] | None = None

    def answered(self) -> bool:
        """The reply `TEST <code>` came."""
        return self.status is not None and "replied_at" in self.status

    def undelivered(self) -> bool:
        """A final receipt said the text did not arrive."""
        return self.status is not None and self.status.get("delivery") not in (None, "delivered")

    def failure(self) -> str | None:
        """What went wrong, in words for ops; None when the person replied."""
        if self.not_sent is not None:
            return f"not sent: {self.not_sent}"
        if self.answered():
            return None
        status = self.status or {}
        if self.undelivered():
            return f"not delivered: {status.get('delivery_event', status.get('delivery'))}"
        if status.get("delivery") == "delivered":
            return "delivered, no reply"
        return "no receipt and no reply"


def request_id(run: str, person: Person) -> str:
    """The name of a person's test in a run (its code is made from it: a repeated run sends nothing more)."""
    return f"self-test#{run}#{person.id}"


def send_all(deps: Dependencies, people: list[Person], run: str) -> list[Tested]:
    """Send each person their test page (once per run); a refusal or a fault is that person's result, not the run's."""
    tested: list[Tested] = []
    for person in people:
        entry = Tested(person)
        try:
            sent = test_pages.send_test_page(deps, person.phone, by="self-test", request_id=request_id(run, person))
            entry.code = str(sent["code"])
        except test_pages.TestPageRefused as error:
            entry.not_sent = str(error)
        except (SmsFailed, SmsThrottled, SmsAccountFault) as error:
            entry.not_sent = f"{type(error).__name__}: {error}"
        tested.append(entry)
    return tested


def wait_for_answers(
    deps: Dependencies,
    tested: list[Tested],
    *,
    reply_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Read each test's item until every sent test is answered or undelivered, or reply_seconds have passed."""
    deadline = clock() + reply_seconds
    while True:
        pending = [entry for entry in tested if entry.code is not None and not (entry.answered() or entry.undelivered())]
        for entry in pending:
            entry.status = test_pages.status(deps.once.table, str(entry.code))
        still = [entry for entry in pending if not (entry.answered() or entry.undelivered())]
        if not still or clock() >= deadline:
            return
        sleep(min(POLL_SECONDS, max(deadline - clock(), 0.0)))


def summary(tested: list[Tested], *, run: str, reply_minutes: int) -> tuple[str, str]:
    """The ops message: (subject, body)."""
    failed = [(entry, reason) for entry in tested if (reason := entry.failure()) is not None]
    if not failed:
        subject = f"Pager self-test: all {len(tested)} on call answered"
    else:
        subject = f"Pager self-test: {len(failed)} of {len(tested)} on call did not answer"
    lines = [f"Self-test run {run}: a test page to everyone on call, {reply_minutes} min to reply TEST <code>."]
    for entry in tested:
        reason = entry.failure()
        lines.append(f"- {entry.person.name} ({mask(entry.person.phone)}): {reason or 'answered'}")
    if failed:
        lines.append("Check each number with `incidents test-page PERSON`, and the two-way SMS setup (docs/operations.md).")
    return subject[:100], "\n".join(lines)


def scheduled_at(scheduled: object) -> datetime | None:
    """The instant the schedule fired for (who is on call is read then, on a late delivery too); None if unreadable."""
    try:
        at = datetime.fromisoformat(str(scheduled).strip())
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def run_id(scheduled: object, now: datetime | None = None) -> str:
    """The run's name: the time the schedule fired for (the same on a repeated delivery); now when absent."""
    if isinstance(scheduled, str) and scheduled.strip():
        return scheduled.strip()[:40]
    return (now or datetime.now(UTC)).isoformat(timespec="minutes")


def run(
    deps: Dependencies,
    definitions: Definitions,
    overrides: list[Override],
    *,
    run: str,
    reply_minutes: int,
    at: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """One self-test run: send, wait, tell ops once. Returns {run, tested, failed}."""
    people = everyone_on_call(definitions, overrides, at or datetime.now(UTC))
    tested = send_all(deps, people, run)
    wait_for_answers(deps, tested, reply_seconds=reply_minutes * 60, sleep=sleep, clock=clock)
    subject, body = summary(tested, run=run, reply_minutes=reply_minutes)
    topic = deps.settings.ops_topic_arn
    deps.once.once(SUMMARY_KEY + run, lambda: deps.sns().publish(TopicArn=topic, Subject=subject, Message=body))
    failed = sum(1 for entry in tested if entry.failure() is not None)
    logger.info("self-test run", extra={"run": run, "tested": len(tested), "failed": failed})
    return {"run": run, "tested": len(tested), "failed": failed}
