"""The environment variables the functions read: what every function sees, and the limits of every function that texts."""

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_smsvoice as smsvoice

from .config import EscalationConfig
from .storage import Storage


def function_environment(config: EscalationConfig, storage: Storage, oncall_table: dynamodb.ITable) -> dict[str, str]:
    """What every function of the escalation sees: the tables, the SMS API and identity, the message limits."""
    return {
        "INCIDENTS_TABLE": storage.incidents.table_name,
        "MESSAGES_TABLE": storage.messages.table_name,
        "SMS_API": config.sms_api,
        "ORIGINATION_IDENTITY": config.origination_identity,
        "CONFIGURATION_SET": config.configuration_set,
        "PINPOINT_APPLICATION_ID": config.pinpoint_application_id,
        "MAX_SMS_SEGMENTS": str(config.max_sms_segments),
        "MAX_SMS_SEGMENTS_UNICODE": str(config.max_sms_segments_unicode),
        "MESSAGE_TTL_DAYS": str(config.message_ttl_days),
        "ALLOWED_COUNTRIES": ",".join(config.allowed_countries),  # empty: any destination
        # The item check compares numbers with these (the protect configuration is the precise guard).
        "ALLOWED_CALLING_CODES": ",".join(config.allowed_calling_codes),
        "ONCALL_TABLE": oncall_table.table_name,  # deployed definitions and overrides (policies)
        # When low-urgency incidents may page a plain number (a person of oncall.yaml has their own hours).
        "WORKING_HOURS": config.working_hours,
        "WORKING_HOURS_ZONE": config.working_hours_zone,
    }


def sms_environment(config: EscalationConfig, protect_configuration: smsvoice.CfnProtectConfiguration | None) -> dict[str, str]:
    """Limits of every function that sends SMS."""
    return {
        "SMS_PARTS_PER_SECOND": str(config.sms_parts_per_second),
        "FAULT_RETRY_SECONDS": str(config.fault_retry_seconds),
        "MAX_SMS_PER_INCIDENT": str(config.max_sms_per_incident),
        "MAX_SMS_PER_HOUR": str(config.max_sms_per_hour),
        "ACK_TIMEOUT_SECONDS": str(config.ack_timeout_seconds),  # a page's TimeToLive: moot after its window
        # Storms (escalation.paging.storms): page batches and notice digests, whichever function sends the text.
        "STORM_BATCH_SECONDS": str(config.storm_batch_seconds),
        # Ref is the ProtectConfigurationId (its primary identifier); pass it as ProtectConfigurationId on each send.
        "PROTECT_CONFIGURATION_ID": protect_configuration.ref if protect_configuration else "",
    }
