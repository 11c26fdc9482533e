"""Sending a text to a contact and remembering it, so that replies can be matched."""

from .messages import Sms
from .observability import SMS_SEGMENTS, SMS_SENT, count, logger
from .phone_numbers import mask
from .repository import MessageLog, utc_now
from .sms import SmsFailed, SmsSender, SmsThrottled


class Notifier:
    """Sends SMS through the configured API and logs each MessageId with its incident."""

    def __init__(self, sender: SmsSender, message_log: MessageLog) -> None:
        self._sender = sender
        self._log = message_log

    def send(self, to: str, sms: Sms, *, incident_id: str, level: int, kind: str) -> str:
        """Send sms to a contact; raises SmsThrottled or SmsFailed."""
        message_id = self._sender.send(to, sms.body, incident_id=incident_id)
        self._log.record(message_id, incident_id=incident_id, contact=to, level=level, kind=kind, at=utc_now())
        count(SMS_SENT)
        count(SMS_SEGMENTS, sms.segments)
        logger.info(
            "sms sent",
            extra={
                "incident_id": incident_id,
                "to": mask(to),
                "kind": kind,
                "level": level,
                "segments": sms.segments,
                "encoding": sms.encoding,
                "message_id": message_id,
            },
        )
        return message_id

    def send_best_effort(self, to: str, sms: Sms, *, incident_id: str, level: int, kind: str) -> str | None:
        """Send a courtesy text (notice, confirmation); a failure is logged, never raised."""
        try:
            return self.send(to, sms, incident_id=incident_id, level=level, kind=kind)
        except (SmsFailed, SmsThrottled) as error:
            logger.warning(
                "courtesy sms not sent", extra={"incident_id": incident_id, "to": mask(to), "kind": kind, "error": str(error)}
            )
            return None
