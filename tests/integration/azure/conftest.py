"""Azure storage integration tests run against a real emulator (see tests/azurite_fixtures.py)."""

from __future__ import annotations

from tests.azurite_fixtures import azure_container, azurite, azurite_tls, isolated_azurite

__all__ = ["azure_container", "azurite", "azurite_tls", "isolated_azurite"]
