"""What a scenario does while it runs: phones that reply, actions at their moment, endpoint posts and alarm changes."""

from __future__ import annotations

import functools
import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3

from .account import REGION
from .alerts import AlertsGateway
from .deploy import DeployedStack
from .local_lambda import LocalLambdaRuntime
from .scenario import Scenario
from .scenario_items import SmsTrigger
from .sms_gateway import SmsGateway
from .sms_messages import SentSms
from .voice import SentCall
from .windows import WINDOWS

Plan = tuple[float, SmsTrigger | None, str, Callable[[], object]]
"""(after_seconds, on_sms, what, action): one action and its moment."""


class Script:
    """Scripted phones, and the moments the scenario's other actions wait for.

    Each phone replies after receiving its n-th message (or after another phone received its n-th).
    The gateway, like the real service, tells the app only which message was sent last to that phone.
    A triggered action (a reply, or a write/post/injection `on_sms`) holds the acknowledgement windows
    (``WINDOWS``) from its trigger until its effects have settled: a window that comes due meanwhile
    closes only then, so what the scenario asserts never depends on how fast this machine is.
    """

    def __init__(self, scenario: Scenario, gateway: SmsGateway, runtime: LocalLambdaRuntime) -> None:
        self._scripts = scenario.phones
        self._gateway = gateway
        self._runtime = runtime
        self._settle_s = scenario.time_limit_seconds
        self._received: dict[str, int] = defaultdict(int)
        self._calls: dict[str, int] = defaultdict(int)
        gateway.on_call(self.call_received)  # a phone may answer a call, then text
        self._changed = threading.Condition()
        self._closed = False

    def __call__(self, message: SentSms) -> None:
        """The gateway's listener: count the text and start the replies it triggers."""
        with self._changed:
            self._received[message.to] += 1
            count = self._received[message.to]
            self._changed.notify_all()
        self._trigger(message.to, count, calls=False)

    def call_received(self, call: SentCall) -> None:
        """The gateway's call listener (sandbox.voice): count the call and start the replies it triggers."""
        with self._changed:
            self._calls[call.to] += 1
            count = self._calls[call.to]
        self._trigger(call.to, count, calls=True)

    def _trigger(self, to: str, count: int, *, calls: bool) -> None:
        for number, actions in self._scripts.items():
            for action in actions:
                if action.on_call == calls and (action.on_sms_to or number) == to and action.on_sms == count:
                    then = None
                    if action.holds_windows:
                        WINDOWS.acquire()
                        then = self.settle_and_release
                    self._gateway.reply_after(action.delay_seconds, number, action.reply, before=self.settle, then=then)

    def settle(self) -> None:
        """Wait until no invocation is queued or running.

        Before a scripted action: the handler that sent the trigger text has recorded it (a phone that
        answers within a millisecond, faster than any carrier delivers, must not find its page unrecorded).
        After one: its effects have run.
        """
        self._runtime.wait_settled(self._settle_s)

    def settle_and_release(self) -> None:
        """Wait until the action's effects have run, then release its hold."""
        try:
            self.settle()
        finally:
            WINDOWS.release()

    def close(self) -> None:
        """Wake every action still waiting for its trigger: the run is over."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def wait_until(self, after_seconds: float, trigger: SmsTrigger | None, started: float) -> bool:
        """Block until an action's moment; True with the windows held when it is triggered by a text.

        False when the run closed first (the action must not run).
        """
        if trigger is None:
            time.sleep(max(after_seconds - (time.monotonic() - started), 0))
            return not self._closed
        with self._changed:
            self._changed.wait_for(lambda: self._closed or self._received[trigger.to] >= trigger.count)
            if self._closed:
                return False
            WINDOWS.acquire()
        self.settle()  # the text that triggered it is recorded by its sender first
        time.sleep(after_seconds)
        return True


def scheduled(
    script: Script,
    started: float,
    plans: list[Plan],
    errors: list[str],
    name: str,
) -> list[threading.Thread]:
    """Run each planned action at its moment (seconds after the start, or after a text), each in its thread."""

    def later(after: float, trigger: SmsTrigger | None, what: str, action: Callable[[], object]) -> None:
        if not script.wait_until(after, trigger, started):
            return
        try:
            action()
        except Exception as error:  # reported, not raised: the run goes on
            errors.append(f"{what} failed: {error}")
        finally:
            if trigger is not None:
                script.settle_and_release()

    threads = [threading.Thread(target=later, args=plan, daemon=True, name=name) for plan in plans]
    for thread in threads:
        thread.start()
    return threads


def inject(
    scenario: Scenario, script: Script, started: float, *, topic_arn: str, table_name: str, errors: list[str]
) -> list[threading.Thread]:
    """Publish the scenario's raw inbound payloads, and put its later items, on their schedule."""
    sns = boto3.client("sns", region_name=REGION)
    dynamodb = boto3.client("dynamodb", region_name=REGION)

    def publish(message: str) -> Callable[[], object]:
        return lambda: sns.publish(TopicArn=topic_arn, Message=message)

    def put(item: dict[str, Any]) -> Callable[[], object]:
        return lambda: dynamodb.put_item(TableName=table_name, Item=item)

    plans = [(item.after_seconds, item.on_sms, "inbound injection", publish(item.message)) for item in scenario.inbound]
    plans += [(write.after_seconds, write.on_sms, "later write", put(write.item)) for write in scenario.writes]
    return scheduled(script, started, plans, errors, "sandbox-schedule")


