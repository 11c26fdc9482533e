"""Answers from phones: the reply grammar, inbound message parsing and which incident a reply is about."""
