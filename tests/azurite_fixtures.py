"""A real Azure Blob emulator (Azurite) for tests, plus helpers for containers and targets.

``azurite`` (session scope): the shared instance ``scripts/azurite-local.sh start`` runs
(``make services`` starts it; if this session had to start it, it stops it at the end), or
``$AZURITE_BLOB_ENDPOINT`` (an externally managed emulator). If Azurite cannot be started at all
(no npm registry), tests using it are skipped with the reason printed as a warning.
:class:`LocalAzurite` controls an instance by its run folder, so an outage test can stop and
start its own emulator (``isolated_azurite``: own run dir, own port, kept across restarts)
without disturbing the shared one. ``azurite_tls`` is an HTTPS instance accepting bearer tokens
(``--oauth basic``), with the self-signed certificate in ``<run dir>/cert.pem``.

Register from a conftest with ``pytest_plugins = ["tests.azurite_fixtures"]`` or by importing
the fixtures.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from odibi_stream.clients.azure import AzureTarget, blob_service_client
from odibi_stream.config.azure_auth import AzureAuth
from odibi_stream.config.project import AZURITE_ACCOUNT, AZURITE_KEY

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "azurite-local.sh"
CACHE = Path(os.environ.get("ODIBI_CACHE", REPO / ".cache")) / "azurite"


@dataclass
class LocalAzurite:
    """An Azurite blob service run by ``scripts/azurite-local.sh`` with its own run folder."""

    run_dir: Path | None = None
    tls: bool = False

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("AZURITE_PORT", None)
        env["AZURITE_TLS"] = "1" if self.tls else "0"
        if self.run_dir is not None:
            env["AZURITE_RUN_DIR"] = str(self.run_dir)
        return env

    def _run(self, cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(SCRIPT), cmd], env=self._env(), capture_output=True, text=True, timeout=600
        )

    @property
    def folder(self) -> Path:
        """The instance's run folder."""
        if self.run_dir is not None:
            return self.run_dir
        return CACHE / ("run-tls" if self.tls else "run")

    @property
    def cert_file(self) -> Path:
        """The self-signed certificate of a TLS instance (trust it as a CA)."""
        return self.folder / "cert.pem"

    def running(self) -> bool:
        """True if the instance answers."""
        return self._run("status").returncode == 0

    def start(self) -> str:
        """Start (or find running) and return the blob endpoint."""
        done = self._run("start")
        if done.returncode != 0:
            raise RuntimeError(f"azurite-local.sh start failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout.strip().splitlines()[-1]

    def stop(self) -> None:
        """Stop it; port and data are reused by the next :meth:`start`."""
        self._run("stop")

    def reset(self) -> None:
        """Stop and delete its data."""
        self._run("reset")


@dataclass(frozen=True)
class AzuriteAccount:
    """The emulator's account as tests use it."""

    endpoint: str
    account_name: str = AZURITE_ACCOUNT
    account_key: str = AZURITE_KEY

    @property
    def connection_string(self) -> str:
        """A storage connection string for this endpoint."""
        proto = self.endpoint.split(":", 1)[0]
        return (
            f"DefaultEndpointsProtocol={proto};AccountName={self.account_name};"
            f"AccountKey={self.account_key};BlobEndpoint={self.endpoint};"
        )

    def target(self, container: str | None, auth: AzureAuth | None = None) -> AzureTarget:
        """An :class:`AzureTarget` on this endpoint (account key auth by default)."""
        return AzureTarget(
            account_name=None,
            container=container,
            auth=auth or AzureAuth(account_key=self.account_key),
            endpoint=self.endpoint,
        )

    def service(self, **kwargs: Any) -> Any:
        """A BlobServiceClient with the account key (close it when done)."""
        return blob_service_client(self.target(None), **kwargs)


def _start_or_skip(instance: LocalAzurite) -> tuple[str, bool]:
    """(endpoint, started by us); skips the calling tests, loudly, if Azurite cannot start."""
    was_running = instance.running()
    try:
        return instance.start(), not was_running
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        reason = f"Azurite could not be started (scripts/azurite-local.sh): {exc}"
        warnings.warn(reason, pytest.PytestWarning, stacklevel=1)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def azurite() -> Iterator[AzuriteAccount]:
    """The shared emulator (``$AZURITE_BLOB_ENDPOINT`` or the project's local instance)."""
    external = os.environ.get("AZURITE_BLOB_ENDPOINT")
    if external:
        yield AzuriteAccount(external.rstrip("/"))
        return
    instance = LocalAzurite()
    endpoint, started = _start_or_skip(instance)
    yield AzuriteAccount(endpoint)
    if started:
        instance.stop()


@pytest.fixture(scope="session")
def azurite_tls() -> Iterator[tuple[AzuriteAccount, LocalAzurite]]:
    """An HTTPS emulator accepting bearer tokens; stopped at the end if this session started it."""
    instance = LocalAzurite(tls=True)
    endpoint, started = _start_or_skip(instance)
    yield AzuriteAccount(endpoint), instance
    if started:
        instance.stop()


@pytest.fixture
def isolated_azurite(tmp_path: Path) -> Iterator[tuple[AzuriteAccount, LocalAzurite]]:
    """A private emulator (own run dir and port) a test may stop and start; reset after."""
    instance = LocalAzurite(run_dir=tmp_path / "azurite")
    endpoint, _ = _start_or_skip(instance)
    try:
        yield AzuriteAccount(endpoint), instance
    finally:
        instance.reset()


def new_container(account: AzuriteAccount, prefix: str = "t") -> str:
    """Create a uniquely named container and return its name."""
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    with account.service() as service:
        service.create_container(name)
    return name


def drop_container(account: AzuriteAccount, name: str) -> None:
    """Delete a container (cleanup; an unreachable emulator is ignored)."""
    with account.service() as service, contextlib.suppress(Exception):
        service.delete_container(name)


@pytest.fixture
def azure_container(azurite: AzuriteAccount) -> Iterator[str]:
    """A fresh container on the shared emulator, deleted after the test."""
    name = new_container(azurite)
    yield name
    drop_container(azurite, name)
