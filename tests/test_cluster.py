"""A sweep on a real 2-node Ray cluster (ray start --head + ray start --address, token auth)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from .raycluster import LocalCluster

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def cluster():
    c = LocalCluster(workers=1, cpus_per_node=1)
    try:
        yield c
    finally:
        c.stop()
    assert c.pids() == []


def test_trials_run_on_both_nodes(cluster, tmp_path):
    assert len(cluster.raylet_pids()) == 2
    out = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "launch.py"), "run", str(ROOT / "sweeps" / "smoke.yaml"),
         "--address", cluster.address, "--results", str(out)],
        cwd=ROOT, env=cluster.env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = pq.read_table(out / "trials.parquet").to_pylist()
    assert [t["status"] for t in trials] == ["completed"] * 4
    nodes = {t["node"] for t in trials}
    assert len(nodes) == 2, nodes  # one CPU per node, two trials at once: both nodes used
    assert all(len(n.split("/")) == 2 for n in nodes)  # "ip/node id"
