"""cluster.yaml: valid for Ray's cluster launcher, and safe (token auth, dashboard on localhost).

Nothing here starts a cluster or talks to AWS: the file is checked against the JSON schema the
launcher itself uses (ray/autoscaler/ray-schema.json via ``validate_config``), and its commands
are read as text.
"""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

import ray.autoscaler
from ray.autoscaler._private.util import prepare_config, validate_config

ROOT = Path(__file__).resolve().parent.parent
CLUSTER_YAML = ROOT / "cluster.yaml"


@pytest.fixture(scope="module")
def cluster() -> dict:
    return yaml.safe_load(CLUSTER_YAML.read_text())


def _schema() -> dict:
    path = Path(os.path.dirname(ray.autoscaler.__file__)) / "ray-schema.json"
    return json.loads(path.read_text())


def _joined(commands: list[str]) -> str:
    return "\n".join(commands)


# --- schema ----------------------------------------------------------------------------------

def test_validates_against_ray_schema(cluster):
    validate_config(cluster)  # raises jsonschema.ValidationError / ValueError when invalid
    jsonschema.validate(cluster, _schema())


def test_validates_after_ray_fills_defaults(cluster):
    # What `ray up` does before launching: merge the AWS defaults, then validate.
    prepared = prepare_config(copy.deepcopy(cluster))
    validate_config(prepared)
    assert prepared["available_node_types"]["ray.head.default"]["max_workers"] == 0


def test_schema_check_is_not_vacuous(cluster):
    bad = copy.deepcopy(cluster)
    bad["no_such_key"] = 1
    with pytest.raises(jsonschema.ValidationError):
        validate_config(bad)
    bad = copy.deepcopy(cluster)
    bad["available_node_types"]["ray.worker.gpu"]["min_workers"] = "zero"
    with pytest.raises(jsonschema.ValidationError):
        validate_config(bad)


def test_gpu_workers_autoscale_from_zero(cluster):
    assert cluster["provider"]["type"] == "aws"
    workers = [t for name, t in cluster["available_node_types"].items()
               if name != cluster["head_node_type"]]
    assert workers, "no worker node type"
    gpu = [t for t in workers if t["resources"].get("GPU", 0) >= 1]
    assert gpu, "no GPU worker type"
    for t in gpu:
        assert t.get("min_workers", 0) == 0
        assert 0 < t["max_workers"] <= cluster["max_workers"]
        assert t["node_config"]["InstanceType"].startswith(("g", "p"))


# --- security ---------------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["head_start_ray_commands", "worker_start_ray_commands"])
def test_token_auth_on_in_start_commands(cluster, key):
    starts = [c for c in cluster[key] if "ray start" in c]
    assert starts, f"{key}: no ray start command"
    for cmd in starts:
        before_start = cmd[:cmd.index("ray start")]
        assert re.search(r"\bRAY_AUTH_MODE=token\b", before_start), \
            f"{key}: RAY_AUTH_MODE=token must be set for: {cmd}"


def test_token_is_provided_to_every_node(cluster):
    # The token file is synced by file_mounts (head, then head -> workers) and named in the
    # start commands through RAY_AUTH_TOKEN_PATH (or Ray's default path ~/.ray/auth_token).
    mounts = cluster["file_mounts"]
    assert "~/.ray/auth_token" in mounts
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        text = _joined(cluster[key])
        assert "RAY_AUTH_TOKEN_PATH=$HOME/.ray/auth_token" in text
        assert "RAY_AUTH_TOKEN=" not in text, "never put the token itself in the config"


def test_dashboard_bound_to_localhost(cluster):
    head = _joined(cluster["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head
    everything = CLUSTER_YAML.read_text()
    assert "0.0.0.0" not in everything
    hosts = re.findall(r"--dashboard-host[= ](\S+)", _joined(
        cluster["head_start_ray_commands"] + cluster["worker_start_ray_commands"]))
    assert hosts == ["127.0.0.1"]


# --- what runs on the nodes ---------------------------------------------------------------------

def test_setup_installs_the_project(cluster):
    setup = _joined(cluster["setup_commands"])
    assert re.search(r"pip install (-U )?-e ~/hinr-sweeps", setup)
    # The project reaches the nodes through file_mounts of the working tree.
    assert cluster["file_mounts"].get("~/hinr-sweeps") == "."
    # The same Ray on the cluster as in this environment (the launcher insists on it).
    assert f"ray[default]=={ray.__version__}" in setup
    assert "boto3" in _joined(cluster["head_setup_commands"])


def test_shared_storage_mounted(cluster):
    setup = _joined(cluster["setup_commands"])
    assert re.search(r"mount -t nfs4? .*/mnt/shared", setup)
    assert "mountpoint -q /mnt/shared" in setup  # re-running setup does not mount twice
    assert "/mnt/shared/results" in setup
    # and the file says where results directories go
    assert "--results /mnt/shared/results/" in CLUSTER_YAML.read_text()
