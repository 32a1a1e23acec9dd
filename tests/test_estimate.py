"""--dry-run prices a sweep: FLOPs counted on the real model, throughput measured here."""

from __future__ import annotations

import subprocess
import sys

from hinr import preset
from sweeps.estimate import describe, trial_cost

from .sweep_helpers import ROOT


def test_paper_preset_flops_match_the_encoder_arithmetic():
    cost = trial_cost(preset("paper", dataset="mnist"))
    # 8 residual 5x5 convs of 256->256 channels at 28x28 dominate: 2*256*256*25*784 FLOP each,
    # forward; a training step is about 3x the forward pass.
    encoder = 8 * 2 * 256 * 256 * 25 * 784 * 3 / 1e9
    assert encoder < cost.gflop_per_image < 1.1 * encoder
    assert cost.images == 60000 * preset("paper").epochs  # full MNIST, every epoch
    assert trial_cost(preset("paper", encoder_kernel=3)).gflop_per_image < 0.5 * cost.gflop_per_image


def test_gpu_hours_arithmetic():
    from sweeps.estimate import Cost

    text = describe([Cost(50.0, 72000)] * 10, cpu_gflops=100.0, gpus_per_trial=0.5, gpu_tflops=10.0)
    # 10 trials x 72,000 images x 50 GFLOP = 36 PFLOP -> 1 GPU-hour at 10 TFLOP/s, 100 h on CPU
    assert "~1.0 GPU-hours" in text and "~100.0 hours" in text and "2 trials share a GPU" in text


def test_dry_run_prints_the_estimate(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "launch.py"), "run",
                           str(ROOT / "sweeps" / "paper.yaml"), "--dry-run", "--results",
                           str(tmp_path / "r")], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "9 trials" in proc.stdout and "GPU-hours" in proc.stdout
    assert "GFLOP per image" in proc.stdout and not (tmp_path / "r").exists()
