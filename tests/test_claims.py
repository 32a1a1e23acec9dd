"""The paper-claims table on a hand-built results directory with known numbers."""

from __future__ import annotations

import pytest
import yaml

import analysis
from sweeps.schema import EPOCH_CORE, TRIAL_CORE, build_table, write_atomic

SEEDS = [0, 1, 2, 3]
# Per-seed jitter so intervals are finite; chosen so each verdict below is unambiguous.
JITTER = [0.000, 0.004, -0.003, 0.002]


def trial(variant: str, seed: int, **metrics) -> dict:
    row = {"trial_id": f"{variant}-{seed}", "sweep": "claims", "status": "completed",
           "epochs_done": 2, "wall_seconds": 1.0, "retries": 0,
           "config.variant": variant, "config.seed": seed, "config.dataset": "mnist-5k",
           "config.preset": "small"}
    row.update({f"metric.{k}": v for k, v in metrics.items()})
    return row


@pytest.fixture
def claims(tmp_path):
    rows, epochs = [], []
    for i, seed in enumerate(SEEDS):
        j = JITTER[i]
        common = dict(pixel_mlp_acc=0.93 + j, pixel_cnn_acc=0.97 + j, weight_acc=0.90 - j,
                      sr_gain_db=-1.0 + 10 * j, inpaint_gain_db=2.0 + 10 * j,
                      denoise_gain_db=0.05 + 100 * j)
        rows += [trial("plain", seed, latent_acc=0.96 + 2 * j, test_psnr=18.0 + j,
                       proto_ratio=0.8 + j, **common),
                 trial("classifier_loss", seed, latent_acc=0.98 + j, test_psnr=17.5 - j,
                       proto_ratio=0.8, **common),
                 trial("pretrained", seed, latent_acc=0.95, test_psnr=18.0 - j,
                       proto_ratio=1.2 + j, **common)]
        for variant, first in (("plain", 12.0), ("pretrained", 15.0), ("classifier_loss", 12.0)):
            for epoch in (1, 2):
                epochs.append({"trial_id": f"{variant}-{seed}", "sweep": "claims", "epoch": epoch,
                               "wall_seconds": 1.0, "metric.test_psnr": first + epoch + j})
    write_atomic(build_table(rows, TRIAL_CORE), tmp_path / "trials.parquet")
    for tid in {e["trial_id"] for e in epochs}:
        write_atomic(build_table([e for e in epochs if e["trial_id"] == tid], EPOCH_CORE),
                     tmp_path / "epochs" / f"{tid}.parquet")
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(
        {"name": "claims", "base": {"preset": "small"},
         "axes": {"variant": ["plain", "pretrained", "classifier_loss"]}, "seeds": SEEDS}))
    table = analysis.claims_table(analysis.load_results(tmp_path))
    return {r.question: r for r in table.itertuples()}, tmp_path


def test_verdicts(claims):
    rows, _ = claims
    latent_vs_mlp = rows["latent MLP on HyperINR (v) minus pixel MLP"]
    assert latent_vs_mlp.verdict == "supported" and latent_vs_mlp.estimate == pytest.approx(3.0, abs=0.2)
    assert rows["weight CNN on HyperINR (theta*) minus pixel MLP"].verdict == "contradicted"
    assert rows["latent MLP on HyperINR (v) minus pixel CNN"].verdict == "contradicted"
    gain = rows["latent-MLP accuracy: classifier_loss minus plain"]
    assert gain.verdict == "supported" and gain.n == 4
    assert rows["test PSNR: classifier_loss minus plain"].verdict == "supported"  # PSNR cost
    assert rows["test PSNR after epoch 1: pretrained minus plain"].estimate == pytest.approx(3.0)
    proto = rows["prototype ratio d(recon, input) / d(recon, class mean): pretrained minus plain"]
    assert proto.verdict == "supported" and proto.estimate == pytest.approx(0.4, abs=1e-6)
    assert rows["sr PSNR gain over bilinear upsampling (plain)"].verdict == "contradicted"
    assert rows["inpaint PSNR gain over mean fill (plain)"].verdict == "supported"
    # A small mean with a large spread: the interval spans zero.
    assert rows["denoise PSNR gain over the noisy input (plain)"].verdict == "inconclusive"


def test_report_shows_the_claims(claims):
    _, root = claims
    paths = analysis.build_report([root], formats="md")
    text = [p for p in paths if p.suffix == ".md"][0].read_text()
    assert "The paper's claims, measured" in text and "supported" in text


def test_no_variant_axis_no_claims(tmp_path):
    from . import analysis_fixtures as fx

    fx.write_results(tmp_path)
    assert analysis.claims_table(analysis.load_results(tmp_path)).empty
