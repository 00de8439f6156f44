"""The Helm chart on a real single-node Kubernetes (scripts/deploy/cluster.sh).

kube-apiserver, controller-manager, scheduler, kubelet and kubectl are built from the
k8s.io/kubernetes module (cold: minutes; `make test` starts the build in the background first
and this test waits for it); etcd, containerd and the CNI plugins come from Debian. Proves:
`helm install` of deploy/helm/odibi-stream brings the pod to Ready through probes that need no
token; a file copied in with `kubectl cp` is committed to the PVC; `kubectl delete pod` in the
middle of a batch drains the old pod (exit after "clean=True"), the replacement takes over the
lease and becomes Ready, and every record is in the Delta table exactly once; after `cluster.sh
down` no iptables rule, network link or process of the cluster is left.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.deploy_helpers import (
    BIN,
    CACHE,
    IMAGE,
    LOGS,
    REPO,
    SCRIPTS,
    delta_ids,
    http_json,
    land_orders,
    order_csv,
    pipeline_state,
    prepare,
    record_time,
    sh,
    slow_project,
    wait_until,
)

KUBE_WAIT = float(os.environ.get("ODIBI_DEPLOY_KUBE_WAIT", 2700))
pytestmark = [pytest.mark.slow, pytest.mark.timeout(KUBE_WAIT + 900), pytest.mark.usefixtures("docker_engine")]
TOKEN = "k8s-test-token"
CHART = REPO / "deploy" / "helm" / "odibi-stream"
KUBECONFIG = CACHE / "k8s" / "admin.kubeconfig"
# The unauthenticated probe listener (server.probe_port, set by the quickstart's `container`
# overlay from $ODIBI_PROBE_PORT): httpGet probes without the token.
PROBES = "port"


def host_network_state() -> dict[str, str]:
    """iptables rules of every table, network links and namespaces: must be equal after down."""
    out = {}
    for ipt in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle", "raw"):
            out[f"{ipt} {table}"] = sh(ipt, "-t", table, "-S", check=False).stdout
    out["links"] = "\n".join(sorted(line.split(":")[1].split("@")[0].strip()
                                    for line in sh("ip", "-o", "link").stdout.splitlines()))
    out["netns"] = sh("ip", "netns", "list", check=False).stdout
    return out


def cluster_processes() -> str:
    pattern = f"{BIN}/kube|etcd --name local --data-dir {CACHE}|containerd --config {CACHE}|containerd-shim.*{CACHE}"
    return sh("pgrep", "-af", pattern, check=False).stdout.strip()


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    prepare("helm", "kube", timeout=KUBE_WAIT)
    before = host_network_state()
    started = time.monotonic()
    up = sh("bash", SCRIPTS / "cluster.sh", "up", env={"IMAGES": IMAGE}, check=False, timeout=600)
    record_time("cluster-up", time.monotonic() - started)
    try:
        if up.returncode != 0:
            logs = {p.name: p.read_text()[-1500:] for p in (CACHE / "k8s" / "cluster" / "logs").glob("*.log")}
            pytest.fail(f"cluster.sh up failed:\n{up.stderr[-2000:]}\n{json.dumps(logs, indent=1)[-6000:]}")
        yield
    finally:
        started = time.monotonic()
        down = sh("bash", SCRIPTS / "cluster.sh", "down", check=False, timeout=300)
        record_time("cluster-down", time.monotonic() - started)
        assert down.returncode == 0, down.stderr
        assert cluster_processes() == ""
        after = host_network_state()
        assert after == before, {k: (before[k], after[k]) for k in before if before[k] != after[k]}


def kubectl(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    return sh(BIN / "kubectl", "--kubeconfig", KUBECONFIG, *args, timeout=timeout, check=check)


def helm(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return sh(BIN / "helm", "--kubeconfig", KUBECONFIG, *args, timeout=timeout)


def project_files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def ready_pod() -> dict[str, Any] | None:
    """The one Running, Ready, not terminating odibi pod (or None)."""
    pods = json.loads(kubectl("get", "pods", "-l", "app.kubernetes.io/instance=odibi", "-o", "json").stdout)
    ready = [p for p in pods["items"] if not p["metadata"].get("deletionTimestamp")
             and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))]
    return ready[0] if len(ready) == 1 else None


@pytest.fixture
def state_volume() -> Iterator[Path]:
    """A hostPath PersistentVolume (storageClassName: manual) owned by the image's user."""
    path = CACHE / "k8s" / f"pv-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True)
    os.chown(path, 10001, 10001)
    pv = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "odibi-state"},
          "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                   "storageClassName": "manual", "persistentVolumeReclaimPolicy": "Retain",
                   "hostPath": {"path": str(path), "type": "Directory"}}}
    sh(BIN / "kubectl", "--kubeconfig", KUBECONFIG, "apply", "-f", "-", input=json.dumps(pv))
    try:
        yield path
    finally:
        kubectl("delete", "pv", "odibi-state", "--wait=false", check=False)
        shutil.rmtree(path, ignore_errors=True)


