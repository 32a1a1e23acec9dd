"""Faults on real Ray: the driver dies, a worker node dies, a trial process is killed.

Each test compares the Parquet files with what an uninterrupted run of the same sweep writes:
the same trials, every epoch exactly once, the same numbers (training is deterministic per
config with one thread per trial), retries recorded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .raycluster import LocalCluster
from .sweep_helpers import (EPOCHS, ROOT, SMOKE, assert_same_results, interrupt_then_resume,
                            kill_family, run_ok, running_trial, start_run, wait_for_epochs)


def test_driver_killed_then_resumed(reference, tmp_path):
    out = tmp_path / "results"
    driver = start_run("run", SMOKE, "--results", str(out), "--set", f"epochs={EPOCHS}")
    try:
        wait_for_epochs(out, rows=3)  # some trials mid-way, none of the second pair started
    finally:
        kill_family(driver)
    before = pq.read_table(out / "epochs").num_rows
    assert 0 < before < 4 * EPOCHS

    proc = run_ok("resume", str(out))
    statuses = [(t["trial_id"], t["status"], t["epochs_done"], t["error"])
                for t in pq.read_table(out / "trials.parquet").to_pylist()]
    assert "4 trials: 4 completed" in proc.stdout, (statuses, proc.stdout[-1500:],
                                                   proc.stderr[-1500:])
    assert_same_results(reference, out)
    status = run_ok("status", str(out))
    assert "remaining: 0" in status.stdout


def test_trial_process_killed_is_retried(reference, tmp_path):
    out = tmp_path / "results"
    driver = start_run("run", SMOKE, "--results", str(out), "--set", f"epochs={EPOCHS}")
    try:
        wait_for_epochs(out, rows=2)
        os.kill(running_trial(driver.pid), signal.SIGKILL)  # what the OOM killer does
        assert driver.wait(timeout=500) == 0
    finally:
        if driver.poll() is None:
            driver.kill()
    trials = pq.read_table(out / "trials.parquet").to_pylist()
    assert sorted(t["retries"] for t in trials)[-1] >= 1
    assert all(t["status"] == "completed" for t in trials)
    assert_same_results(reference, out)


def worker_running_a_trial(results: Path, cluster: LocalCluster, timeout: float = 300) -> int:
    """The raylet pid of a worker node whose trial has reported an epoch and has at least two
    to go.  Read from Tune's own per-trial result.json (one line per report), whose "node" is
    "ip/<node id prefix>"; trials.parquet is flushed too rarely to catch a tiny trial mid-run.
    Tune copies result.json into the results directory with each experiment snapshot, so the
    driver runs with TUNE_GLOBAL_CHECKPOINT_S=0 (a snapshot every step)."""
    workers = cluster.worker_node_ids()
    deadline = time.time() + timeout
    while time.time() < deadline:
        for log in (results / "tune").glob("*/result.json"):
            try:
                last = json.loads(log.read_text().strip().splitlines()[-1])
            except (OSError, ValueError, IndexError):  # not written yet, or mid-line
                continue
            prefix = str(last.get("node", "")).rsplit("/", 1)[-1]
            if last.get("status") == "running" and prefix and last["epoch"] <= EPOCHS - 2:
                for node_id, raylet in workers.items():
                    if node_id.startswith(prefix):
                        return raylet
        time.sleep(0.05)
    raise TimeoutError(f"no trial ran on a worker node of {cluster.address} in {timeout} s")


def test_worker_node_dies(reference, tmp_path):
    cluster = LocalCluster(workers=2, cpus_per_node=1)
    try:
        out = tmp_path / "results"
        driver = start_run("run", SMOKE, "--results", str(out), "--address", cluster.address,
                           "--set", f"epochs={EPOCHS}", "--set", "budget.max_concurrent=3",
                           env={**cluster.env, "TUNE_GLOBAL_CHECKPOINT_S": "0"},
                           stderr=subprocess.PIPE)
        try:
            # a preempted node: its raylet dies with its trials.  Tiny trials are fast, so pick
            # a worker node that is running one right now, not one that may be idle.
            cluster.kill_node(worker_running_a_trial(out, cluster))
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


def test_optuna_sweep_resumes_its_study(tmp_path):
    """An Optuna sweep whose driver dies mid-way: resume finishes the same study - every
    suggested point still runs once per seed, and no extra points are drawn."""
    import yaml

    sweep = tmp_path / "opt.yaml"
    sweep.write_text(yaml.safe_dump({
        "name": "opt", "base": {"preset": "tiny", "epochs": 3},
        "axes": {"lr": {"loguniform": [1e-4, 1e-2]}}, "seeds": [0, 1], "search": "optuna",
        "metric": "val_psnr", "mode": "max",
        "budget": {"num_samples": 3, "max_concurrent": 2}}))
    out = tmp_path / "results"
    interrupt_then_resume(str(sweep), out, rows=5)
    trials = pq.read_table(out / "trials.parquet").to_pylist()
    assert len(trials) == 6 and all(t["status"] == "completed" for t in trials)
    seeds_by_point: dict[float, list[int]] = {}
    for t in trials:
        seeds_by_point.setdefault(t["config.lr"], []).append(t["config.seed"])
    assert len(seeds_by_point) == 3
    assert all(sorted(s) == [0, 1] for s in seeds_by_point.values()), seeds_by_point
    epochs = pq.read_table(out / "epochs").to_pylist()
    assert len(epochs) == len({(e["trial_id"], e["epoch"]) for e in epochs}) == 18


def test_resume_reconciles_rows_with_tune(reference, tmp_path):
    """What a driver killed between Tune's experiment-state saves leaves behind: a row for a
    trial Tune never recorded (it reruns that point under a new id), the files of one whose
    batched row was never written, and a finished trial whose row still says running.  Resume
    drops the first two and completes the third."""
    import shutil

    from contract import schema

    out = tmp_path / "results"
    shutil.copytree(reference, out)
    rows = pq.read_table(out / "trials.parquet").to_pylist()
    behind, model = rows[0], rows[1]
    # epochs_done as on disk: catching up from epochs/ has nothing to add, so only the
    # reconciliation with Tune (which restored this trial as finished) can complete the row
    behind.update(status="running", epochs_done=EPOCHS, **{"metric.latent_acc": None})
    orphan = {**model, "trial_id": "orphan_00009", "status": "running", "epochs_done": 1}
    schema.write_atomic(schema.build_table(rows + [orphan], schema.TRIAL_CORE),
                        out / "trials.parquet")

    def epochs_of(trial_id: str) -> None:
        """The model trial's epochs as trial ``trial_id``'s own (resume refuses a file whose
        rows are another trial's)."""
        table = pq.read_table(out / "epochs" / f"{model['trial_id']}.parquet")
        ids = pa.array([trial_id] * table.num_rows)
        table = table.set_column(table.schema.get_field_index("trial_id"), "trial_id", ids)
        schema.write_atomic(table, out / "epochs" / f"{trial_id}.parquet")

    epochs_of("orphan_00009")
    (out / "tb" / "orphan_00009").mkdir(parents=True)
    epochs_of("ghost_00010")
    (out / "images" / "ghost_00010").mkdir(parents=True)
    # per-image predictions: the orphan's, and one of a trial known by nothing else
    for ghost in ("orphan_00009", "phantom_00011"):
        shutil.copy(schema.predictions_path(out, model["trial_id"]),
                    schema.predictions_path(out, ghost))

    proc = run_ok("resume", str(out))
    statuses = [(t["trial_id"], t["status"]) for t in pq.read_table(out / "trials.parquet").to_pylist()]
    assert "4 trials: 4 completed" in proc.stdout, (proc.stdout[-2000:], statuses)
    assert not (out / "epochs" / "orphan_00009.parquet").exists()
    assert not (out / "tb" / "orphan_00009").exists()
    assert not (out / "epochs" / "ghost_00010.parquet").exists()
    assert not (out / "images" / "ghost_00010").exists()
    assert not schema.predictions_path(out, "orphan_00009").exists()
    assert not schema.predictions_path(out, "phantom_00011").exists()
    assert schema.predictions_path(out, model["trial_id"]).exists()
    assert_same_results(reference, out)


def test_pareto_sweep_resumes_its_nsga2_study(tmp_path):
    """sweeps/optuna_pareto.yaml's search (NSGA-II over two metrics, replicated over seeds) at
    tiny size, its driver killed mid-way: resume continues the same study.  Under Optuna 5 the
    sampler holds a lock that does not pickle (sweeps/samplers.py); this is the sweep that broke.
    Continued, not restarted: the points drawn before the kill still run, no extra points are
    drawn, and the study Tune saved holds every point, not only those after the resume."""
    import pickle

    import yaml

    doc = yaml.safe_load((ROOT / "sweeps" / "optuna_pareto.yaml").read_text())
    doc["base"].update(preset="tiny", epochs=2)
    doc.update(name="pareto", seeds=[0, 1], resources={"cpus": 1})
    doc["budget"].update(num_samples=3, max_concurrent=2)
    sweep = tmp_path / "pareto.yaml"
    sweep.write_text(yaml.safe_dump(doc))
    out = tmp_path / "results"
    driver = start_run("run", str(sweep), "--results", str(out))
    try:
        wait_for_epochs(out, rows=3)
        before = {(t["config.a1"], t["config.seed"])
                  for t in pq.read_table(out / "trials.parquet").to_pylist()}
    finally:
        kill_family(driver)
    run_ok("resume", str(out))
    trials = pq.read_table(out / "trials.parquet").to_pylist()
    assert len(trials) == 6 and all(t["status"] == "completed" for t in trials)
    after = {(t["config.a1"], t["config.seed"]) for t in trials}
    assert before <= after, "a point drawn before the kill was dropped: the study restarted"
    points = {t["config.a1"] for t in trials}
    assert len(points) == 3 and all(
        sorted(t["config.seed"] for t in trials if t["config.a1"] == a1) == [0, 1] for a1 in points)
    states = sorted((out / "tune").rglob("searcher-state-*.pkl"))
    assert states, sorted(p.name for p in (out / "tune").rglob("*"))
    with open(states[-1], "rb") as f:
        study = pickle.load(f)["_ot_study"]
    assert type(study.sampler).__name__ == "PicklableNSGAIISampler"
    assert {t.params["a1"] for t in study.trials} == points
