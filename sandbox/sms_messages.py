"""What the fake SMS service keeps about texts: the sends, receipts and replies, and how a text's segments are counted."""

from __future__ import annotations

import datetime as dt
import importlib
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

PROJECT_MESSAGES_MODULE = "escalation.sms.messages"
LAMBDAS_DIR = Path(__file__).resolve().parent.parent / "lambdas"
SegmentCounter = Callable[[str], tuple[int, str]]


@dataclass(frozen=True)
class SentSms:
    """One message accepted by the fake service."""

    message_id: str
    at: dt.datetime
    to: str
    origination_identity: str
    body: str
    message_type: str | None
    context: Mapping[str, str]
    segments: int
    encoding: str
    request: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True)
class ReceiptEvent:
    """One text event published to a configuration set's SNS event destination."""

    message_id: str
    to: str
    event_type: str
    at: dt.datetime
    topic_arn: str
    price: Decimal | None  # totalMessagePrice + totalCarrierFee; None while pending


@dataclass(frozen=True)
class InboundSms:
    """One reply published to an inbound topic."""

    inbound_message_id: str
    at: dt.datetime
    topic_arn: str
    payload: Mapping[str, str]
    sns_message_id: str


# -- segment accounting: fallback only ----------------------------------------------------------
# TODO(sandbox): replace with lambdas/escalation/sms/messages.py:count_segments once it is always
# importable; this copy exists so the sandbox still works if that module is absent or renamed.
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


def fallback_count_segments(text: str) -> tuple[int, str]:
    """Segments and encoding of text (GSM-7 160/153, extension chars count 2; else UCS-2 70/67)."""
    if all(ch in _GSM7_BASIC or ch in _GSM7_EXTENSION for ch in text):
        septets = sum(2 if ch in _GSM7_EXTENSION else 1 for ch in text)
        return (1 if septets <= 160 else math.ceil(septets / 153)), "GSM-7"
    units = len(text.encode("utf-16-le")) // 2
    return (1 if units <= 70 else math.ceil(units / 67)), "UCS-2"


def project_segment_counter() -> SegmentCounter | None:
    """The project's escalation.sms.messages.count_segments, importing it from lambdas/ if needed."""
    try:
        module = importlib.import_module(PROJECT_MESSAGES_MODULE)
    except ImportError:
        if not LAMBDAS_DIR.is_dir():
            return None
        sys.path.insert(0, str(LAMBDAS_DIR))
        try:
            module = importlib.import_module(PROJECT_MESSAGES_MODULE)
        except ImportError:
            return None
        finally:
            sys.path.remove(str(LAMBDAS_DIR))
    counter: SegmentCounter | None = getattr(module, "count_segments", None)
    return counter
