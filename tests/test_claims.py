"""The paper-claims table on a hand-built results directory with known numbers."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from scipy import stats

import analysis
from contract.schema import EPOCH_CORE, TRIAL_CORE, build_table, write_atomic

SEEDS = [0, 1, 2, 3]
# Per-seed jitter so intervals are finite; chosen so each verdict below is unambiguous.
JITTER = [0.000, 0.004, -0.003, 0.002]
# classifier_loss minus plain in latent accuracy, per seed (fractions: 0.6, 1.0, 0.2, 0.7 pp):
# a one-sample t-test gives p ~ 0.03, significant alone, not after Holm over ~20 rows
CLS_LATENT_GAIN = [0.006, 0.010, 0.002, 0.007]


def trial(variant: str, seed: int, **metrics) -> dict:
    row = {"trial_id": f"{variant}-{seed}", "sweep": "claims", "status": "completed",
           "epochs_done": 2, "wall_seconds": 1.0, "retries": 0,
           "config.variant": variant, "config.seed": seed, "config.dataset": "mnist-5k",
           "config.preset": "small"}
    row.update({f"metric.{k}": v for k, v in metrics.items()})
    return row


def write_claims(root, epoch_metric: str = "val_psnr", cls_weight: float | None = None):
    """Results of a variant sweep; per-epoch PSNR in ``epoch_metric`` (val_psnr now, test_psnr
    in results from before the validation split)."""
    rows, epochs = [], []
    for i, seed in enumerate(SEEDS):
        j = JITTER[i]
        common = dict(pixel_mlp_acc=0.93 + j, pixel_cnn_acc=0.97 + j, weight_acc=0.90 - j,
                      sr_gain_db=-1.0 + 10 * j, inpaint_gain_db=2.0 + 10 * j,
                      denoise_gain_db=0.05 + 100 * j, sr_vs_bicubic_db=-2.0 + 10 * j,
                      inpaint_vs_biharmonic_db=-1.5 + 10 * j, denoise_vs_tv_db=1.0 + 10 * j)
        plain_latent = 0.96 + 2 * j
        rows += [trial("plain", seed, latent_acc=plain_latent, test_psnr=18.0 + j,
                       proto_ratio=0.8 + j, **common),
                 trial("classifier_loss", seed, latent_acc=plain_latent + CLS_LATENT_GAIN[i],
                       test_psnr=18.5 - j, proto_ratio=0.8, **common),
                 trial("pretrained", seed, latent_acc=0.95, test_psnr=18.0 - j,
                       proto_ratio=1.2 + j, **common)]
        for variant, first in (("plain", 12.0), ("pretrained", 15.0), ("classifier_loss", 14.0)):
            for epoch in (1, 2):
                epochs.append({"trial_id": f"{variant}-{seed}", "sweep": "claims", "epoch": epoch,
                               # each variant its own seed noise: differences have spread
                               "wall_seconds": 1.0, f"metric.{epoch_metric}":
                                   first + epoch + j * (2 if variant == "classifier_loss" else 1)})
    if cls_weight is not None:
        for row in rows:
            row["config.cls_weight"] = cls_weight
    write_atomic(build_table(rows, TRIAL_CORE), root / "trials.parquet")
    for tid in {e["trial_id"] for e in epochs}:
        write_atomic(build_table([e for e in epochs if e["trial_id"] == tid], EPOCH_CORE),
                     root / "epochs" / f"{tid}.parquet")
    (root / "sweep.yaml").write_text(yaml.safe_dump(
        {"name": "claims", "base": {"preset": "small"},
         "axes": {"variant": ["plain", "pretrained", "classifier_loss"]}, "seeds": SEEDS}))
    return root


@pytest.fixture
def claims(tmp_path):
    table = analysis.claims_table(analysis.load_results(write_claims(tmp_path)))
    return {r.question: r for r in table.itertuples()}, tmp_path


def test_verdicts(claims):
    rows, _ = claims
    latent_vs_mlp = rows["latent MLP on HyperINR (v) minus pixel MLP"]
    assert latent_vs_mlp.verdict == "supported" and latent_vs_mlp.estimate == pytest.approx(3.0, abs=0.2)
    assert rows["weight CNN on HyperINR (theta*) minus pixel MLP"].verdict == "contradicted"
    assert rows["val_psnr after epoch 1: pretrained minus plain"].estimate == pytest.approx(3.0)
    proto = rows["prototype ratio d(recon, input) / d(recon, class mean): pretrained minus plain"]
    assert proto.verdict == "supported" and proto.estimate == pytest.approx(0.4, abs=1e-6)
    assert rows["sr PSNR gain over bilinear upsampling (plain)"].verdict == "contradicted"
    assert rows["inpaint PSNR gain over mean fill (plain)"].verdict == "supported"
    # A small mean with a large spread: the interval spans zero.
    assert rows["denoise PSNR gain over the noisy input (clipped) (plain)"].verdict == "inconclusive"
    # The strong (library) baselines have rows of their own, named.
    assert rows["sr PSNR gain over bicubic upsampling (plain)"].verdict == "contradicted"
    assert rows["inpaint PSNR gain over biharmonic inpainting (scikit-image) (plain)"
                ].verdict == "contradicted"
    assert rows["denoise PSNR gain over TV denoising (scikit-image) (plain)"].verdict == "supported"


def test_classifier_loss_psnr_is_predicted_positive(claims):
    """Sec. 5: the classifier loss gives clearer reconstructions earlier; so the PSNR rows
    (validation per epoch, test at the end) predict classifier_loss above plain."""
    rows, _ = claims
    for q in ("val_psnr after epoch 1: classifier_loss minus plain",
              "val_psnr after epoch 2: classifier_loss minus plain",
              "test PSNR at the end: classifier_loss minus plain"):
        assert rows[q].predicted == +1 and rows[q].estimate > 0 and rows[q].verdict == "supported"
        assert rows[q].source.startswith(("sec. 5", "conclusion"))
    assert rows["val_psnr after epoch 1: classifier_loss minus plain"].estimate == pytest.approx(
        2.0 + np.mean(JITTER))
    # sec. 5 also says the classifier loss resolves the pretrained variant's prototypes
    proto = rows["prototype ratio d(recon, input) / d(recon, class mean): classifier_loss minus "
                 "pretrained"]
    assert proto.predicted == -1 and proto.estimate == pytest.approx(-0.4, abs=0.01)
    assert proto.verdict == "supported"


def test_prototype_rows_use_the_blur_free_measures_when_measured(tmp_path):
    """proto_ratio rises with any blur; where the excess over a PSNR-matched blur and own-image
    retrieval were measured, the prototype claims rest on them, not on the raw ratio."""
    root = write_claims(tmp_path)
    table = pq.read_table(root / "trials.parquet").to_pylist()
    for row in table:
        j = JITTER[SEEDS.index(row["config.seed"])]
        collapse = {"plain": 0.0, "classifier_loss": 0.02, "pretrained": 0.3}[row["config.variant"]]
        row["metric.proto_ratio_excess"] = collapse + j
        row["metric.proto_retrieval_acc"] = 0.9 - collapse + j
    write_atomic(build_table(table, TRIAL_CORE), root / "trials.parquet")
    rows = {r.question: r for r in analysis.claims_table(analysis.load_results(root)).itertuples()}
    assert not any(q.startswith("prototype ratio d(recon") for q in rows)
    excess = next(r for q, r in rows.items()
                  if q.startswith("prototype ratio in excess") and q.endswith("pretrained minus plain"))
    assert excess.predicted == +1 and excess.estimate == pytest.approx(0.3, abs=1e-6)
    retrieval = next(r for q, r in rows.items()
                     if q.startswith("own-image retrieval") and q.endswith("pretrained minus plain"))
    assert retrieval.predicted == -1 and retrieval.estimate == pytest.approx(-0.3, abs=1e-6)
    resolves = next(r for q, r in rows.items()
                    if q.startswith("prototype ratio in excess") and q.endswith("minus pretrained"))
    assert resolves.predicted == -1 and resolves.estimate == pytest.approx(-0.28, abs=1e-6)


def test_every_row_quotes_the_paper_or_says_it_is_our_test(claims):
    rows, _ = claims
    for r in rows.values():
        assert r.source.startswith(("sec. ", "conclusion")) and '"' in r.source \
            or r.source.startswith("this project's test"), r.source
    assert rows["inpaint PSNR gain over mean fill (plain)"].source.startswith("this project's test")


def test_holm_turns_a_lone_p_003_into_inconclusive(claims):
    """Alone p ~ 0.03 and an interval above zero ('supported' uncorrected); Holm over every
    claim row lifts it over 0.05, so the verdict is inconclusive."""
    rows, _ = claims
    row = rows["latent-MLP accuracy: classifier_loss minus plain"]
    p = stats.ttest_1samp([100 * g for g in CLS_LATENT_GAIN], 0.0).pvalue
    assert row.p == pytest.approx(p) and 0.01 < row.p < 0.05 and row.ci_low > 0
    assert len(rows) > 15 and row.p_holm >= 0.05 and row.verdict == "inconclusive"


def test_early_rows_fall_back_to_per_epoch_test_psnr(tmp_path):
    """Results from before the validation split scored test every epoch: those rows read it."""
    table = analysis.claims_table(analysis.load_results(write_claims(tmp_path, "test_psnr")))
    row = table.set_index("question").loc["test_psnr after epoch 1: pretrained minus plain"]
    assert row.estimate == pytest.approx(3.0) and "test (no validation split" in row.detail


def test_report_shows_the_claims(claims):
    _, root = claims
    paths = analysis.build_report([root], formats="md")
    text = [p for p in paths if p.suffix == ".md"][0].read_text()
    assert "The paper's claims, measured" in text and "p (Holm)" in text
    line = next(ln for ln in text.splitlines() if "latent-MLP accuracy: classifier_loss" in ln)
    assert "| inconclusive |" in line  # not bold: it does not survive Holm
    line = next(ln for ln in text.splitlines() if "minus pixel MLP" in ln and "latent MLP" in ln)
    assert "**supported**" in line


def test_no_variant_axis_no_claims(tmp_path):
    from . import analysis_fixtures as fx

    fx.write_results(tmp_path)
    assert analysis.claims_table(analysis.load_results(tmp_path)).empty


def test_classifier_loss_rows_leave_out_cls_weight_0(tmp_path):
    """A classifier_loss trial with cls_weight 0 never trained with that loss: its rows are
    built from the trials that did (here none, so the rows are absent)."""
    table = analysis.claims_table(analysis.load_results(write_claims(tmp_path, cls_weight=0.0)))
    assert not table["question"].str.contains("classifier_loss minus plain").any()
    assert table["question"].str.contains("pretrained minus plain").any()
