"""Faults on real Ray: the driver dies, a worker node dies, a trial process is killed.

Each test compares the Parquet files with what an uninterrupted run of the same sweep writes:
the same trials, every epoch exactly once, the same numbers (training is deterministic per
config with one thread per trial), retries recorded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from .raycluster import LocalCluster, cmdline, descendants

ROOT = Path(__file__).resolve().parent.parent
SMOKE = str(ROOT / "sweeps" / "smoke.yaml")
EPOCHS = 4
# Timing columns differ between any two runs; everything else must match exactly.
TIMING = ("wall_seconds", "metric.train_images_per_s", "metric.train_seconds",
          "metric.eval_images_per_s", "metric.trial_seconds")


def launch_cmd(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "launch.py"), *args]


def run_ok(*args: str, env=None) -> subprocess.CompletedProcess:
    proc = subprocess.run(launch_cmd(*args), cwd=ROOT, env=env or os.environ.copy(),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def by_point(results: Path) -> tuple[dict, dict]:
    """trials keyed by (a2, seed) and epochs keyed by (a2, seed, epoch), timing dropped."""
    trials = pq.read_table(results / "trials.parquet").to_pylist()
    ids = {t["trial_id"]: (t["config.a2"], t["config.seed"]) for t in trials}
    assert len(ids) == len(trials)
    keyed_trials = {ids[t["trial_id"]]: {k: v for k, v in t.items()
                                         if k not in TIMING + ("trial_id", "retries", "node")}
                    for t in trials}
    epochs = pq.read_table(results / "epochs").to_pylist()
    keyed_epochs = {}
    for e in epochs:
        key = (*ids[e["trial_id"]], e["epoch"])
        assert key not in keyed_epochs, f"duplicate epoch row {key}"
        keyed_epochs[key] = {k: v for k, v in e.items() if k not in TIMING + ("trial_id",)}
    return keyed_trials, keyed_epochs


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reference") / "results"
    run_ok("run", SMOKE, "--results", str(out), "--set", f"epochs={EPOCHS}")
    return out


def wait_for_epochs(results: Path, rows: int, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if (results / "epochs").is_dir() and pq.read_table(results / "epochs").num_rows >= rows:
                return
        except Exception:  # a file being replaced right now; look again
            pass
        time.sleep(0.5)
    raise TimeoutError(f"fewer than {rows} epoch rows in {results} after {timeout} s")


def assert_same_results(reference: Path, results: Path) -> None:
    ref_trials, ref_epochs = by_point(reference)
    got_trials, got_epochs = by_point(results)
    assert got_trials.keys() == ref_trials.keys()
    assert got_epochs.keys() == ref_epochs.keys()  # no gaps, no duplicates
    for key in ref_trials:
        assert got_trials[key] == ref_trials[key], key
    for key in ref_epochs:
        assert got_epochs[key] == ref_epochs[key], key


def test_driver_killed_then_resumed(reference, tmp_path):
    out = tmp_path / "results"
    driver = subprocess.Popen(launch_cmd("run", SMOKE, "--results", str(out), "--set",
                                         f"epochs={EPOCHS}"), cwd=ROOT, env=os.environ.copy(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_epochs(out, rows=3)  # some trials mid-way, none of the second pair started
    finally:
        # The driver's machine dies: the driver and the embedded Ray it started, all at once.
        family = [driver.pid] + descendants(driver.pid)
        for pid in family:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        driver.wait()
    before = pq.read_table(out / "epochs").num_rows
    assert 0 < before < 4 * EPOCHS

    proc = run_ok("resume", str(out))
    assert "4 trials: 4 completed" in proc.stdout
    assert_same_results(reference, out)
    status = run_ok("status", str(out))
    assert "remaining: 0" in status.stdout


def test_trial_process_killed_is_retried(reference, tmp_path):
    out = tmp_path / "results"
    driver = subprocess.Popen(launch_cmd("run", SMOKE, "--results", str(out), "--set",
                                         f"epochs={EPOCHS}"), cwd=ROOT, env=os.environ.copy(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_epochs(out, rows=2)
        trial_pids = [p for p in descendants(driver.pid) if "ray::ImplicitFunc" in cmdline(p)
                      or "ray::train_hinr" in cmdline(p)]
        assert trial_pids, "no trial process found"
        os.kill(trial_pids[0], signal.SIGKILL)  # what the OOM killer does
        assert driver.wait(timeout=500) == 0
    finally:
        if driver.poll() is None:
            driver.kill()
    trials = pq.read_table(out / "trials.parquet").to_pylist()
    assert sorted(t["retries"] for t in trials)[-1] >= 1
    assert all(t["status"] == "completed" for t in trials)
    assert_same_results(reference, out)


def test_worker_node_dies(reference, tmp_path):
    cluster = LocalCluster(workers=2, cpus_per_node=1)
    try:
        out = tmp_path / "results"
        driver = subprocess.Popen(
            launch_cmd("run", SMOKE, "--results", str(out), "--address", cluster.address,
                       "--set", f"epochs={EPOCHS}", "--set", "budget.max_concurrent=3"),
            cwd=ROOT, env=cluster.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_for_epochs(out, rows=3)
            cluster.kill_worker_node(1)  # a preempted node: its raylet dies with its trials
            _, err = driver.communicate(timeout=500)
            assert driver.returncode == 0, err[-4000:]
        finally:
            if driver.poll() is None:
                driver.kill()
    finally:
        cluster.stop()
    trials = pq.read_table(out / "trials.parquet").to_pylist()
    assert all(t["status"] == "completed" for t in trials)
    assert sum(t["retries"] for t in trials) >= 1
    assert_same_results(reference, out)
