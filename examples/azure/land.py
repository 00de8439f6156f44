"""Create the example's three containers and land the sample CSV files in ``landing/orders/``.

Run from anywhere (the project is this folder)::

    python examples/azure/land.py

It reads the same ``odibi.yaml`` the daemon reads (so ``AZURE_STORAGE_ENDPOINT`` /
``AZURE_STORAGE_KEY`` / ``EXAMPLE_CONTAINER_PREFIX`` apply) and goes through the same
connection translation. A sample already landed is left alone: re-uploading it would make it a
new version of the file, which the pipeline would read again.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import replace
from pathlib import Path

from odibi_stream import load_project
from odibi_stream.clients.azure import blob_service_client
from odibi_stream.clients.azure_errors import BlobAlreadyExists
from odibi_stream.clients.locations import azure_target, resolve_location

HERE = Path(__file__).resolve().parent
CONTAINERS = ("landing", "lake", "checkpoints")


def create_containers(project_dir: Path) -> None:
    """Create each connection's container (an existing one is fine)."""
    from azure.core.exceptions import ResourceExistsError

    project = load_project(project_dir)
    for name in CONTAINERS:
        target = azure_target(project.connection(name))
        service = blob_service_client(replace(target, container=None))
        with service, contextlib.suppress(ResourceExistsError):
            service.create_container(target.container)


def land_samples(project_dir: Path) -> list[str]:
    """Upload every ``samples/*.csv`` to ``landing/orders/`` (create-exclusive); return names."""
    project = load_project(project_dir)
    landing = resolve_location(project, "landing", "orders").blob
    assert landing is not None, "the landing connection is an Azure connection"
    landed = []
    with landing.open(landing.full) as fs:
        for sample in sorted((project_dir / "samples").glob("*.csv")):
            try:
                fs.upload(sample.name, sample.read_bytes())
            except BlobAlreadyExists:
                print(f"already landed: {sample.name}")
                continue
            landed.append(sample.name)
            print(f"landed {landing.describe(f'orders/{sample.name}')}")
    return landed


def main() -> int:
    create_containers(HERE)
    land_samples(HERE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
