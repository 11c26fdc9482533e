"""The storm digest function: what it may do, who may invoke it, and that it exists only with storms on."""

from pathlib import Path
from typing import Any

import pytest

from escalation.paging import digests, storms
from escalation.sms import outbox
from stacks.digests import MAX_DIGEST_SECONDS, MERGE_LEASE_SECONDS, MERGE_WAIT_SECONDS, TIMEOUT_SECONDS
from tests.infra.support import Synth, actions_of, placeholder, resources_for, role_statements, synthesize
from tests.infra.test_monitoring import our_functions

SENDERS = ("page", "unacknowledged", "reply", "operator")


def digest_function(synth: Synth) -> dict[str, Any]:
    assert synth.stack.digests is not None
    return synth.resources[synth.logical_id(synth.stack.digests.function)]


def test_the_function_waits_out_the_longest_digest_and_is_its_own_storm_setting(default_synth: Synth) -> None:
    assert MAX_DIGEST_SECONDS == storms.MAX_DIGEST_SECONDS  # the stack and the functions agree on the longest wait
    assert MERGE_WAIT_SECONDS == digests.MERGE_SECONDS + outbox.MERGE_GRACE_SECONDS  # ... on waiting for a page batch
    assert MERGE_LEASE_SECONDS == digests.MERGE_LEASE_SECONDS  # ... and on a batch's hold on a digest
    properties = digest_function(default_synth)["Properties"]
    assert properties["Handler"] == "send_digest.handler"
    assert properties["Timeout"] == TIMEOUT_SECONDS > MAX_DIGEST_SECONDS
    assert properties["Environment"]["Variables"]["STORM_BATCH_SECONDS"] == "30"
    assert "STORM_DIGEST_FUNCTION" not in properties["Environment"]["Variables"]  # it never hands a digest to itself


@pytest.mark.parametrize("api", ["default", "pinpoint"])
def test_every_sender_may_invoke_the_digest_function_and_nothing_else(
    default_synth: Synth, pinpoint_synth: Synth, api: str
) -> None:
    synth = default_synth if api == "default" else pinpoint_synth  # whichever SMS API sends
    assert synth.stack.digests is not None
    arn = f"${{{synth.logical_id(synth.stack.digests.function)}.Arn}}"
    name = {"Ref": synth.logical_id(synth.stack.digests.function)}
    for handler in SENDERS:
        construct = getattr(synth.stack, handler)
        statements = role_statements(synth, synth.logical_id(construct.role))
        assert resources_for(statements, "lambda:InvokeFunction") == {arn}, handler
        variables = synth.resources[synth.logical_id(construct.function)]["Properties"]["Environment"]["Variables"]
        assert variables["STORM_DIGEST_FUNCTION"] == name, handler
    start = role_statements(synth, synth.logical_id(synth.stack.start.role))
    assert resources_for(start, "lambda:InvokeFunction") == set()  # the start function sends nothing


def test_the_digest_function_sends_and_touches_message_items_only(default_synth: Synth) -> None:
    synth = default_synth
    assert synth.stack.digests is not None
    statements = role_statements(synth, synth.logical_id(synth.stack.digests.handler.role))
    actions = actions_of(statements)
    assert "sms-voice:SendTextMessage" in actions
    messages = f"${{{synth.logical_id(synth.stack.storage.messages)}.Arn}}"
    incidents = f"${{{synth.logical_id(synth.stack.storage.incidents)}.Arn}}"
    dynamodb = {
        resource for statement in statements for resource in statement["Resource"] if "dynamodb" in str(statement["Action"])
    }
    assert {placeholder(resource) for resource in dynamodb} == {messages}  # no index, no incidents table
    assert incidents not in {placeholder(resource) for statement in statements for resource in statement["Resource"]}
    assert not {action for action in actions if action.startswith(("states:", "lambda:", "sns:"))}


def test_without_storms_there_is_no_digest_function(tmp_path: Path) -> None:
    synth = synthesize(tmp_path, stormBatchSeconds="0")
    assert synth.stack.digests is None
    assert "StormDigest" not in set(our_functions(synth).values())
