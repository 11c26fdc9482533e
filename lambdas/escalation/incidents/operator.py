"""Acknowledge or resolve an incident as an operator (`cli:<name>`): what the operator function does for the incidents CLI.

The CLI calls the function synchronously instead of acting from a laptop, so an acknowledgement made
there has every effect of a YES by SMS (escalation.incidents.acknowledgement: one conditional write, the parked
task completed once, everyone else paged told once, the time to acknowledge published once), and a
resolve is escalation.incidents.resolve; the SMS settings stay with the functions.

Request: ``{"action": "acknowledge" | "resolve", "incident_id": ..., "by": "cli:<name>", "request_id": ...}``.
The request id is the CLI's, the same on its retries: it is recorded as ``acknowledged_via`` /
``resolved_via``, so a retry finds its own write and only finishes the side effects still owed (each has
a once-only key shared with the reply handler, so a racing YES never doubles a text). The same person
asking again with a new request is told the incident is already theirs, and what is owed is finished.

Every answer is data: ``{"ok": true, "outcome": ...}`` or ``{"ok": false, "error": <code>, "message": ...}``
for what the person can act on (unknown incident, someone else has it, already resolved, not started).
A fault of ours (DynamoDB, Step Functions, SMS) raises, so the CLI sees a function error and retries.
"""

import re
from collections.abc import Callable
from typing import Any

from escalation.incidents import acknowledgement, maintenance_actions
from escalation.incidents.levels import paged_contacts
from escalation.incidents.resolve import Outcome, incident_key, resolve
from escalation.incidents.status import Event, Status
from escalation.incidents.timeline import timeline_entry, utc_now
from escalation.platform.observability import INCIDENTS_ACKNOWLEDGED, count, logger, publish_time_to_acknowledge
from escalation.platform.wiring import Dependencies
from escalation.sms import messages, test_pages
from escalation.voice import test_calls
from escalation.voice.sender import deployment_sender

ACTIONS = ("acknowledge", "resolve")
TEST_PAGE = "test_page"  # not about an incident: a text that proves the round trip (incidents test-page)
TEST_PAGE_STATUS = "test_page_status"  # what became of it: {"code": ...}
OPERATOR = re.compile(r"^cli:[\w.@+-]{1,64}$")  # who, as the timeline and the other contacts' texts show it
MAX_ID_LENGTH = 256
MAX_REQUEST_ID_LENGTH = 128


class InvalidRequest(ValueError):
    """The request is malformed; the message names the field."""


def _check(request: object) -> tuple[str, str, str, str]:
    """(action, incident_id, by, request_id) of a well-formed request."""
    if not isinstance(request, dict):
        raise InvalidRequest("the request must be a JSON object")
    action, incident_id, by, request_id = (request.get(key) for key in ("action", "incident_id", "by", "request_id"))
    if action not in ACTIONS:
        raise InvalidRequest(f"action: must be one of {', '.join(ACTIONS)}, got {action!r}")
    if not isinstance(incident_id, str) or not incident_id.strip() or len(incident_id) > MAX_ID_LENGTH:
        raise InvalidRequest(f"incident_id: must be a non-empty string of at most {MAX_ID_LENGTH} characters")
    if not isinstance(by, str) or not OPERATOR.match(by):
        raise InvalidRequest("by: must be cli:<name>, the name 1-64 letters, digits, '.', '_', '@', '+' or '-'")
    if not isinstance(request_id, str) or not request_id.strip() or len(request_id) > MAX_REQUEST_ID_LENGTH:
        raise InvalidRequest(f"request_id: must be a non-empty string of at most {MAX_REQUEST_ID_LENGTH} characters")
    return action, incident_id, by, request_id


def _error(code: str, message: str, **detail: Any) -> dict[str, Any]:
    return {"ok": False, "error": code, "message": message, **detail}


def _not_found(incident_id: str) -> dict[str, Any]:
    return _error("not_found", f"no incident {incident_id!r}", incident_id=incident_id)


def _resolved_already(item: dict[str, Any]) -> dict[str, Any]:
    incident_id, who, at = item["incident_id"], item.get("resolved_by", "?"), item.get("resolved_at")
    message = f"incident {incident_id} was already resolved by {who} at {at}"
    return _error("already_resolved", message, incident_id=incident_id, resolved_by=who, resolved_at=at)


def _not_started(item: dict[str, Any]) -> bool:
    """A new item the start handler has not taken up yet: nothing to stop, nobody paged."""
    return not item.get("execution_arn") and item.get("incident_stat") in (None, Status.NOT_ACKNOWLEDGED)


class _Effects:
    """Side effects under once-only keys; a failure is kept and raised at the end, so the rest still runs."""

    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps
        self.failures: list[Exception] = []

    def once(self, key: str, action: Callable[[], object]) -> None:
        try:
            self.deps.once.once(key, action)
        except Exception as error:  # re-raised by raise_first(): the CLI's retry redoes it
            logger.warning("operator side effect failed; a retry redoes it", extra={"key": key, "error": str(error)})
            self.failures.append(error)

    def text(self, key: str, to: str, sms: messages.Sms, item: dict[str, Any], kind: str) -> None:
        """A courtesy text about item; a number that can never get it (opted out, a ceiling reached) counts as done."""
        incident_id, execution = str(item["incident_id"]), str(item.get("execution_arn", "")) or None
        self.once(key, lambda: self.deps.notifier.send_courtesy(to, sms, incident_id=incident_id, kind=kind, execution=execution))

    def raise_first(self) -> None:
        if self.failures:
            raise self.failures[0]


