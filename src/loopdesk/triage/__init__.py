"""Triage: region detection, priority scoring and SLA clocks for incoming feedback."""
