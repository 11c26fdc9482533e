"""The operations dashboard shows what docs/operations.md promises, with metrics the handlers really publish."""

import json
import re
from typing import Any

from escalation.platform import observability
from tests.infra.support import PROJECT, Synth, placeholder

SEARCH_METRIC_NAME = re.compile(r'MetricName="([^"]+)"')


def _body(synth: Synth) -> dict[str, Any]:
    (dashboard,) = synth.of_type("AWS::CloudWatch::Dashboard").values()
    body: dict[str, Any] = json.loads(placeholder(dashboard["Properties"]["DashboardBody"]))
    return body


def _widgets(synth: Synth) -> dict[str, dict[str, Any]]:
    """Widgets with a title, by title."""
    widgets = [widget["properties"] for widget in _body(synth)["widgets"]]
    return {widget["title"]: widget for widget in widgets if "title" in widget}


def _series(widget: dict[str, Any]) -> list[tuple[str, str, dict[str, str], dict[str, Any]]]:
    """(namespace, metric name, dimensions, options) of each metric line of a graph; math expressions excluded."""
    series = []
    for line in widget.get("metrics", []):
        if isinstance(line[0], dict):
            continue
        *fields, options = line if isinstance(line[-1], dict) else [*line, {}]
        namespace, name, *dimensions = fields
        series.append((namespace, name, dict(zip(dimensions[::2], dimensions[1::2], strict=True)), options))
    return series


def _published_names() -> set[str]:
    """Every metric name lambdas/escalation/platform/observability.py defines."""
    return {
        value
        for key, value in vars(observability).items()
        if key.isupper() and isinstance(value, str) and key not in {"SERVICE", "NAMESPACE", "LEVEL_DIMENSION"}
    }


def _handler_metrics(synth: Synth) -> set[str]:
    """Every metric of the handlers' namespace the dashboard uses, in graphs and in SEARCH expressions."""
    names = set()
    for widget in _widgets(synth).values():
        for line in widget.get("metrics", []):
            if isinstance(line[0], dict):
                names.update(SEARCH_METRIC_NAME.findall(line[0]["expression"]))
        names.update(name for namespace, name, _, _ in _series(widget) if namespace == observability.NAMESPACE)
    return names


def test_the_dashboard_is_named_after_the_stack_and_its_name_is_an_output(default_synth: Synth) -> None:
    ((logical_id, dashboard),) = default_synth.of_type("AWS::CloudWatch::Dashboard").items()
    assert dashboard["Properties"]["DashboardName"] == "IncidentEscalation-operations"
    assert default_synth.raw["Outputs"]["DashboardName"]["Value"] == {"Ref": logical_id}


def test_every_handler_metric_on_the_dashboard_is_one_the_code_publishes(default_synth: Synth) -> None:
    used = _handler_metrics(default_synth)
    assert used <= _published_names(), f"not in observability.py: {sorted(used - _published_names())}"
    # and every published metric is shown somewhere
    assert _published_names() <= used, f"not on the dashboard: {sorted(_published_names() - used)}"


def test_the_operations_page_names_every_metric_the_handlers_publish() -> None:
    page = (PROJECT / "docs" / "operations.md").read_text()
    assert sorted(name for name in _published_names() if f"`{name}`" not in page) == []


def test_handler_metrics_are_read_with_the_dimension_powertools_writes(default_synth: Synth) -> None:
    for title, widget in _widgets(default_synth).items():
        for namespace, name, dimensions, _ in _series(widget):
            if namespace == observability.NAMESPACE:
                assert dimensions == {"service": observability.SERVICE}, (title, name)


def test_incidents_by_outcome_and_sms_show_sums(default_synth: Synth) -> None:
    widgets = _widgets(default_synth)
    expected = {
        "Incidents by outcome": {
            observability.INCIDENTS_STARTED,
            observability.INCIDENTS_ACKNOWLEDGED,
            observability.INCIDENTS_UNACKNOWLEDGED,
            observability.INCIDENTS_FAILED,
            observability.INCIDENTS_INVALID,
            observability.INCIDENTS_RESOLVED,
        },
        "Escalations, replies, busy answers to senders": {
            observability.ESCALATION_PAGES,
            observability.REPLIES_RECEIVED,
            observability.NOBODY_ON_CALL,
            observability.EVENTS_BUSY,
        },
        "SMS sent": {observability.SMS_SENT, observability.SMS_SEGMENTS, observability.PAGES_BATCHED},
        "SMS not sent": {
            observability.SMS_FAILED,
            observability.SMS_THROTTLED,
            observability.SMS_ACCOUNT_FAULT,
            observability.SMS_CEILING_REACHED,
        },
    }
    for title, names in expected.items():
        series = _series(widgets[title])
        assert {name for _, name, _, _ in series} == names, title
        assert {options["stat"] for _, _, _, options in series} == {"Sum"}, title


def test_time_to_acknowledge_shows_p50_and_p90_and_p90_by_level(default_synth: Synth) -> None:
    widgets = _widgets(default_synth)
    series = _series(widgets["Time to acknowledge (seconds)"])
    assert [(name, options["stat"]) for _, name, _, options in series] == [
        (observability.TIME_TO_ACKNOWLEDGE, "p50"),
        (observability.TIME_TO_ACKNOWLEDGE, "p90"),
    ]
    ((search,),) = widgets["Time to acknowledge by Level, p90 (seconds)"]["metrics"]
    assert search["expression"] == "SEARCH('{IncidentEscalation,Level,service} MetricName=\"TimeToAcknowledge\"', 'p90', 300)"
    assert observability.LEVEL_DIMENSION == "Level"


def test_failed_and_timed_out_executions_of_the_state_machine_are_shown(default_synth: Synth) -> None:
    machine = f"${{{default_synth.logical_id(default_synth.stack.workflow.state_machine)}}}"
    series = _series(_widgets(default_synth)["Escalation executions"])
    assert {(namespace, name) for namespace, name, _, _ in series} >= {
        ("AWS/States", "ExecutionsFailed"),
        ("AWS/States", "ExecutionsTimedOut"),
    }
    assert {dimensions["StateMachineArn"] for _, _, dimensions, _ in series} == {machine}


def test_the_alarm_widget_shows_every_alarm_of_the_stack(any_synth: Synth) -> None:
    # Built from the alarm's name (Ref), as CloudFormation's GetAtt Arn would give it.
    alarms = {
        f"arn:${{AWS::Partition}}:cloudwatch:${{AWS::Region}}:${{AWS::AccountId}}:alarm:${{{logical_id}}}"
        for logical_id in any_synth.of_type("AWS::CloudWatch::Alarm")
    }
    shown = _widgets(any_synth)["Alarms (each notifies the ops topic)"]["alarms"]
    assert len(alarms) >= 14
    assert sorted(shown) == sorted(alarms)
