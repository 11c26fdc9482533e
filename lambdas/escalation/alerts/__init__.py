"""Alerts in: Events API v2 events, integrations, CloudWatch alarms, heartbeats and the incidents they open and close."""
