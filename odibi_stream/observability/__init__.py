"""Logging, metrics, events and stories."""
