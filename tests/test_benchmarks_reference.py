"""The benchmark's plain reference and hinr's HyperINR compute the same loss and gradients.

Guards both: a change to hinr's model or loss that alters the math (or a reference that drifts
from it) fails here, and ``benchmarks/step.py`` can trust its loss-equality check.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.reference import (ReferenceHyperINR, matching_grads,  # noqa: E402
                                  reference_loss)
from hinr.config import preset  # noqa: E402
from hinr.data import grid  # noqa: E402
from hinr.losses import hyperinr_loss  # noqa: E402
from hinr.models import HyperINR  # noqa: E402


@pytest.mark.parametrize("channels,size,kernel,hyper_layers", [(1, (12, 12), 3, 1),
                                                              (3, (8, 10), 5, 1),
                                                              (1, (8, 8), 3, 2)])
def test_reference_matches_hinr_loss_and_grads(channels, size, kernel, hyper_layers):
    torch.manual_seed(0)
    cfg = preset("tiny", encoder_kernel=kernel, batch_size=4, hyper_layers=hyper_layers)
    model = HyperINR(cfg, channels, size).double()
    ref = ReferenceHyperINR.like(model).double()
    images = torch.rand(4, channels, *size, dtype=torch.float64) * 2 - 1
    coords = grid(*size).double()

    recon, v, theta = model(images, coords)
    terms = hyperinr_loss(recon, images, v, theta, cfg.a1, cfg.a2)
    terms["loss"].backward()
    ref_terms = reference_loss(ref, images, coords, cfg.a1, cfg.a2)
    ref_terms["loss"].backward()

    for key in ("mse", "latent_prior", "theta_prior", "loss"):
        torch.testing.assert_close(ref_terms[key], terms[key], rtol=1e-10, atol=1e-12, msg=key)
    pairs = matching_grads(ref, model)
    assert len(pairs) == len(list(model.parameters()))
    for name, g_ref, g_hinr in pairs:
        assert g_ref is not None and g_hinr is not None, name
        torch.testing.assert_close(g_ref, g_hinr, rtol=1e-8, atol=1e-12, msg=name)


def test_reference_float32_same_loss_on_same_batch():
    """What step.py checks: float32, the default dtype, on one batch."""
    torch.manual_seed(1)
    cfg = preset("tiny")
    model = HyperINR(cfg, 1, (28, 28))
    ref = ReferenceHyperINR.like(model)
    images = torch.rand(8, 1, 28, 28) * 2 - 1
    coords = grid(28, 28)
    recon, v, theta = model(images, coords)
    loss = hyperinr_loss(recon, images, v, theta, cfg.a1, cfg.a2)["loss"]
    torch.testing.assert_close(reference_loss(ref, images, coords, cfg.a1, cfg.a2)["loss"], loss,
                               rtol=1e-5, atol=1e-6)


def test_reference_differs_when_weights_differ():
    """The check has teeth: a perturbed weight changes the reference's loss."""
    torch.manual_seed(2)
    cfg = preset("tiny")
    model = HyperINR(cfg, 1, (12, 12)).double()
    ref = ReferenceHyperINR.like(model).double()
    images = torch.rand(2, 1, 12, 12, dtype=torch.float64) * 2 - 1
    coords = grid(12, 12).double()
    before = reference_loss(ref, images, coords, cfg.a1, cfg.a2)["loss"].item()
    with torch.no_grad():
        ref.weight_heads[1][2].bias.add_(0.01)
    after = reference_loss(ref, images, coords, cfg.a1, cfg.a2)["loss"].item()
    assert abs(after - before) > 1e-6


def test_candidate_variants_match_hinr():
    """The prototypes timed by step.py (benchmarks/candidates.py) compute hinr's function."""
    from benchmarks.candidates import build_variant

    torch.manual_seed(3)
    cfg = preset("tiny", batch_size=4)
    model = HyperINR(cfg, 1, (12, 12)).double()
    images = torch.rand(4, 1, 12, 12, dtype=torch.float64) * 2 - 1
    coords = grid(12, 12).double()
    recon, v, theta = model(images, coords)
    loss = hyperinr_loss(recon, images, v, theta, cfg.a1, cfg.a2)["loss"]
    for options in ({"channels_last": False}, {"batched_heads": True},
                    {"channels_last": False, "batched_heads": True}):
        variant = build_variant(model, **options)
        r2, v2, theta2 = variant(images, coords)
        torch.testing.assert_close(v2, v, msg=str(options))
        for (w, b), (w2, b2) in zip(theta, theta2):
            torch.testing.assert_close(w2, w, msg=str(options))
            torch.testing.assert_close(b2, b, msg=str(options))
        torch.testing.assert_close(hyperinr_loss(r2, images, v2, theta2, cfg.a1, cfg.a2)["loss"],
                                   loss, msg=str(options))
    assert not build_variant(model, channels_last=False).encoder.features[2].weight \
        .is_contiguous(memory_format=torch.channels_last)


@pytest.mark.timeout(240)
def test_step_benchmark_runs_end_to_end(tmp_path):
    """``benchmarks/step.py`` on the tiny preset: every row timed, loss-checked, tabled."""
    out = tmp_path / "step.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "step.py"), "--presets",
                           "tiny", "--steps", "2", "--budget-s", "10", "--compile", "none",
                           "--peak-reps", "1", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=220)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    assert "%conv pk" in proc.stdout and "loss check ok for every row" in proc.stdout
    result = json.loads(out.read_text())
    rows = {r["row"]: r for r in result["presets"][0]["rows"]}
    assert {"reference", "hinr", "-channels_last", "-fused_adam", "+batched_heads"} <= set(rows)
    assert all(r["check_ok"] and r["images_per_s"] > 0 and r["steps_timed"] >= 2
               for r in rows.values())
    assert rows["hinr"]["gflop_per_image"] == pytest.approx(
        result["presets"][0]["flops_per_image"]["hinr"] / 1e9)
    assert result["peaks_gflop_s"]["float32"]["conv"] > 0
    assert "channels_last (in hinr)" in " ".join(result["note"])