def _finish_acknowledgement(deps: Dependencies, item: dict[str, Any], *, by: str) -> bool:
    """What a YES does once the incident is ours (under the reply handler's keys); True when a waiting page was stopped."""
    effects = _Effects(deps)
    incident_id = str(item["incident_id"])
    key = incident_key(item)
    created = [entry["at"] for entry in item.get("timeline", []) if entry.get("event") == Event.CREATED]
    if created and "acknowledged_at" in item:
        level = int(item.get("escalation_level", 0))
        at = str(item["acknowledged_at"])
        effects.once(f"ack_metric#{key}", lambda: publish_time_to_acknowledge(str(created[-1]), at, level))
    token = item.get("task_token")
    completed: list[bool] = []  # what completing the token found, when this call did it
    stopped = False
    if token:
        sfn = deps.stepfunctions()
        task_key = f"ack_task#{key}"
        output = acknowledgement.task_output(by)
        effects.once(
            task_key,
            lambda: completed.append(acknowledgement.complete_task(sfn.send_task_success, taskToken=str(token), output=output)),
        )
        if deps.once.done(task_key):
            deps.incidents.forget_token(incident_id, str(token))
            stopped = completed[0] if completed else True  # else done by an earlier try of this acknowledgement
    notice = messages.acknowledged_notice(incident_id, by)
    for contact in paged_contacts(item):
        effects.text(f"ack_notice#{key}#{contact}", contact, notice, item, "acknowledged_notice")
    effects.raise_first()
    return stopped


def _acknowledge_held(deps: Dependencies, incident_id: str, *, by: str, request_id: str) -> dict[str, Any]:
    """Acknowledge an incident a maintenance window holds: taken where it stands, never paged (nobody to tell)."""
    at = utc_now()
    entry = timeline_entry(Event.ACKNOWLEDGED, at, by=by, via=request_id[:128], before_start=True)
    taken = deps.incidents.close_before_start(
        incident_id, status=Status.ACKNOWLEDGED, by=by, at=at, via=request_id, entries=[entry]
    )
    current = deps.incidents.get(incident_id) or {}
    if taken is None and current.get("acknowledged_via") != request_id:
        return _error(
            "not_acknowledgeable", f"incident {incident_id} changed meanwhile ({current.get('incident_stat')}): look again"
        )
    if taken is not None:
        count(INCIDENTS_ACKNOWLEDGED)
    return {"ok": True, "outcome": "acknowledged", "incident_id": incident_id, "acknowledged_by": by,
            "acknowledged_at": current.get("acknowledged_at"), "escalation_stopped": False}  # fmt: skip


def acknowledge(deps: Dependencies, incident_id: str, *, by: str, request_id: str) -> dict[str, Any]:
    """Acknowledge as an operator, by the rules of a YES; idempotent per request_id."""
    item = deps.incidents.get(incident_id)
    if item is None:
        return _not_found(incident_id)
    if _not_started(item) and "maintenance_window" in item:
        return _acknowledge_held(deps, incident_id, by=by, request_id=request_id)
    if _not_started(item):
        return _error("not_started", f"incident {incident_id} has not started paging yet; try again in a few seconds")
    via = request_id
    if item.get("incident_stat") == Status.ACKNOWLEDGED and item.get("acknowledged_by") == by:
        via = str(item.get("acknowledged_via", via))  # ours from an earlier request: finish what it still owes
    taken = acknowledgement.take(deps.incidents, item, by=by, via=via, at=utc_now())
    if taken is None:
        current = deps.incidents.get(incident_id) or item
        status = current.get("incident_stat")
        if status == Status.ACKNOWLEDGED:
            who, at = current.get("acknowledged_by", "?"), current.get("acknowledged_at")
            message = f"incident {incident_id} was already acknowledged by {who} at {at}"
            return _error("already_acknowledged", message, incident_id=incident_id, acknowledged_by=who, acknowledged_at=at)
        if status == Status.RESOLVED:
            return _resolved_already(current)
        return _error("not_acknowledgeable", f"incident {incident_id} is {status}: there is nothing to acknowledge")
    if taken.now:
        count(INCIDENTS_ACKNOWLEDGED)
        logger.info("incident acknowledged by an operator", extra={"incident_id": incident_id, "by": by})
    stopped = _finish_acknowledgement(deps, taken.item, by=by)
    mine_before = via != request_id
    return {
        "ok": True,
        "outcome": "already_yours" if mine_before else "acknowledged",
        "incident_id": incident_id,
        "acknowledged_by": by,
        "acknowledged_at": taken.item.get("acknowledged_at"),
        "escalation_stopped": stopped,
    }


