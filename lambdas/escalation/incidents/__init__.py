"""The incident itself: its item, statuses, levels and timeline, and what acknowledging or resolving means."""
