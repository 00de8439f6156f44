"""``validate --check-connections`` reaches a real Blob endpoint (Azurite): a missing container
and a wrong key are errors at the connection's line; a good connection passes."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.azurite_fixtures import AzuriteAccount
from tests.conftest import CLI, cli_env, write_project

ODIBI = """\
project: t
checkpoint: {{root: ./checkpoints}}
connections:
  local: {{type: local, base_path: ./data}}
  lake:
    type: azure_blob
    account_name: devstoreaccount1
    container: {container}
    endpoint: {endpoint}
    auth: {{account_key: "${{secret:LAKE_KEY}}"}}
"""

PIPELINE = """\
pipeline: p
nodes:
  - name: src
    read: {connection: lake, format: delta, path: tables/src}
  - name: out
    depends_on: [src]
    write: {connection: local, format: delta, path: tables/out}
"""


def check(root: Path, key: str) -> subprocess.CompletedProcess[str]:
    env = {**cli_env(), "LAKE_KEY": key}
    return subprocess.run([*CLI, "validate", str(root), "--check-connections", "--timeout", "5"],
                          capture_output=True, text=True, env=env, timeout=120)


def test_containers_and_credentials_are_checked(tmp_path: Path, azurite: AzuriteAccount,
                                                 azure_container: str) -> None:
    good = write_project(tmp_path / "good", {"p": PIPELINE},
                         odibi_yaml=ODIBI.format(container=azure_container, endpoint=azurite.endpoint))
    res = check(good, azurite.account_key)
    assert res.returncode == 0, res.stderr
    assert "ok: every connection answered" in res.stdout
    missing = write_project(tmp_path / "missing", {"p": PIPELINE},
                            odibi_yaml=ODIBI.format(container="no-such-container", endpoint=azurite.endpoint))
    res = check(missing, azurite.account_key)
    assert res.returncode == 2
    assert "odibi.yaml:5: connection 'lake': container 'no-such-container' does not exist" in res.stderr
    res = check(good, "QUJD" + azurite.account_key[4:])
    assert res.returncode == 2
    assert "odibi.yaml:5: connection 'lake': cannot reach the container" in res.stderr
    assert azurite.account_key[4:20] not in res.stderr
