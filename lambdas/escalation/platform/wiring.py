"""Builds the repositories and the notifier from the settings (one place, cached per container)."""

from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from escalation.paging.batching import Batches
from escalation.paging.storms import Storms
from escalation.platform import aws_clients
from escalation.platform.settings import Settings, get_settings
from escalation.sms.ceiling import SmsCeiling
from escalation.sms.client import sender_for
from escalation.sms.digest_flush import DigestFlusher
from escalation.sms.outbox import Notifier
from escalation.sms.send_rate import SendRate
from escalation.store.message_log import MessageLog
from escalation.store.once import OnceOnly
from escalation.store.repository import IncidentRepository


@dataclass(frozen=True)
class Dependencies:
    """What a handler works with, the Step Functions client included, so domain rules need not import aws_clients."""

    settings: Settings
    incidents: IncidentRepository
    message_log: MessageLog
    notifier: Notifier
    inbound_store: DynamoDBPersistenceLayer  # each inbound SMS is processed once (messages table)
    once: OnceOnly  # once-only keys for side effects (messages table)
    # The on-call table (escalation.oncall_store reads it); None without one. The store is built by the
    # callers that page by policy, so the other handlers never load pydantic.
    oncall_table: Any | None

    def stepfunctions(self) -> Any:
        """The Step Functions client (task tokens, executions), made on first use and kept for the container."""
        return aws_clients.stepfunctions()

    def sns(self) -> Any:
        """The SNS client (the ops topic), made on first use and kept for the container."""
        return aws_clients.sns()


@cache
def dependencies() -> Dependencies:
    """The handler's dependencies, built from its environment once."""
    settings = get_settings()
    resource = aws_clients.dynamodb()
    messages = resource.Table(settings.messages_table)
    message_log = MessageLog(messages, settings.message_ttl_days)
    ceiling = SmsCeiling(messages, per_incident=settings.max_sms_per_incident, per_hour=settings.max_sms_per_hour)
    return Dependencies(
        settings=settings,
        incidents=IncidentRepository(resource.Table(settings.incidents_table)),
        message_log=message_log,
        notifier=Notifier(
            sender_for(settings),
            message_log,
            send_rate=SendRate(messages, settings.sms_parts_per_second),
            ceiling=ceiling,
            storms=Storms(messages, window_seconds=settings.storm_batch_seconds) if settings.storm_batch_seconds else None,
            digest_segments=settings.max_sms_segments,
            flusher=DigestFlusher(aws_clients.lambda_(), settings.storm_digest_function)
            if settings.storm_digest_function
            else None,
            batches=Batches(messages, window_seconds=settings.storm_batch_seconds) if settings.storm_batch_seconds else None,
        ),
        inbound_store=DynamoDBPersistenceLayer(
            table_name=settings.messages_table, key_attr="message_id", expiry_attr="expires_at"
        ),
        once=OnceOnly(messages, settings.message_ttl_days),
        oncall_table=resource.Table(settings.oncall_table) if settings.oncall_table else None,
    )


def reset() -> None:
    """Forget cached settings, clients and dependencies (tests and the sandbox)."""
    dependencies.cache_clear()
    get_settings.cache_clear()
    aws_clients.reset()
