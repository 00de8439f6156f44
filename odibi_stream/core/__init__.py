"""Neutral building blocks every layer may use: clock, values, redaction, hints, JSON."""
