"""Answers from phones: the reply grammar, inbound message parsing, which incident a reply is about, and what it does."""
