"""Checks of the deployment files that need no engine and no cluster (fast).

`helm lint --strict` and `helm template` of the chart (helm built from the Go module proxy),
every rendering validated by `kubernetes-validate --strict` against Kubernetes 1.34 schemas,
the chart's guards against wrong combinations, and the committed plain manifests
(deploy/k8s/odibi-stream.yaml) being exactly what the chart renders.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.deploy.deploy_helpers import QUICKSTART, REPO, SCRIPTS, sh

CHART = REPO / "deploy" / "helm" / "odibi-stream"
KUBE_SCHEMA_VERSION = "1.34"


@pytest.fixture(scope="module")
def values(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("helm") / "project.json"
    out.write_text(sh(sys.executable, SCRIPTS / "helm_project_values.py", QUICKSTART).stdout)
    return out


def render(helm: Path, values: Path, *sets: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    args = [a for s in sets for a in ("--set", s)]
    return sh(helm, "template", "t", CHART, "-f", values, *args, check=check)


def validate(manifests: str, tmp_path: Path) -> None:
    exe = shutil.which("kubernetes-validate") or str(Path(sys.executable).parent / "kubernetes-validate")
    path = tmp_path / "rendered.yaml"
    path.write_text(manifests)
    proc = sh(exe, "--strict", "-k", KUBE_SCHEMA_VERSION, "--quiet", path, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def kinds(manifests: str) -> dict[str, dict]:  # type: ignore[type-arg]
    return {d["kind"]: d for d in yaml.safe_load_all(manifests) if d}


def test_project_values_carry_the_whole_project(values: Path) -> None:
    files = json.loads(values.read_text())["project"]["files"]
    assert set(files) == {"odibi.yaml", "pipelines/orders.yaml", "quickstart_fns/__init__.py",
                          "quickstart_fns/enrich.py"}


def test_helm_lint_strict(helm_binary: Path, values: Path) -> None:
    proc = sh(helm_binary, "lint", "--strict", CHART, "-f", values)
    assert "0 chart(s) failed" in proc.stdout


@pytest.mark.parametrize("variant", [
    (),
    ("probes.mode=exec",),
    ("storage.mode=azure", "replicas=2", "serviceMonitor.enabled=true"),
    ("apiToken.existingSecret=tok", "secrets.existingSecret=s", "storage.persistence.existingClaim=c"),
], ids=["default", "exec-probes", "azure-standby", "existing-objects"])
def test_rendered_manifests_are_valid_and_safe(helm_binary: Path, values: Path, tmp_path: Path,
                                               variant: tuple[str, ...]) -> None:
    out = render(helm_binary, values, *variant).stdout
    validate(out, tmp_path)
    docs = kinds(out)
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["image"] == "odibi-stream:0.1.0" and c["imagePullPolicy"] == "IfNotPresent"
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["terminationGracePeriodSeconds"] > 30  # > the project's shutdown_grace_seconds
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        # No probe may depend on $(VAR) expansion in headers: Kubernetes sends it literally.
        assert "httpHeaders" not in c[probe].get("httpGet", {})
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert mounts["/project"]["readOnly"] is True and "/var/lib/odibi" in mounts
    items = next(v for v in pod["volumes"] if v["name"] == "project")["configMap"]["items"]
    if "secrets.existingSecret=s" not in variant:
        assert {"key": "pipelines__orders.yaml", "path": "pipelines/orders.yaml"} in items
    assert "PodDisruptionBudget" in docs
    azure = "storage.mode=azure" in variant
    assert docs["Deployment"]["spec"]["strategy"]["type"] == ("RollingUpdate" if azure else "Recreate")
    assert ("PersistentVolumeClaim" in docs) == (not azure and "storage.persistence.existingClaim=c" not in variant)


@pytest.mark.parametrize(("sets", "message"), [
    (("replicas=2",), "replicas > 1 needs storage.mode: azure"),
    (("image.tag=latest",), "pin a version"),
    (("terminationGracePeriodSeconds=30",), "must exceed shutdownGraceSeconds"),
    (("project.existingConfigMap=cm", "project.files=null"), "project.items"),
    (("probes.mode=tcp",), "probes.mode must be port or exec"),
])
def test_chart_refuses_wrong_combinations(helm_binary: Path, values: Path, sets: tuple[str, ...], message: str) -> None:
    proc = render(helm_binary, values, *sets, check=False)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr


def test_chart_without_a_project_says_how_to_give_one(helm_binary: Path) -> None:
    proc = sh(helm_binary, "template", "t", CHART, check=False)
    assert proc.returncode != 0 and "helm_project_values.py" in proc.stderr


def test_committed_plain_manifests_match_the_chart(helm_binary: Path, tmp_path: Path) -> None:
    fresh = tmp_path / "odibi-stream.yaml"
    sh("bash", SCRIPTS / "render-manifests.sh", fresh, env={"HELM": str(helm_binary)})
    committed = REPO / "deploy" / "k8s" / "odibi-stream.yaml"
    assert committed.read_text() == fresh.read_text(), "run: bash scripts/deploy/render-manifests.sh"
    validate(committed.read_text(), tmp_path)
    assert "api-token" not in {d["kind"]: d for d in yaml.safe_load_all(committed.read_text()) if d}.get("Secret", {}).get("data", {})
