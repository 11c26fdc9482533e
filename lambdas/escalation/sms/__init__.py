"""Texts out: the SMS client, texts and their segment budget, the one outbox, send slots, the ceiling and receipts."""
