"""benchmarks/sweep.py: its arithmetic (efficiency, the overhead split, ASHA vs FIFO), its
table, the sweep documents it builds, and one ``--tiny`` run end to end on embedded Ray."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import sweep as bench  # noqa: E402


def epoch_row(epoch, wall, train_s, images=100, eval_ips=50.0):
    return {"trial_id": "t", "epoch": epoch, "wall_seconds": wall,
            "metric.train_seconds": train_s, "metric.train_images_per_s": images / train_s,
            "metric.eval_images_per_s": eval_ips}


# ------------------------------------------------------------------------------ slots
@pytest.mark.parametrize("trials,cpus,per,cap,want", [
    (4, 2, 1, 0, 2), (4, 2, 1, 1, 1), (1, 2, 1, 0, 1), (8, 16, 1, 0, 8), (4, 2, 2, 0, 1),
    (4, 2, 0.5, 0, 4), (4, 1, 2, 0, 1)])
def test_slots(trials, cpus, per, cap, want):
    assert bench.slots(trials, cpus, per, cap) == want


# ------------------------------------------------------------------------------ one trial's time
def test_trial_timings_splits_gaps():
    # 4 epochs of 100 images: train 10 s, eval 2 s (100 test images at 50/s) each; 1 s of
    # checkpoint + TB after each of the first three epochs; finish 5 s after the last.
    rows = [epoch_row(1, 12.0, 10.0), epoch_row(2, 25.0, 10.0), epoch_row(3, 38.0, 10.0),
            epoch_row(4, 56.0, 10.0)]
    t = bench.trial_timings(list(reversed(rows)), test_images=100, completed=True)
    assert t["epochs"] == 4 and t["images"] == 400
    assert t["train_s"] == pytest.approx(40.0)
    assert t["eval_s"] == pytest.approx(8.0)
    assert t["finish_s"] == pytest.approx(5.0)
    assert t["between_epochs_s"] == pytest.approx(3.0)
    assert t["trial_s"] == pytest.approx(56.0)
    assert t["train_s"] + t["eval_s"] + t["finish_s"] + t["between_epochs_s"] == pytest.approx(56.0)


def test_trial_timings_stopped_trial_has_no_finish():
    rows = [epoch_row(1, 12.0, 10.0), epoch_row(2, 25.0, 10.0)]
    t = bench.trial_timings(rows, test_images=100, completed=False)
    assert t["finish_s"] == 0.0 and t["between_epochs_s"] == pytest.approx(1.0)


def test_trial_timings_two_epochs_puts_last_gap_in_finish():
    rows = [epoch_row(1, 12.0, 10.0), epoch_row(2, 30.0, 10.0)]
    t = bench.trial_timings(rows, test_images=100, completed=True)
    assert t["finish_s"] == pytest.approx(6.0) and t["between_epochs_s"] == pytest.approx(0.0)


# ------------------------------------------------------------------------------ one arm
def timing(images=400.0, train_s=40.0, eval_s=8.0, finish_s=5.0, between=3.0):
    return {"epochs": 4.0, "images": images, "train_s": train_s, "eval_s": eval_s,
            "finish_s": finish_s, "between_epochs_s": between,
            "trial_s": train_s + eval_s + finish_s + between}


def test_arm_metrics_efficiency_arithmetic():
    # 4 trials of 400 images in 40 s each (10 img/s per trial), 2 slots -> 20 img/s while
    # training; alone 16 img/s -> 1.25.  Wall 100 s -> 1600 / 100 = 16 img/s end to end.
    m = bench.arm_metrics([timing()] * 4, c=2, wall_s=100.0, ray_start_s=5.0, data_load_s=1.0,
                          alone_ips=16.0)
    assert m["per_trial_images_per_s"] == pytest.approx(10.0)
    assert m["aggregate_train_images_per_s"] == pytest.approx(20.0)
    assert m["training_efficiency"] == pytest.approx(1.25)
    assert m["end_to_end_efficiency"] == pytest.approx(1.0)
    assert m["outside_training_share"] == pytest.approx(1 - 160.0 / 200.0)
    # the identity the table relies on: e2e = training x (1 - outside)
    assert m["end_to_end_efficiency"] == pytest.approx(
        m["training_efficiency"] * (1 - m["outside_training_share"]))
    parts = m["outside_parts_share"]
    assert set(parts) == {k for k, _ in bench.OVERHEAD_PARTS}
    assert parts["ray_start"] == pytest.approx(10.0 / 200.0)
    assert parts["data_load"] == pytest.approx(2.0 / 200.0)
    assert parts["eval"] == pytest.approx(32.0 / 200.0)
    assert parts["finish"] == pytest.approx(20.0 / 200.0)
    assert parts["between_epochs"] == pytest.approx(12.0 / 200.0)
    assert sum(parts.values()) == pytest.approx(m["outside_training_share"])


def test_arm_metrics_degenerate_inputs_do_not_divide_by_zero():
    m = bench.arm_metrics([], c=2, wall_s=0.0, ray_start_s=0.0, data_load_s=0.0, alone_ips=0.0)
    assert m["training_efficiency"] == 0.0 and m["end_to_end_efficiency"] == 0.0
    assert m["outside_training_share"] == 0.0


def test_pooled_rate():
    assert bench.pooled_rate([{"images": 100, "seconds": 1}, {"images": 100, "seconds": 3}]) == 50
    assert bench.pooled_rate([]) == 0.0


def test_train_alone_stops_at_its_budget():
    config = {"preset": "tiny", "threads": 1, "epochs": 3, "train_subset": 64, "test_subset": 32,
              "val_fraction": 0.0, "budget_s": 1e-9}
    out = bench.train_alone(config)
    assert len(out["epoch_images_per_s"]) == 1  # the budget ends it after the first epoch
    assert out["images"] == pytest.approx(64) and out["seconds"] > 0
    assert out["images_per_s"] == pytest.approx(out["images"] / out["seconds"])


# ------------------------------------------------------------------------------ ASHA vs FIFO
def trials(*rows):
    return [{"trial_id": f"t{i}", "status": s, "config.lr": lr, "metric.val_psnr": p}
            for i, (lr, p, s) in enumerate(rows)]


def test_asha_vs_fifo_same_best():
    fifo = {"trials": trials((1e-4, 12.0, "completed"), (1e-3, 15.0, "completed"),
                             (3e-3, float("nan"), "completed")),
            "epochs": 12.0, "train_s": 120.0, "wall_s": 100.0}
    asha = {"trials": trials((1e-4, 10.0, "stopped"), (1e-3, 15.01, "completed"),
                             (3e-3, None, "stopped")),
            "epochs": 6.0, "train_s": 66.0, "wall_s": 70.0}
    c = bench.asha_vs_fifo(fifo, asha)
    assert c["fifo_best"] == 15.0 and c["asha_best"] == 15.01
    assert c["fifo_best_config"] == c["asha_best_config"] == 1e-3
    assert c["same_best"] and c["asha_stopped"] == 2 and c["asha_trials"] == 3
    assert c["epochs_saved"] == pytest.approx(0.5)
    assert c["train_s_saved"] == pytest.approx(0.45)
    assert c["wall_saved"] == pytest.approx(0.3)
    assert "for the same best result" in bench.asha_note(c)


def test_asha_vs_fifo_different_best():
    fifo = {"trials": trials((1e-3, 15.0, "completed")), "epochs": 4.0, "train_s": 4.0,
            "wall_s": 4.0}
    asha = {"trials": trials((3e-3, 14.0, "completed")), "epochs": 4.0, "train_s": 4.0,
            "wall_s": 4.0}
    c = bench.asha_vs_fifo(fifo, asha)
    assert not c["same_best"] and c["best_gap_db"] == pytest.approx(-1.0)
    assert "differs from FIFO's by -1.00 dB" in bench.asha_note(c)


def test_asha_note_says_more_when_asha_cost_more():
    fifo = {"trials": trials((1e-3, 15.0, "completed")), "epochs": 4.0, "train_s": 10.0,
            "wall_s": 10.0}
    asha = {"trials": trials((1e-3, 15.0, "completed")), "epochs": 4.0, "train_s": 13.0,
            "wall_s": 9.0}
    note = bench.asha_note(bench.asha_vs_fifo(fifo, asha))
    assert "0% fewer epochs (30% more train time, 10% less wall time; 0 of 1 trials stopped" in note


def test_best_trial_min_mode_and_empty():
    rows = trials((1, 3.0, "completed"), (2, 1.0, "completed"))
    assert bench.best_trial(rows, mode="min")["config.lr"] == 2
    assert bench.best_trial(trials((1, None, "errored"))) is None


# ------------------------------------------------------------------------------ the table
def fake_result():
    m = bench.arm_metrics([timing()] * 4, c=2, wall_s=100.0, ray_start_s=5.0, data_load_s=1.0,
                          alone_ips=16.0)
    trap = bench.arm_metrics([timing(train_s=80.0)] * 4, c=2, wall_s=150.0, ray_start_s=5.0,
                             data_load_s=1.0, alone_ips=16.0)
    fresh = bench.arm_metrics([timing()] * 4, c=2, wall_s=125.0, ray_start_s=5.0,
                              data_load_s=1.0, alone_ips=16.0)
    fifo = {"trials": trials((1e-3, 15.0, "completed")), "epochs": 16.0, "train_s": 160.0,
            "wall_s": 100.0}
    asha = {"trials": trials((1e-3, 15.0, "completed"), (1e-4, 9.0, "stopped")),
            "epochs": 9.0, "train_s": 90.0, "wall_s": 70.0}
    return {"setup": {"preset": "small", "dataset": "mnist-5k", "train_subset": 100,
                      "test_subset": 100, "epochs": 4, "lrs": [1e-4, 1e-3], "seeds": [0],
                      "cpus": 2, "cpus_per_trial": 1.0, "load_start": 0.5, "load_end": None},
            "alone": {"threads": 2, "images_per_s": 16.0, "before": 16.5, "after": 15.5},
            "arms": {"fifo": {"threads_per_trial": 1, "metrics": m},
                     "fresh_workers": {"threads_per_trial": 1, "metrics": fresh},
                     "oversubscribed": {"threads_per_trial": 2, "metrics": trap}},
            "asha_vs_fifo": bench.asha_vs_fifo(fifo, asha), "runtime_s": 321.0}


def test_format_table():
    text = bench.format_table(fake_result())
    lines = text.splitlines()
    header = next(ln for ln in lines if ln.startswith("arm "))
    fifo = next(ln for ln in lines if ln.startswith("fifo "))
    trap = next(ln for ln in lines if ln.startswith("oversubscribed "))
    assert len(fifo) == len(header) == len(trap)  # columns line up
    assert fifo.split() == ["fifo", "4", "2", "1", "16", "1600", "100.0", "10.0", "20.0",
                            "1.25", "20.0%", "1.00"]
    assert "1.25 (meets the 0.9 target)" in text
    assert "end-to-end efficiency (fifo): 1.00 (meets the 0.85 target)" in text
    assert ("worker reuse (fifo) vs a process per trial (fresh_workers): wall 100.0 vs 125.0 s "
            "(20% less), outside training 20.0% vs 36.0%, end-to-end efficiency 1.00 vs 0.80"
            in text)
    assert "automatic threads vs 2 threads per trial: 2.00x the training throughput" in text
    assert "load average 0.50 at start, - at end" in text
    assert "Ray start-up" in text and "total outside training" in text
    assert "ASHA spent 44% fewer epochs" in text and "for the same best result (15.00 dB)" in text
    assert text.rstrip().endswith("benchmark runtime: 321 s")


def test_format_table_flags_a_miss():
    result = fake_result()
    result["arms"]["fifo"]["metrics"]["training_efficiency"] = 0.5
    result["arms"]["fifo"]["metrics"]["end_to_end_efficiency"] = 0.6
    del result["asha_vs_fifo"]
    text = bench.format_table(result)
    assert "0.50 (MISSES the 0.9 target)" in text and "ASHA vs FIFO" not in text
    assert "end-to-end efficiency (fifo): 0.60 (MISSES the 0.85 target)" in text


# ------------------------------------------------------------------------------ the sweeps it runs
def test_sweep_docs_parse_and_threads_follow_the_cpu_share():
    from sweeps.spec import parse_spec
    from sweeps.trial import config_from_trial

    args = bench.parse_args(["--cpus", "2"])
    assert args.arms == ["fifo", "fresh_workers", "oversubscribed", "asha"] and not args.shared_ray
    fifo = parse_spec(bench.sweep_doc(args, "f", 0, "fifo"), "f")
    trap = parse_spec(bench.sweep_doc(args, "o", 2, "fifo"), "o")
    asha = parse_spec(bench.sweep_doc(args, "a", 0, bench.ASHA), "a")
    assert fifo.num_trials() == trap.num_trials() == asha.num_trials() == 4
    assert fifo.axes == trap.axes == asha.axes and fifo.seeds == asha.seeds
    assert asha.scheduler["type"] == "asha" and fifo.scheduler["type"] == "fifo"
    assert fifo.budget["max_concurrent"] == 2 and fifo.resources["cpus"] == 1.0
    point = {"preset": "small", **fifo.base, "lr": 1e-3, "seed": 0}
    assert config_from_trial(point, cpus=1.0).threads == 1  # automatic: the CPU share
    assert config_from_trial({"preset": "small", **trap.base, "lr": 1e-3}, cpus=1.0).threads == 2


def test_tiny_args():
    args = bench.parse_args(["--tiny"])
    assert args.preset == "tiny" and args.arms == ["fifo", "asha"] and args.shared_ray
    assert len(args.lrs) == 2 and args.epochs == 2


# ------------------------------------------------------------------------------ end to end
@pytest.mark.timeout(300)
def test_tiny_run_end_to_end(tmp_path):
    out = tmp_path / "sweep.json"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "sweep.py"), "--tiny",
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=280, env=os.environ.copy())
    took = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    assert "training efficiency (fifo, automatic threads)" in proc.stdout
    assert "ASHA vs FIFO" in proc.stdout and "total outside training" in proc.stdout
    result = json.loads(out.read_text())
    assert set(result["arms"]) == {"fifo", "asha"}
    fifo = result["arms"]["fifo"]
    assert {t["status"] for t in fifo["trials"]} == {"completed"}
    m = fifo["metrics"]
    assert m["trials"] == 2 and m["slots"] == 2 and m["epochs"] == 4
    # trials x epochs x training images (train_subset 128 less its 12 validation images),
    # read back from Parquet
    assert m["images"] == 2 * 2 * 116
    assert m["training_efficiency"] > 0 and 0 < m["outside_training_share"] < 1
    assert m["end_to_end_efficiency"] == pytest.approx(
        m["training_efficiency"] * (1 - m["outside_training_share"]), rel=1e-6)
    assert result["alone"]["images_per_s"] > 0 and result["alone"]["threads"] == os.cpu_count()
    cmp_ = result["asha_vs_fifo"]
    assert cmp_["fifo_epochs"] == 4 and 2 <= cmp_["asha_epochs"] <= 4
    assert math.isfinite(cmp_["fifo_best"])
    # The brief asks for under a minute on 2 idle cores; a loaded machine gets some slack.
    print(f"--tiny took {took:.0f} s")


def test_slots_with_fractional_gpus():
    assert bench.slots(8, 2, 2 / 8, 8, gpus=1, gpus_per_trial=1 / 8) == 8
    assert bench.slots(3, 2, 2 / 3, 3, gpus=1, gpus_per_trial=1 / 3) == 3  # 1/(1/3) rounds to 3
    assert bench.slots(4, 16, 1, 0, gpus=1, gpus_per_trial=0.5) == 2  # the GPU is the limit


def test_gpu_share_docs_parse_and_split_the_machine():
    from sweeps.spec import parse_spec

    args = bench.parse_args(["--tiny", "--arms", "gpu_share", "--gpus", "1"])
    for k in (1, 2, 4, 8):
        spec = parse_spec(bench.gpu_share_doc(args, k), "<test>")
        assert spec.num_trials() == k and spec.budget["max_concurrent"] == k
        assert spec.resources == {"cpus": args.cpus / k, "gpus": 1 / k}


def test_gpu_share_arm_needs_a_gpu(capsys):
    with pytest.raises(SystemExit) as err:
        bench.parse_args(["--arms", "gpu_share", "--gpus", "0"])
    assert err.value.code == 2
    assert "--gpus 1 gives Ray a logical one" in capsys.readouterr().err


@pytest.mark.timeout(300)
def test_gpu_share_arm_on_a_logical_gpu(tmp_path):
    """The fractional-GPU arm end to end: with a logical GPU (no CUDA here) Ray must run 1, then
    2 trials at once at gpus 1/k; the table and JSON report both."""
    out = tmp_path / "sweep.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "sweep.py"), "--tiny",
                           "--arms", "gpu_share", "--gpu-share", "1", "2", "--gpus", "1",
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=280, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    assert "GPU sharing: k tiny trials on one GPU" in proc.stdout
    result = json.loads(out.read_text())
    assert result["arms"] == {} and [r["trials_per_gpu"] for r in result["gpu_share"]] == [1, 2]
    one, two = result["gpu_share"]
    assert one["resources"]["gpus"] == 1.0 and two["resources"]["gpus"] == 0.5
    assert two["metrics"]["slots"] == 2 and len(two["trials"]) == 2
    assert {t["status"] for r in result["gpu_share"] for t in r["trials"]} == {"completed"}
    assert one["vs_first"] == 1.0 and two["vs_first"] > 0
    if not any("cuda" in d for r in result["gpu_share"] for d in r["devices"]):
        assert "the GPUs were Ray's logical ones" in proc.stdout


# ------------------------------------------------------------------------------ a cut arm
def test_a_cut_arm_is_marked_and_is_no_failure():
    result = fake_result()
    trap = result["arms"]["oversubscribed"]
    trap.update(cut=True, time_limit_s=60.0, planned_trials=4, finished_trials=3,
                trials=[{"trial_id": f"t{i}", "status": s}
                        for i, s in enumerate(["completed"] * 3 + ["pending"])])
    text = bench.format_table(result)
    assert "oversubscribed* " in text
    assert "* oversubscribed: cut at 60 s (Tune's time budget): 3/4 trials finished" in text
    assert bench.failures([trap]) == []
    # The same trials in an arm that was not cut, or an errored trial anywhere, are failures.
    assert [t["trial_id"] for t in bench.failures([{**trap, "cut": False}])] == ["t3"]
    errored = {"cut": True, "trials": [{"trial_id": "e", "status": "errored"}]}
    assert [t["trial_id"] for t in bench.failures([trap, errored])] == ["e"]


@pytest.mark.timeout(300)
def test_tiny_cut_arm_exits_0(tmp_path):
    """An oversubscribed arm cut by a 1 s time budget (actor start-up alone takes longer) leaves
    trials unfinished: the run says so and exits 0."""
    out = tmp_path / "sweep.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "sweep.py"), "--tiny",
                           "--arms", "oversubscribed", "--trap-limit-s", "1", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=280,
                          env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    arm = json.loads(out.read_text())["arms"]["oversubscribed"]
    assert arm["cut"] and arm["planned_trials"] == 2 and arm["finished_trials"] < 2
    assert (f"* oversubscribed: cut at 1 s (Tune's time budget): {arm['finished_trials']}/2 "
            f"trials finished") in proc.stdout
