"""``examples/azure`` runs as its README says, against the project's Azurite.

The containers get a unique prefix (``EXAMPLE_CONTAINER_PREFIX``) so runs never meet; the
example folder itself is never written to (everything it keeps is on Azure storage).
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from deltalake import DeltaTable

from odibi_stream.clients.azure_files import BlobFileSystem
from tests.azurite_fixtures import AzuriteAccount, drop_container
from tests.conftest import CLI, REPO, cli_env
from tests.integration.azure.test_azure_pipeline import url_named_paths

EXAMPLE = REPO / "examples" / "azure"
pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def env(azurite: AzuriteAccount) -> Iterator[dict[str, str]]:
    prefix = f"ex{uuid.uuid4().hex[:8]}-"
    env = cli_env()
    env.update(
        AZURE_STORAGE_ENDPOINT=azurite.endpoint,
        AZURE_STORAGE_KEY=azurite.account_key,
        EXAMPLE_CONTAINER_PREFIX=prefix,
    )
    yield env
    for name in ("landing", "lake", "checkpoints"):
        drop_container(azurite, prefix + name)


def _sh(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(args), env=env, cwd=cwd, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done


def _files(azurite: AzuriteAccount, container: str, prefix: str = "") -> list[str]:
    with BlobFileSystem.open(azurite.target(container)) as fs:
        return [f.name for f in fs.list(prefix, recursive=True)]


def test_the_azure_example_end_to_end(
    env: dict[str, str], azurite: AzuriteAccount, tmp_path: Path
) -> None:
    prefix = env["EXAMPLE_CONTAINER_PREFIX"]
    before = sorted(p.relative_to(EXAMPLE) for p in EXAMPLE.rglob("*") if "__pycache__" not in p.parts)
    landed = _sh(env, tmp_path, sys.executable, str(EXAMPLE / "land.py"))
    assert landed.stdout.count("landed ") == 3
    _sh(env, tmp_path, *CLI, "validate", str(EXAMPLE))
    _sh(env, tmp_path, *CLI, "run", str(EXAMPLE))
    _sh(env, tmp_path, *CLI, "run", str(EXAMPLE))  # nothing new: nothing written twice

    opts = {
        "azure_storage_account_name": azurite.account_name,
        "azure_storage_account_key": azurite.account_key,
        "azure_storage_endpoint": azurite.endpoint,
        "allow_http": "true",
    }
    orders = DeltaTable(f"az://{prefix}lake/tables/orders", storage_options=opts).to_pyarrow_table()
    assert sorted(orders.column("order_id").to_pylist()) == [1, 2, 3, 4, 21, 23, 41, 42, 43]
    assert "order_date" in orders.column_names
    dead = DeltaTable(f"az://{prefix}lake/dead_letter/orders", storage_options=opts).to_pyarrow_table()
    assert sorted(dead.column("_odibi_node").to_pylist()) == ["clean", "raw_orders"]
    assert _files(azurite, prefix + "landing", "orders") == []
    assert sorted(_files(azurite, prefix + "landing", "archive")) == [
        f"archive/orders/orders-00{i}.csv" for i in (1, 2, 3)
    ]
    ckpt = _files(azurite, prefix + "checkpoints")
    assert any(n.startswith("azure_orders/orders/commits/") for n in ckpt), ckpt
    after = sorted(p.relative_to(EXAMPLE) for p in EXAMPLE.rglob("*") if "__pycache__" not in p.parts)
    assert after == before, "the example folder must stay untouched: its state lives on Azure"
    assert url_named_paths(tmp_path, EXAMPLE) == []