def test_helm_install_ready_commit_and_pod_deletion_exactly_once(
    cluster: None, state_volume: Path, tmp_path: Path
) -> None:
    project = slow_project(tmp_path / "p", delay=2.0)
    values = {"image": {"tag": IMAGE.split(":")[1]}, "apiToken": {"value": TOKEN},
              "project": {"files": project_files(project)}, "probes": {"mode": PROBES},
              "storage": {"persistence": {"storageClass": "manual"}}}
    (tmp_path / "values.json").write_text(json.dumps(values))
    helm("install", "odibi", str(CHART), "-f", str(tmp_path / "values.json"), "--wait", "--timeout", "180s")
    try:
        pod = wait_until(ready_pod, 120, "the pod Ready")
        name, url = pod["metadata"]["name"], f"http://{pod['status']['podIP']}:8765"
        spec = pod["spec"]["containers"][0]
        assert spec["imagePullPolicy"] == "IfNotPresent" and spec["image"] == IMAGE
        assert spec["readinessProbe"]["httpGet"]["port"] == "probes"
        # The probe listener answers without a token; the API port does not.
        probe_url = f"http://{pod['status']['podIP']}:8766"
        assert http_json(probe_url + "/readyz")[0] == 200
        assert http_json(url + "/api/pipelines")[0] == 401

        # A file copied in through the API server (kubectl cp = tar over exec) is committed.
        (tmp_path / "orders-0000.csv").write_text(order_csv(0, 20))
        kubectl("exec", name, "--", "mkdir", "-p", "/var/lib/odibi/data/landing/orders")
        kubectl("cp", str(tmp_path / "orders-0000.csv"), f"{name}:/var/lib/odibi/data/landing/orders/orders-0000.csv")
        ids = list(range(0, 20))
        wait_until(lambda: pipeline_state(url, TOKEN)["last_committed"] == 0, 60, "batch 0 committed")

        # More files (straight onto the volume), then delete the pod while a batch is in flight.
        ids += land_orders(state_volume / "data" / "landing" / "orders", 1, 8)
        wait_until(lambda: pipeline_state(url, TOKEN)["state"] == "running", 30, "a batch in flight")
        old_logs = subprocess.Popen([str(BIN / "kubectl"), "--kubeconfig", str(KUBECONFIG), "logs", "-f", name],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        kubectl("delete", "pod", name, "--wait=false")
        try:
            drained, _ = old_logs.communicate(timeout=90)
        finally:
            old_logs.kill()
        assert "daemon stopped: clean=True" in drained, drained[-3000:]

        new = wait_until(lambda: (p := ready_pod()) and p["metadata"]["name"] != name and p, 180,
                         "the replacement pod Ready")
        new_url = f"http://{new['status']['podIP']}:8765"
        wait_until(lambda: pipeline_state(new_url, TOKEN)["last_committed"] == 8, 120,
                   "every file committed by the replacement")
        assert delta_ids(state_volume / "data" / "lake" / "bronze" / "orders") == sorted(ids)
        (LOGS / "k8s-pods.txt").write_text(kubectl("get", "pods", "-o", "wide").stdout)
    finally:
        helm("uninstall", "odibi", "--wait", "--timeout", "120s")
