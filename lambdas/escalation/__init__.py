"""Domain package shared by the incident escalation Lambda handlers."""
