"""Clients for external systems, built from connection settings (Azure storage, ...)."""
