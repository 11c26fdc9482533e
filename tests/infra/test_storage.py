"""The incidents table (the audit log), its history archive and the outbound-message table."""

from aws_cdk.assertions import Match

from tests.infra.support import Synth, resources_for, role_statements


def test_incidents_table_is_keyed_by_incident_id_and_streams_old_and_new_images(default_synth: Synth) -> None:
    default_synth.template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "incident_id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "incident_id", "AttributeType": "S"}],
            # the old image is what the history archive keeps of a replaced or deleted incident
            "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
        },
    )


def test_incidents_table_has_point_in_time_recovery_and_deletion_protection(default_synth: Synth) -> None:
    table = default_synth.resources[default_synth.logical_id(default_synth.stack.storage.incidents)]
    assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["Properties"]["DeletionProtectionEnabled"] is True


def test_incidents_table_survives_stack_deletion(default_synth: Synth) -> None:
    default_synth.template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": Match.object_like({"KeySchema": [{"AttributeName": "incident_id", "KeyType": "HASH"}]}),
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )


def test_messages_table_is_keyed_by_message_id_and_expires_entries(default_synth: Synth) -> None:
    default_synth.template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "message_id", "KeyType": "HASH"}],
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
        },
    )


def test_messages_table_indexes_messages_by_contact_and_send_time(default_synth: Synth) -> None:
    default_synth.template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "message_id", "KeyType": "HASH"}],
            "AttributeDefinitions": Match.array_with(
                [{"AttributeName": "contact", "AttributeType": "S"}, {"AttributeName": "sent_at", "AttributeType": "S"}]
            ),
            "GlobalSecondaryIndexes": [
                Match.object_like(
                    {
                        "IndexName": "by_contact",
                        "KeySchema": [
                            {"AttributeName": "contact", "KeyType": "HASH"},
                            {"AttributeName": "sent_at", "KeyType": "RANGE"},
                        ],
                    }
                )
            ],
        },
    )


def test_history_table_is_keyed_by_incident_and_replacement_and_survives_everything(default_synth: Synth) -> None:
    synth = default_synth
    table = synth.resources[synth.logical_id(synth.stack.storage.history)]
    assert table["Properties"]["KeySchema"] == [
        {"AttributeName": "incident_id", "KeyType": "HASH"},
        {"AttributeName": "replaced_at", "KeyType": "RANGE"},
    ]
    assert table["Properties"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["Properties"]["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    assert "StreamSpecification" not in table["Properties"]
    assert "TimeToLiveSpecification" not in table["Properties"]  # nothing expires from the archive


def test_history_table_name_is_an_output(default_synth: Synth) -> None:
    synth = default_synth
    output = synth.raw["Outputs"]["IncidentHistoryTableName"]
    assert output["Value"] == {"Ref": synth.logical_id(synth.stack.storage.history)}


def test_only_the_start_function_writes_the_history_and_it_can_only_add_to_it(default_synth: Synth) -> None:
    synth = default_synth
    history = f"${{{synth.logical_id(synth.stack.storage.history)}.Arn}}"
    start_role = synth.logical_id(synth.stack.start.role)
    start_env = synth.resources[synth.logical_id(synth.stack.start.function)]["Properties"]["Environment"]["Variables"]
    assert start_env["HISTORY_TABLE"] == {"Ref": synth.logical_id(synth.stack.storage.history)}
    start_actions = {
        action
        for statement in role_statements(synth, start_role)
        if statement["Effect"] == "Allow" and any(resource.startswith(history) for resource in statement["Resource"])
        for action in statement["Action"]
    }
    assert start_actions == {"dynamodb:PutItem"}
    assert resources_for(role_statements(synth, start_role), "dynamodb:PutItem") >= {history}
    for role_id in synth.of_type("AWS::IAM::Role"):
        if role_id == start_role:
            continue
        for statement in role_statements(synth, role_id):
            assert not any(resource.startswith(history) for resource in statement["Resource"]), (role_id, statement)


def test_stack_has_exactly_the_five_tables(default_synth: Synth) -> None:
    # Incidents, history, messages, on-call (definitions and overrides), integrations (routing key hashes).
    default_synth.template.resource_count_is("AWS::DynamoDB::Table", 5)
