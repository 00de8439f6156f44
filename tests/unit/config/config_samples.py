"""Sample project texts shared by the config tests (imported by name: tests are not packages)."""

from __future__ import annotations

ODIBI_YAML = """\
project: demo
connections:
  local:
    type: local
    base_path: ./data
  lake:
    type: azure_blob
    container: lake
    base_path: bronze
    account_name: acct
    options:
      account_key: ${secret:LAKE_KEY}
checkpoint:
  root: ./ckpt
environments:
  prod:
    connections:
      local:
        base_path: /srv/data
    checkpoint:
      root: /srv/ckpt
"""

GOOD_PIPELINE = """\
pipeline: orders
trigger:
  file_watch: {}
nodes:
  - name: raw
    read:
      connection: local
      format: csv
      path: landing/*.csv
      incremental:
        mode: files
  - name: clean
    depends_on: [raw]
    transform:
      sql: SELECT * FROM raw
    write:
      connection: local
      format: delta
      path: tables/orders
"""
