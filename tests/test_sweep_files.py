"""Every file in sweeps/ validates, says what it is in its header, and runs in tiny mode on a
real embedded Ray (one Ray instance for the whole module, so each sweep costs seconds)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch

from contract.fields import RECONSTRUCTING_VARIANTS
from hinr.training import native_bf16

from sweeps.spec import load_spec
from sweeps.tiny import tiny_mode

from .fixtures import write_cifar10_fixture

ROOT = Path(__file__).resolve().parent.parent
SWEEP_FILES = sorted((ROOT / "sweeps").glob("*.yaml"))


def test_there_are_sweep_files():
    names = {p.stem for p in SWEEP_FILES}
    assert {"smoke", "demo", "mnist_ablation", "cifar10_ablation", "paper",
            "optuna_pareto"} <= names


@pytest.mark.parametrize("path", SWEEP_FILES, ids=lambda p: p.stem)
def test_header_and_validation(path):
    header = path.read_text().split("\nname:")[0]
    for word in ("Tests:", "Command:", "Expected runtime:", "Expected result:"):
        assert word in header, f"{path.name} header lacks {word!r}"
    spec = load_spec(path)
    assert spec.num_trials() >= 1 and spec.name == path.stem


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    write_cifar10_fixture(root, n_train=200, n_test=100)
    return root


@pytest.mark.parametrize("path", SWEEP_FILES, ids=lambda p: p.stem)
def test_tiny_mode_keeps_the_points_every_report_section_needs(path):
    """Issue 43: the Explore section ranks factors over 3 points at least; tiny mode kept 2
    searched points (and a two-level first axis gave 2), so its report left the section out.
    Now every tiny sweep has 3 points, or every point its sweep has."""
    spec = load_spec(path)
    tiny = tiny_mode(spec)
    points = tiny.num_trials() // len(tiny.seeds)
    full = spec.num_trials() // len(spec.seeds)
    assert points >= min(3, full), (points, full)


@pytest.mark.parametrize("path", [p for p in SWEEP_FILES if p.stem != "smoke"], ids=lambda p: p.stem)
def test_tiny_mode_runs(path, ray_embedded, data_root, tmp_path):
    from sweeps.tune.run import run_sweep

    # Fixture CIFAR-10 batches carry no official md5s: verification off, for this data only.
    overrides = [f"data_root={data_root}", "verify_data=false"]
    if "precision" in load_spec(path).axes and not native_bf16(torch.device("cpu")):
        overrides.append("axes.precision=[fp32]")  # bf16 is refused on this CPU (tested apart)
    spec = tiny_mode(load_spec(path, overrides))
    assert spec.base_config.epochs == 1 and spec.preset == "tiny"
    results = tmp_path / spec.name
    run_sweep(spec, results)
    trials = pq.read_table(results / "trials.parquet").to_pylist()
    assert len(trials) == spec.num_trials()
    assert {t["status"] for t in trials} <= {"completed", "stopped"}
    assert any(t["status"] == "completed" for t in trials)
    done = [t for t in trials if t["status"] == "completed"]
    assert all(t["metric.latent_acc"] is not None for t in done)
    # a reconstruction's metrics wherever the variant reconstructs (not random_encoder: an
    # encoder alone, issue 28), stopped trials' too: val_psnr is per epoch
    decodes = [t for t in trials if t["config.variant"] in RECONSTRUCTING_VARIANTS]
    assert all(t["metric.test_psnr"] is not None for t in done if t in decodes)
    assert all(t["metric.val_psnr"] is not None for t in decodes)
    assert all(t.get("metric.val_psnr") is None for t in trials if t not in decodes)
    counts = spec.base_config.label_counts
    if counts:  # tiny mode keeps the counts a tiny split holds; each ran in every trial
        assert counts == (100, "all")
        assert all(t["metric.linear_acc_n100"] is not None and t["metric.linear_acc"] is not None
                   and t["metric.latent_acc_n100"] is not None for t in done)
    for key, values in spec.axes.items():
        if isinstance(values, list):
            assert {t[f"config.{key}"] for t in trials} == set(values)
    epochs = pq.read_table(results / "epochs").to_pylist()
    assert len(epochs) == sum(t["epochs_done"] for t in trials)


@pytest.mark.parametrize("search,scheduler", [("grid", "asha"), ("optuna", "fifo")])
def test_diverged_trial_is_recorded_and_sweep_goes_on(search, scheduler, ray_embedded, tmp_path):
    """lr=1e30 turns the loss into NaN in the first steps: the trial is recorded as diverged
    (epoch, step, message), the search sees the worst value, the other trial completes."""
    from sweeps.tune.run import run_sweep
    from sweeps.spec import parse_spec

    lr_axis = [1e-3, 1e30] if search == "grid" else {"choice": [1e-3, 1e30]}
    doc = {"name": "diverge", "base": {"preset": "tiny", "epochs": 2}, "axes": {"lr": lr_axis},
           "seeds": [0], "search": search, "scheduler": scheduler, "metric": "val_psnr",
           "mode": "max", "budget": {"num_samples": 4 if search == "optuna" else 1}}
    spec = parse_spec(doc, "diverge.yaml")
    run_sweep(spec, tmp_path / "results")
    trials = pq.read_table(tmp_path / "results" / "trials.parquet").to_pylist()
    assert len(trials) == spec.num_trials()
    diverged = [t for t in trials if t["config.lr"] == 1e30]
    healthy = [t for t in trials if t["config.lr"] == 1e-3]
    assert diverged and healthy
    for t in diverged:
        assert t["status"] == "diverged"
        assert t["diverged_epoch"] == 1 and t["diverged_step"] >= 0
        assert "nan" in t["error"] or "inf" in t["error"]
        assert t["metric.val_psnr"] is None  # the worst-value stand-in never reaches Parquet
    assert all(t["status"] == "completed" for t in healthy)


def test_a_reused_worker_process_gives_the_same_results(ray_embedded, tmp_path):
    """run_sweep reuses a slot's worker process for its next trial (Tune's reuse_actors): the
    trials then share one process, one after another, and their results are bit-identical to
    those of a process per trial, because a trial keeps nothing in the process."""
    from sweeps.tune.run import run_sweep
    from sweeps.spec import parse_spec

    doc = {"name": "reuse", "base": {"preset": "tiny", "epochs": 1, "train_subset": 128,
                                     "test_subset": 64},
           "axes": {"lr": [1e-3, 3e-3, 1e-2]}, "seeds": [0], "search": "grid",
           "metric": "val_psnr", "mode": "max", "resources": {"cpus": 1},
           "budget": {"max_concurrent": 1}}
    spec = parse_spec(doc, "reuse.yaml")
    finals = ("metric.val_psnr", "metric.test_psnr", "metric.latent_acc", "metric.weight_acc",
              "metric.train_loss")
    runs = {}
    for reuse in (True, False):
        grid = run_sweep(spec, tmp_path / f"reuse-{reuse}", reuse_actors=reuse)
        pids = [r.metrics["pid"] for r in grid]
        rows = pq.read_table(tmp_path / f"reuse-{reuse}" / "trials.parquet").to_pylist()
        runs[reuse] = (pids, {r["config.lr"]: tuple(r[m] for m in finals) for r in rows})
    (reused_pids, reused), (fresh_pids, fresh) = runs[True], runs[False]
    assert len(set(reused_pids)) == 1, reused_pids  # one process ran all three trials
    assert len(set(fresh_pids)) == 3, fresh_pids
    assert reused == fresh and len(reused) == 3
