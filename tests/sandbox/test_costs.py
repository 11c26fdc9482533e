"""The costs table's figures from a run's result."""

from decimal import Decimal

from sandbox.costs import figures


def test_texts_segments_calls_and_the_incidents_cost_are_summed() -> None:
    result = {
        "completed": True,
        "sms": [{"to": "+447700900001", "segments": 2}, {"to": "+447700900002"}],
        "calls": [{"to": "+447700900001"}],
        "incidents": [{"incident_id": "1", "cost": 0.01162}, {"incident_id": "2", "cost": 0.013}, {"incident_id": "3"}],
    }
    assert figures(result) == {"texts": 2, "segments": 3, "calls": 1, "cost_usd": Decimal("0.02462"), "completed": True}
