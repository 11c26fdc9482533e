"""The committed state machine diagrams are what `make diagrams` draws from the app now, and the drawing is faithful."""

import re
from typing import Any

from tests.infra.support import PROJECT, Synth, state_machine_definition
from tools import state_machine_diagram as diagram

EDGE = re.compile(r"^\s+(\S+) --> (\S+?)(?:: (.*))?$")


def _edges(source: str) -> set[tuple[str, str, str]]:
    return {(match[1], match[2], match[3] or "") for line in source.splitlines() if (match := EDGE.match(line))}


def test_committed_diagrams_are_not_stale(default_synth: Synth) -> None:
    drawn = diagram.mermaid(state_machine_definition(default_synth))
    page = (PROJECT / "docs" / "state-machine.md").read_text()
    assert page == diagram.document(drawn), "run `make diagrams`"
    assert page.count(diagram.BEGIN) == page.count(diagram.END) == 1
    # The one generated copy: nothing else carries a drawing that could go stale.
    for other in [PROJECT / "README.md", *(PROJECT / "docs").glob("*.md")]:
        assert other.name == "state-machine.md" or diagram.BEGIN not in other.read_text(), other


def test_the_command_draws_the_same_machine_as_the_tests_synthesize(default_synth: Synth) -> None:
    assert diagram.mermaid(diagram.synthesized_definition()) == diagram.mermaid(state_machine_definition(default_synth))


def test_every_state_and_transition_of_the_definition_is_drawn(default_synth: Synth) -> None:
    definition = state_machine_definition(default_synth)
    source = diagram.mermaid(definition)
    taken: set[str] = set()
    ids = {name: diagram.state_id(name, taken) for name in definition["States"]}
    for name, state_id in ids.items():
        assert f'state "{name}" as {state_id}' in source
    expected = {("[*]", ids[definition["StartAt"]])}
    for name, state in definition["States"].items():
        targets = [state.get("Next"), state.get("Default")]
        targets += [rule["Next"] for rule in state.get("Choices", [])] + [catch["Next"] for catch in state.get("Catch", [])]
        expected |= {(ids[name], ids[target]) for target in targets if target}
        if state["Type"] in {"Succeed", "Fail"} or state.get("End"):
            expected.add((ids[name], "[*]"))
    assert {(source_id, target) for source_id, target, _ in _edges(source)} == expected
    assert "note right of page_contact" in source  # its retries and its acknowledgement window


SMALL: dict[str, Any] = {
    "StartAt": "Send",
    "States": {
        "Send": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "TimeoutSeconds": 60,
            "Retry": [
                {"ErrorEquals": ["Boom"], "MaxAttempts": 0},
                {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 1.5},
            ],
            "Catch": [{"ErrorEquals": ["Boom"], "Next": "Gave up"}],
            "Next": "Again?",
        },
        "Again?": {
            "Type": "Choice",
            "Choices": [
                {"Not": {"Variable": "$.done", "BooleanEquals": True}, "Next": "Pause"},
                {"Or": [{"Variable": "$.n", "NumericGreaterThanEqualsPath": "$.max"}, {"Variable": "$.x", "IsNull": False}],
                 "Next": "Finish"},
            ],
            "Default": "Gave up",
        },
        "Pause": {"Type": "Wait", "Seconds": 5, "Next": "Send"},
        "Finish": {"Type": "Pass", "End": True},
        "Gave up": {"Type": "Fail", "Error": "GaveUp"},
        "Gave-up": {"Type": "Succeed"},
    },
}  # fmt: skip


def test_a_small_definition_is_drawn_exactly() -> None:
    assert diagram.mermaid(SMALL) == "\n".join(
        [
            "stateDiagram-v2",
            '    state "Send" as send',
            '    state "Again?" as again',
            '    state "Pause" as pause',
            '    state "Finish" as finish',
            '    state "Gave up" as gave_up',
            '    state "Gave-up" as gave_up_2',
            "    [*] --> send",
            "    send --> again",
            "    send --> gave_up: catch Boom",
            "    note right of send",
            "        times out after 60 s",
            "        no retry on Boom",
            "        retry States.ALL: 3 times, from 1 s, x1.5",
            "    end note",
            "    again --> pause: not ($.done == true)",
            "    again --> finish: ($.n >= $.max) or ($.x is not null)",
            "    again --> gave_up: otherwise",
            "    pause --> send",
            "    note right of pause",
            "        waits Seconds 5",
            "    end note",
            "    finish --> [*]",
            "    gave_up --> [*]: fails with GaveUp",
            "    gave_up_2 --> [*]",
            "",
        ]
    )
