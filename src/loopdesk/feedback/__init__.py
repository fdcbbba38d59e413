"""The feedback loop: one task per reported problem or suggestion, from intake to verified close."""
