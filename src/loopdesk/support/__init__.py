"""The support application: agents declared in YAML under a supervisor, intents, escalation, conversations,
replay and analytics, vertical templates with demo backends."""
