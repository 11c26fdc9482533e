"""Delivery receipts end to end: the gateway's text events reach the receipts function through the deployed topic."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from sandbox.scenario import SCENARIOS

SCENARIO = SCENARIOS / "page_delivered_receipts_and_cost.json"


def test_the_page_is_delivered_and_the_confirmation_blocked_and_both_cost(scenario_run: Any) -> None:
    result: dict[str, Any] = scenario_run(Path(SCENARIO))
    page, confirmation = result["sms"]
    timeline = result["incident"]["timeline"]
    (delivered,) = [entry for entry in timeline if entry["event"] == "delivered"]
    (undelivered,) = [entry for entry in timeline if entry["event"] == "undelivered"]
    assert (delivered["message_id"], delivered["kind"], delivered["confirmed_by"]) == (page["message_id"], "page", "handset")
    assert delivered["delay_seconds"] >= 0.2  # the gateway's default: 0.2 s after the send (later on a busy machine)
    assert (undelivered["message_id"], undelivered["status"], undelivered["cause"]) == (
        confirmation["message_id"], "BLOCKED", "contact",
    )  # fmt: skip
    assert Decimal(str(result["incident"]["cost"])) == Decimal("0.00581") * (page["segments"] + confirmation["segments"])
    assert [receipt["event_type"] for receipt in result["receipts"]] == ["TEXT_DELIVERED", "TEXT_BLOCKED"]
    recorded = [call for call in result["invocations"] if call["handler"] == "delivery_receipts"]
    assert [call["error"] for call in recorded] == [None, None]
    assert recorded[0]["t"] >= page["t"]  # the receipt was handled after the send (how soon depends on the machine)
