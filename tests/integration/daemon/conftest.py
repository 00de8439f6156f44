"""Fixtures of the daemon integration tests."""

from __future__ import annotations

from tests.integration.daemon.tmpfs import small_disk

__all__ = ["small_disk"]