class AlertsScript:
    """The scenario's integrations, endpoint posts and alarm state changes, reaching the deployed alerts function."""

    def __init__(self, scenario: Scenario, deployed: DeployedStack, errors: list[str]) -> None:
        from escalation.alerts.integrations import create_integration  # noqa: PLC0415 (lambdas/ is on the path once stacks are)

        self._scenario = scenario
        self._errors = errors
        self.event_results: list[dict[str, Any]] = []
        self.alarm_results: list[dict[str, Any]] = []
        self._keys: dict[str, str] = {}
        self._arns: dict[str, str] = {}
        self._states: dict[str, str] = {}
        self._lock = threading.Lock()
        self._answered = [threading.Event() for _ in scenario.events]  # set once each post has its answer (or failed)
        if not (scenario.events or scenario.alarms or scenario.integrations):
            return
        table = boto3.resource("dynamodb", region_name=REGION).Table(deployed.outputs["IntegrationsTableName"])
        for name, spec in scenario.integrations.items():
            created = create_integration(table, name, contacts=spec.get("contacts") or [], policy=spec.get("policy"))
            self._keys[name] = created["routing_key"]
        self._gateway = AlertsGateway(deployed.function_name("AlertEvents"), region=REGION)
        for change in scenario.alarms:
            if change.alarm_name not in self._arns:
                self._arns[change.alarm_name] = self._gateway.alarm(change.alarm_name, integration=change.integration)
                self._states[change.alarm_name] = "OK"

    def _post(self, index: int) -> None:
        try:
            post = self._scenario.events[index]
            if post.after_answer_to is not None:
                self._answered[post.after_answer_to].wait()
                time.sleep(post.after_seconds)
            body = dict(post.body)
            if post.integration is not None and body.get("routing_key") in (None, "ROUTING_KEY"):
                body["routing_key"] = self._keys[post.integration]
            status, response = self._gateway.post(json.dumps(body))
            with self._lock:
                self.event_results.append({"index": index, "status": status, "response": response})
        finally:
            self._answered[index].set()

    def _change(self, index: int) -> None:
        change = self._scenario.alarms[index]
        with self._lock:
            previous = self._states[change.alarm_name]
            self._states[change.alarm_name] = change.state
        arn = self._arns[change.alarm_name]
        event = self._gateway.state_change_event(arn, change.alarm_name, change.state, previous, datetime.now(UTC))
        reached = self._gateway.deliver(event)
        with self._lock:
            self.alarm_results.append(
                {"index": index, "alarm_name": change.alarm_name, "state": change.state, "delivered_to": len(reached)}
            )

    def schedule(self, script: Script, started: float) -> list[threading.Thread]:
        """Start the posts and alarm changes on their schedule; their threads."""
        events, alarms = self._scenario.events, self._scenario.alarms
        plans: list[Plan] = [
            (0 if post.after_answer_to is not None else post.after_seconds, post.on_sms, f"events[{i}]",
             functools.partial(self._post, i))
            for i, post in enumerate(events)
        ]  # fmt: skip
        plans += [
            (change.after_seconds, change.on_sms, f"alarms[{i}]", functools.partial(self._change, i))
            for i, change in enumerate(alarms)
        ]
        return scheduled(script, started, plans, self._errors, "sandbox-alerts")