def resolve_as_operator(deps: Dependencies, incident_id: str, *, by: str, request_id: str) -> dict[str, Any]:
    """Resolve as an operator (escalation.resolve); idempotent per request_id."""
    item = deps.incidents.get(incident_id)
    if item is None:
        return _not_found(incident_id)
    if _not_started(item) and "maintenance_window" not in item:  # one a maintenance window holds is resolved as it is
        return _error("not_started", f"incident {incident_id} has not started paging yet; try again in a few seconds")
    via = request_id
    if item.get("incident_stat") == Status.RESOLVED and item.get("resolved_by") == by:
        via = str(item.get("resolved_via", via))  # ours from an earlier request: finish what it still owes
    outcome = resolve(deps, incident_id, by=by, via=via, at=utc_now())
    current = deps.incidents.get(incident_id) or item
    if outcome == Outcome.RESOLVED:
        return {
            "ok": True,
            "outcome": "already_yours" if via != request_id else "resolved",
            "incident_id": incident_id,
            "resolved_by": by,
            "resolved_at": current.get("resolved_at"),
            "status_before": item.get("incident_stat"),
        }
    if outcome == Outcome.NOT_FOUND:
        return _not_found(incident_id)
    if outcome == Outcome.ALREADY_RESOLVED:
        return _resolved_already(current)
    status = current.get("incident_stat") or "not started"
    return _error("not_resolvable", f"incident {incident_id} is {status}: there is no escalation to resolve")


def handle(request: object, dependencies: Callable[[], Dependencies], *, function_arn: str = "") -> dict[str, Any]:
    """One operator request; every answer the person can act on is data. Dependencies are built for a well-formed one only.

    function_arn: this function's own (maintenance windows schedule their edges back to it).
    """
    if isinstance(request, dict) and request.get("action") in (TEST_PAGE, TEST_PAGE_STATUS):
        return _test_page(request, dependencies)
    if isinstance(request, dict) and request.get("action") in maintenance_actions.ACTIONS:
        by, request_id = request.get("by"), request.get("request_id")
        if request.get("action") in ("maintenance_start", "maintenance_end"):
            if not isinstance(by, str) or not OPERATOR.match(by):
                return _error(
                    "invalid_request", "by: must be cli:<name>, the name 1-64 letters, digits, '.', '_', '@', '+' or '-'"
                )
            if not isinstance(request_id, str) or not request_id.strip() or len(request_id) > MAX_REQUEST_ID_LENGTH:
                return _error(
                    "invalid_request", f"request_id: must be a non-empty string of at most {MAX_REQUEST_ID_LENGTH} characters"
                )
        return maintenance_actions.handle(request, dependencies, function_arn=function_arn)
    try:
        action, incident_id, by, request_id = _check(request)
    except InvalidRequest as error:
        return _error("invalid_request", str(error))
    deps = dependencies()
    logger.info("operator request", extra={"action": action, "incident_id": incident_id, "by": by, "request_id": request_id})
    if action == "acknowledge":
        return acknowledge(deps, incident_id, by=by, request_id=request_id)
    return resolve_as_operator(deps, incident_id, by=by, request_id=request_id)


def _test_page(request: dict[str, Any], dependencies: Callable[[], Dependencies]) -> dict[str, Any]:
    """Send a test page, or say what became of one (escalation.sms.test_pages).

    Requests: `{"action": "test_page", "number", "by", "request_id", "voice"?}` (voice: true also places a test
    call, escalation.voice.test_calls), `{"action": "test_page_status", "code", ...}`.
    """
    number, by, request_id = request.get("number"), request.get("by"), request.get("request_id")
    voice = request.get("voice", False)
    if not isinstance(voice, bool):
        return _error("invalid_request", f"voice: must be true or false, got {voice!r}")
    if not isinstance(by, str) or not OPERATOR.match(by):
        return _error("invalid_request", "by: must be cli:<name>, the name 1-64 letters, digits, '.', '_', '@', '+' or '-'")
    if not isinstance(request_id, str) or not request_id.strip() or len(request_id) > MAX_REQUEST_ID_LENGTH:
        return _error("invalid_request", f"request_id: must be a non-empty string of at most {MAX_REQUEST_ID_LENGTH} characters")
    if request.get("action") == TEST_PAGE_STATUS:
        code = request.get("code")
        found = test_pages.status(dependencies().once.table, code) if isinstance(code, str) and code.isdigit() else None
        return {"ok": True, "outcome": "status", **found} if found else _error("not_found", f"no test page {code!r}")
    deps = dependencies()
    if voice and not deps.settings.calls:
        return _error(
            "refused", "voice: this deployment places no calls; turn them on first (a voice step in oncall.yaml notify, "
            "or voiceAfterSeconds): see docs/voice.md",
        )  # fmt: skip
    try:
        sent = test_pages.send_test_page(deps, str(number), by=by, request_id=request_id)
    except test_pages.TestPageRefused as error:
        return _error("refused", str(error))
    if voice:
        test_calls.place_test_call(deps, str(sent["code"]), str(number), deployment_sender(deps.settings))
        sent = test_pages.status(deps.once.table, str(sent["code"])) or sent
    return {"ok": True, "outcome": "sent", **sent}
