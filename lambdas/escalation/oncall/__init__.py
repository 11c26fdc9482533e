"""On-call schedules: people, rotations, escalation policies and overrides, and the store of deployed definitions."""
