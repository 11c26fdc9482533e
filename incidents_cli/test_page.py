"""`incidents test-page PERSON|NUMBER`: prove the pager works end to end, out to a phone and back.

The operator function sends one test text ("Test page 482193: reply TEST 482193 ..."), and the CLI asks it what
became of it until the reply arrives or the time runs out: delivered (from the text's delivery receipt) and
answered (the reply reached the stack's inbound topic and the reply function). A broken two-way setup loses every
YES silently; this shows it before an incident does. Exit code 0 only when the reply came.

With --voice the function also rings the phone (a test call asking for the same reply), and the CLI waits for the
call's voice receipt too: it passes only when the call was answered as well.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any

import typer

from . import context, operator_function
from .context import Cli, CliError

POLL_SECONDS = 2.0
NO_REPLY = (
    "no reply within {timeout} s: check that the number's two-way SMS delivers to the stack's inbound topic "
    "(output InboundSmsTopicArn), and that the person replied TEST {code}"
)


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _seconds(start: Any, end: Any) -> float | None:
    if not isinstance(start, str) or not isinstance(end, str):
        return None
    return round((_parse(end) - _parse(start)).total_seconds(), 1)


def _number(cli: Cli, target: str) -> str:
    """The number to test: the target itself, or the phone of a person in the deployed on-call definitions."""
    if target.startswith("+"):
        return target
    people = cli.oncall().definitions().people
    if target not in people:
        known = ", ".join(sorted(people)) or "none"
        raise CliError(f"no person {target!r} in the deployed on-call definitions (people: {known}); or give a number")
    return str(people[target].phone)


def call_part(status: dict[str, Any]) -> tuple[bool | None, str]:
    """(answered: True, False, or None while unknown; words) for the test call."""
    if status.get("call_not_placed"):
        return False, f"call not placed: {status['call_not_placed']}"
    outcome = status.get("call_delivery")
    answered = _seconds(status.get("called_at"), status.get("call_ended_at"))
    if outcome == "delivered":
        return True, f"call answered in {answered} s" if answered is not None else "call answered"
    if outcome:
        return False, f"call not answered: {status.get('call_event', outcome)}"
    if status.get("called_at"):
        return None, "call placed, no voice receipt yet"
    return None, "call not placed yet"


def settled(status: dict[str, Any], *, voice: bool) -> bool:
    """Nothing more to wait for: the reply came (and the call's outcome, with --voice), or the text failed."""
    if not status.get("ok") or str(status.get("delivery", "")).startswith("failed"):
        return True
    return bool(status.get("replied_at")) and (not voice or call_part(status)[0] is not None)


def summary(status: dict[str, Any], *, timeout: int, voice: bool = False) -> tuple[bool, str]:
    """(passed, one line): delivered in N s, [call answered in C s,] reply received in M s; or what failed."""
    delivered = _seconds(status.get("sent_at"), status.get("delivered_at"))
    replied = _seconds(status.get("sent_at"), status.get("replied_at"))
    delivery = status.get("delivery")
    parts = []
    if delivery == "delivered" and delivered is not None:
        parts.append(f"delivered in {delivered} s")
    elif delivery == "accepted" and delivered is not None:
        parts.append(f"accepted by the carrier in {delivered} s")
    elif delivery:
        parts.append(f"not delivered: {status.get('delivery_event', delivery)}")
    else:
        parts.append("no delivery receipt yet")
    call_ok: bool | None = True
    if voice:
        call_ok, words = call_part(status)
        parts.append(words)
    if replied is not None:
        parts.append(f"reply received in {replied} s")
        return bool(call_ok), ", ".join(parts)
    parts.append(NO_REPLY.format(timeout=timeout, code=status.get("code")))
    return False, ", ".join(parts)


def test_page(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="A person's id in oncall.yaml, or an E.164 number.")],
    timeout: Annotated[int, typer.Option(help="Seconds to wait for the reply.", min=1, max=3600)] = 180,
    as_name: Annotated[str | None, typer.Option("--as", help="Your name, recorded as cli:<name>.")] = None,
    voice: Annotated[bool, typer.Option("--voice", help="Also call the phone (the deployment must place calls).")] = False,
) -> None:
    """Send a test page and wait for its receipt and the reply TEST <code>: proves sending and two-way SMS work."""
    cli = context.get(ctx)
    by = operator_function.operator_name(as_name)
    request = {"action": "test_page", "number": _number(cli, target), "by": by, **({"voice": True} if voice else {})}
    sent = operator_function.ask(cli, request)
    if not sent.get("ok"):
        operator_function.settle(cli, sent, lambda: None)
    code = str(sent["code"])
    if not cli.json:
        cli.console.print(f"Test page [bold]{code}[/] sent to {sent['to']}: waiting for the reply TEST {code} ...")
    deadline = time.monotonic() + timeout
    status = sent
    while True:
        status = operator_function.ask(cli, {"action": "test_page_status", "code": code, "by": by})
        if settled(status, voice=voice):
            break
        if time.monotonic() + POLL_SECONDS > deadline:
            break  # the next look would come after the time the person was given
        time.sleep(POLL_SECONDS)
    passed, line = summary(status, timeout=timeout, voice=voice)
    cli.emit({**status, "passed": passed, "summary": line}, lambda: cli.console.print(line))
    if not passed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `test-page` to the CLI."""
    app.command("test-page")(test_page)
