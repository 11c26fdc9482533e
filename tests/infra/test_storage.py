"""The incidents table (the audit log) and the outbound-message table."""

from aws_cdk.assertions import Match

from tests.infra.support import Synth


def test_incidents_table_is_keyed_by_incident_id_and_streams_new_images(default_synth: Synth) -> None:
    default_synth.template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "incident_id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "incident_id", "AttributeType": "S"}],
            "StreamSpecification": {"StreamViewType": "NEW_IMAGE"},
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


def test_stack_has_exactly_the_two_tables(default_synth: Synth) -> None:
    default_synth.template.resource_count_is("AWS::DynamoDB::Table", 2)
