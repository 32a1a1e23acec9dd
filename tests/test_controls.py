"""Issue 28: does the INR matter?  The control variants (autoencoder, random_encoder) and the
label-efficiency probes, on tiny real trials: what each control trains and reports (and what
it leaves absent), the decoders' parameter counts, class-balanced seeded label subsets, every
(probe, label count) a registered metric with per-image predictions, defaults that change
nothing, and the report's label-efficiency table, figure and paired differences built from a
tiny real run."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import yaml

from contract import metrics
from contract.fields import LABEL_COUNTS
from hinr import ConfigError, TrainingConfig, TrainingRun, preset
from hinr import evaluate
from hinr.evaluate import finish, label_epochs
from hinr.data import LabelCountError, label_subsets
from hinr.models import (ConvAutoencoder, ConvDecoder, EncoderOnly, HyperINR, conv_decoder_params,
                         decoder_width, hyper_params)

VARIANTS = ("plain", "autoencoder", "random_encoder")
SEEDS = (0, 1)
COUNTS = [100, "all"]
#: the probes' step floor in these tests (the real one, 500, is checked by formula below):
#: 20 steps keep the tiny trials in seconds and run every code path
TEST_STEPS = 20


def tiny(**overrides):
    return preset("tiny", device="cpu", **overrides)


# ------------------------------------------------------------------------------------
# Defaults change nothing

def test_default_config_has_no_label_efficiency_probes():
    for name in ("paper", "small", "tiny"):
        assert preset(name).label_counts == ()
    assert TrainingConfig().label_counts == () and TrainingConfig().variant == "plain"
    assert TrainingConfig().flat_dict()["label_counts"] == ""


def test_default_plain_trial_runs_the_code_path_of_before(mnist5k):
    """At default config a HyperINR trial builds the HyperINR, draws no label subset, and
    reports exactly the metrics and per-image outputs it reported before issue 28: none of the
    new names.  (Bit-identity with the code before was checked by running the same tiny
    trials of plain, pretrained and classifier_loss on both commits: every metric, per-image
    output and weight equal; tests/test_training.py's numbers are unchanged.)"""
    exp = TrainingRun(tiny(pixel_baselines=False), data=mnist5k)
    assert type(exp.model) is HyperINR and exp.has_theta and exp.decodes
    assert exp.label_subsets == {}
    exp.train_epoch()
    exp.evaluate()
    final = finish(exp)
    assert not _label_metric_names() & set(final.metrics)
    assert set(final.outputs) == {"label", "psnr", "latent_mlp", "weight_cnn"}


def _label_metric_names() -> set[str]:
    return {metrics.label_metric(p.metric, c) for p in metrics.LABEL_PROBES for c in LABEL_COUNTS
            if c != "all"} | {"linear_acc", "weight_linear_acc", "label_count_all"}


# ------------------------------------------------------------------------------------
# The label_counts field

def test_label_counts_field_is_checked_and_canonical():
    cfg = tiny(label_counts=["all", 100, 1000])
    assert cfg.label_counts == (100, 1000, "all")  # LABEL_COUNTS order: one spelling
    assert cfg.flat_dict()["label_counts"] == "100,1000,all"
    assert TrainingConfig.from_dict(cfg.to_dict()) == cfg
    for bad, message in (([200], "200 is not a label count"), ([100, 100], "appears twice"),
                         ([True], "True is not a label count"), ("100", "expected tuple"),
                         (["100"], "'100' is not a label count")):
        with pytest.raises(ConfigError, match=message):
            tiny(label_counts=bad)


def test_label_counts_are_a_base_setting_not_an_axis():
    from sweeps.spec import SpecError, parse_spec

    doc = {"name": "t", "base": {"preset": "tiny", "label_counts": [100, "all"]},
           "axes": {"variant": list(VARIANTS)}, "seeds": [0], "metric": "val_latent_acc"}
    assert parse_spec(doc, "t.yaml").base_config.label_counts == (100, "all")
    with pytest.raises(SpecError, match="axes.label_counts: unknown or fixed config field"):
        parse_spec({**doc, "axes": {"label_counts": [[100], [300]]}}, "t.yaml")


def test_a_count_larger_than_the_training_split_is_refused_never_clipped(mnist5k):
    """Refused before any work, by the sweep file's check (the split's size is known from the
    dataset) and by the trial (which alone sees the labels: a class too small for its share)."""
    from sweeps.spec import SpecError, parse_spec

    doc = {"name": "t", "base": {"preset": "tiny", "label_counts": [3000]}, "seeds": [0]}
    with pytest.raises(SpecError, match=r"base.label_counts: 3000 labels, but mnist-5k's "
                                        r"training split has about 230 images"):
        parse_spec(doc, "t.yaml")
    with pytest.raises(LabelCountError, match=r"label_counts: 1000 labels, class-balanced, need "
                                              r"100 images of class \d and the training split has "
                                              r"\d+ \(229 images in all\)"):
        TrainingRun(tiny(label_counts=[1000], train_subset=0, pixel_baselines=False,
                        test_subset=64), data=mnist5k.subset(256, 64))


def test_probe_epochs_reach_the_step_floor_with_fewer_labels():
    assert evaluate.LABEL_PROBE_STEPS == 500 and evaluate.PROBE_BATCH == 128
    assert label_epochs(100, 10) == 500  # one batch an epoch
    assert label_epochs(300, 10) == 167 and label_epochs(1000, 10) == 63
    assert label_epochs(3000, 10) == 21  # 24 batches an epoch: 504 steps
    assert label_epochs("all", 10) == 10  # the full-label probe's own budget


# ------------------------------------------------------------------------------------
# Class-balanced, seeded, nested subsets

def test_label_subsets_are_balanced_seeded_and_nested(mnist5k):
    labels = mnist5k.train_y
    subsets = label_subsets(labels, (100, 300, 1000, 3000), seed=7)
    for n, idx in subsets.items():
        assert len(idx) == n == len(set(idx.tolist()))
        assert labels[idx].bincount(minlength=10).tolist() == [n // 10] * 10
    assert set(subsets[100].tolist()) <= set(subsets[300].tolist()) <= set(subsets[1000].tolist())
    again = label_subsets(labels, (100, 300), seed=7)
    assert all(torch.equal(again[n], subsets[n]) for n in again)
    assert not torch.equal(label_subsets(labels, (100,), seed=8)[100], subsets[100])
    odd = label_subsets(labels, (25,), seed=0)[25]  # 25 = 2 each and one more for 5 classes
    assert sorted(labels[odd].bincount(minlength=10).tolist()) == [2] * 5 + [3] * 5


def test_every_variant_of_a_seed_gets_the_same_labels(mnist5k):
    """The subsets depend on the trial seed and the training split only: paired variants."""
    got = {v: TrainingRun(tiny(variant=v, seed=3, label_counts=[100], pixel_baselines=False),
                         data=mnist5k).label_subsets[100] for v in VARIANTS}
    assert torch.equal(got["plain"], got["autoencoder"])
    assert torch.equal(got["plain"], got["random_encoder"])
    other = TrainingRun(tiny(seed=4, label_counts=[100], pixel_baselines=False), data=mnist5k)
    assert not torch.equal(other.label_subsets[100], got["plain"])


# ------------------------------------------------------------------------------------
# The decoders

@pytest.mark.parametrize("name, width, decoder, hyper", [
    ("small", 74, 595_035, 590_785),
    ("paper", 1064, 52_276_449, 52_304_897),
    ("tiny", 4, 7_049, 7_361),
])
def test_conv_decoder_has_the_hyper_networks_parameter_count(name, width, decoder, hyper):
    """The autoencoder's decoder is sized to the hyper-network (the SIREN has no parameters
    of its own: its weights are the hyper-network's output), on MNIST's 1 x 28 x 28."""
    cfg = preset(name)
    assert decoder_width(cfg, 1, (28, 28)) == width
    assert hyper_params(cfg, 1) == hyper
    with torch.device("meta"):
        model = HyperINR(cfg, 1, (28, 28))
        ae = ConvAutoencoder(cfg, 1, (28, 28))
    assert sum(p.numel() for p in model.hyper.parameters()) == hyper
    assert sum(p.numel() for p in ae.decoder.parameters()) == decoder
    assert conv_decoder_params(cfg.latent_dim, 1, (28, 28), width) == decoder
    assert abs(decoder - hyper) / hyper < 0.05
    # the encoders are the same module with the same parameters
    assert [p.shape for p in ae.encoder.parameters()] == \
        [p.shape for p in model.encoder.parameters()]


def test_conv_decoder_shapes_on_other_image_sizes():
    for channels, size in ((3, (32, 32)), (1, (30, 26))):
        dec = ConvDecoder(8, channels, size, decoder_width(tiny(latent_dim=8), channels, size))
        assert dec(torch.randn(5, 8)).shape == (5, channels, *size)
    with pytest.raises(ValueError, match="even integers"):
        ConvDecoder(8, 1, (28, 28), 3)


# ------------------------------------------------------------------------------------
# The control variants train and report, and leave absent what they do not have

def test_the_controls_start_from_the_hyperinrs_encoder(mnist5k):
    """At one seed every variant builds the same encoder weights first: the controls differ
    from the HyperINR in what decodes v (or in training at all), not in where they start."""
    models = {v: TrainingRun(tiny(variant=v, seed=2, pixel_baselines=False),
                            data=mnist5k).model for v in VARIANTS}
    assert isinstance(models["autoencoder"], ConvAutoencoder)
    assert isinstance(models["random_encoder"], EncoderOnly)
    ref = models["plain"].encoder.state_dict()
    for v in ("autoencoder", "random_encoder"):
        got = models[v].encoder.state_dict()
        assert all(torch.equal(ref[k], got[k]) for k in ref), v


def test_autoencoder_trains_encoder_and_decoder_without_theta(mnist5k):
    exp = TrainingRun(tiny(variant="autoencoder", pixel_baselines=False), data=mnist5k)
    before = {k: v.clone() for k, v in exp.model.state_dict().items()}
    first = exp.train_epoch()
    second = exp.train_epoch()
    assert second["train_mse"] < first["train_mse"]
    changed = {k for k, v in exp.model.state_dict().items() if not torch.equal(before[k], v)}
    assert any(k.startswith("encoder.") for k in changed)
    assert any(k.startswith("decoder.") for k in changed)
    # MSE + a1 * mean(v^2): no theta prior, a2 weighs nothing
    assert "train_theta_prior" not in second
    assert second["train_loss"] == pytest.approx(
        second["train_mse"] + exp.cfg.a1 * second["train_latent_prior"], rel=1e-5)
    val = exp.evaluate()
    assert {"val_psnr", "val_mse", "val_loss", "val_latent_prior"} <= set(val)
    assert "val_theta_prior" not in val


def test_random_encoder_never_trains(mnist5k, tmp_path):
    from sweeps.checkpoint import load_checkpoint, save_checkpoint

    exp = TrainingRun(tiny(variant="random_encoder", epochs=2, pixel_baselines=False),
                     data=mnist5k)
    assert exp.optimizer is None and not any(p.requires_grad for p in exp.model.parameters())
    before = {k: v.clone() for k, v in exp.model.state_dict().items()}
    assert exp.train_epoch() == {"epoch": 1.0, "step": 0.0}
    assert exp.evaluate() == {}
    assert all(torch.equal(before[k], v) for k, v in exp.model.state_dict().items())
    save_checkpoint(exp, str(tmp_path / "state.pt"))  # checkpoints work without an optimiser
    again = TrainingRun(tiny(variant="random_encoder", epochs=2, pixel_baselines=False),
                       data=mnist5k)
    load_checkpoint(again, str(tmp_path / "state.pt"))
    assert again.epoch == 1


@pytest.fixture(scope="module")
def control_runs(tmp_path_factory, mnist5k):
    """Tiny real trials, each variant x seeds 0 and 1, with label counts 100 and all, run
    by ``sweeps.trial.run_trial`` (the code a Ray trial runs), predictions written where the
    contract puts them; then the results directory a sweep would hold, its trials.parquet
    built through the contract from the trials' own reports."""
    from sweeps.results import metric_items
    from contract.schema import (EPOCH_CORE, TRIAL_CORE, build_table, contract_metadata,
                                 predictions_path, write_atomic)
    from sweeps.trial import run_trial

    root = tmp_path_factory.mktemp("controls") / "results"
    doc = _spec_doc()
    out, rows = {}, []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(evaluate, "LABEL_PROBE_STEPS", TEST_STEPS)
        for variant in VARIANTS:
            for seed in SEEDS:
                cfg = tiny(variant=variant, seed=seed, label_counts=COUNTS, test_subset=64,
                           probe_epochs=1)
                tid = f"{variant}_s{seed}"
                reports = []
                run_trial(cfg, mnist5k, None, lambda result, exp: reports.append(result),
                          lambda exp: None, objectives={},
                          predictions_file=predictions_path(root, tid))
                out[tid] = (cfg, reports[-1], _outputs(predictions_path(root, tid)))
                row = {"trial_id": tid, "sweep": doc["name"], "status": "completed",
                       "epochs_done": cfg.epochs, "wall_seconds": 1.0, "node": "n",
                       "device": "cpu", "error": None, "retries": 0, "diverged_epoch": None,
                       "diverged_step": None,
                       **{f"config.{k}": v for k, v in cfg.flat_dict().items()},
                       "config.preset": "tiny", **metric_items(reports[-1])}
                rows.append(row)
                write_atomic(build_table([{"trial_id": tid, "sweep": doc["name"], "epoch": 1,
                                           "wall_seconds": 1.0, **metric_items(reports[-1])}],
                                         EPOCH_CORE), root / "epochs" / f"{tid}.parquet")
    write_atomic(build_table(rows, TRIAL_CORE, contract_metadata(doc)), root / "trials.parquet")
    (root / "sweep.yaml").write_text(yaml.safe_dump(doc))
    return root, out


def _outputs(path: Path) -> dict[str, torch.Tensor]:
    """A trial's per-image test outputs as it wrote them (its predictions file), by the
    names of ``hinr.evaluate.Evaluation.outputs``."""
    import pyarrow.parquet as pq

    from contract.schema import prediction_column

    table = pq.read_table(path).to_pandas()
    names = {prediction_column(p): p for p in metrics.PROBES}
    return {names.get(col, col): torch.tensor(table[col].to_numpy())
            for col in table.columns if col in names or col in ("label", "psnr")}


def _spec_doc() -> dict:
    return {"name": "controls-tiny",
            "base": {"preset": "tiny", "dataset": "mnist-5k", "label_counts": COUNTS},
            "axes": {"variant": list(VARIANTS)}, "seeds": list(SEEDS), "search": "grid",
            "metric": "val_latent_acc", "mode": "max",
            "equivalence": {"mlp_vs_ae_n100": {
                "metric": "latent_acc_n100", "where": {"variant": "plain"},
                "versus": {"variant": "autoencoder"}, "margin": 0.02,
                "source": "test", "stated": "2026-12-05"}}}


def test_each_variant_reports_what_it_has_and_nothing_it_has_not(control_runs):
    _, out = control_runs
    recon = {"test_psnr", "val_psnr", "test_mse", "sr_psnr", "inpaint_psnr", "denoise_psnr",
             "proto_ratio", "train_loss"}
    theta = {"weight_acc", "val_weight_acc", "train_theta_prior", "test_theta_prior",
             "weight_probe_standardization", "weight_linear_acc", "weight_acc_n100",
             "weight_linear_acc_n100"}
    latent = {"latent_acc", "val_latent_acc", "linear_acc", "linear_acc_n100",
              "latent_acc_n100", "pixel_mlp_acc_n100", "pixel_cnn_acc_n100", "label_count_all"}
    for seed in SEEDS:
        plain = out[f"plain_s{seed}"][1]
        ae = out[f"autoencoder_s{seed}"][1]
        rnd = out[f"random_encoder_s{seed}"][1]
        assert recon | theta | latent <= set(plain)
        assert recon | latent <= set(ae) and not theta & set(ae)
        assert latent <= set(rnd) and not (recon | theta) & set(rnd)
        for result in (plain, ae, rnd):
            assert result["label_count_all"] == 229.0
            for key, value in result.items():
                if key in metrics.REGISTRY and key.endswith("_acc"):
                    assert 0.0 <= value <= 1.0 and math.isfinite(value), key
        # what a variant reports is what the registry says it may
        for variant, result in (("autoencoder", ae), ("random_encoder", rnd)):
            for key in result:
                info = metrics.get(key)
                assert info is None or not info.variants or variant in info.variants, key


def test_every_label_probe_is_a_registered_metric_with_per_image_predictions(control_runs):
    """Each (probe, label count) a trial ran: a metric of the registry, and a pred.<probe>
    column of its predictions file whose share of correct images is exactly that metric."""
    import pyarrow.parquet as pq

    from contract.schema import predictions_path, prediction_column

    root, out = control_runs
    for tid, (cfg, result, outputs) in out.items():
        table = pq.read_table(predictions_path(root, tid)).to_pandas()
        expected = {metrics.label_probe(p.probe, c) for p in metrics.LABEL_PROBES for c in COUNTS
                    if not p.variants or cfg.variant in p.variants}
        assert expected <= set(outputs)
        assert set(outputs) - {"label", "psnr"} <= set(metrics.PROBES)
        for probe in expected:
            metric = metrics.PROBES[probe]
            assert metric in metrics.REGISTRY and metric in result, (tid, probe)
            col = table[prediction_column(probe)]
            assert (col == table["label"]).mean() == pytest.approx(result[metric]), (tid, probe)
        assert table["psnr"].isna().all() == (cfg.variant == "random_encoder")


def test_pixel_probes_on_fewer_labels_are_shared_by_the_variants_of_a_seed(control_runs):
    _, out = control_runs
    for seed in SEEDS:
        got = [out[f"{v}_s{seed}"] for v in VARIANTS]
        for metric in ("pixel_mlp_acc_n100", "pixel_cnn_acc_n100"):
            assert len({r[metric] for _, r, _ in got}) == 1, metric
        preds = [outputs["pixel_cnn_n100"] for _, _, outputs in got]
        assert all(torch.equal(preds[0], p) for p in preds[1:])


# ------------------------------------------------------------------------------------
# The report

def test_report_shows_label_efficiency_table_figure_and_paired_differences(control_runs,
                                                                         tmp_path):
    import analysis
    from analysis.labels import PIXELS, label_differences, label_table

    root, _ = control_runs
    res = analysis.load_results(root)
    assert res.problems == []
    table = label_table(res)
    # 2 probes on v per variant, 2 more on theta* for plain, 2 on pixels, at 2 counts each
    assert len(table) == 2 * (3 * 2 + 2 + 2)
    assert set(table["variant"]) == set(VARIANTS) | {PIXELS}
    assert set(table["labels"]) == {"100", "all (229)"}
    assert (table["n"] == 2).all() and (table["interval"] == "seeds and test images").all()
    assert ((table["ci_low"] <= table["mean"]) & (table["mean"] <= table["ci_high"])).all()
    diffs = label_differences(res)
    # plain minus each control, on the linear probe and the latent MLP, at each count
    assert len(diffs) == 2 * 2 * 2
    assert set(zip(diffs["variant"], diffs["control"])) == {("plain", "autoencoder"),
                                                            ("plain", "random_encoder")}
    assert (diffs["test"] == "paired t").all() and (diffs["n_pairs"] == 2).all()

    files = analysis.build_report([root], out=tmp_path / "report")
    md = (tmp_path / "report" / "report.md").read_text()
    assert "### Label efficiency: accuracy against training labels" in md
    assert "### Label efficiency: HyperINR minus each control" in md
    assert "plain minus autoencoder" in md and "plain minus random_encoder" in md
    assert any(p.name.endswith("label-efficiency.png") for p in files)
    assert "label-efficiency.png" in md
    # the differences are in the report's one testing family, with the pre-stated margin's
    assert "label-efficiency differences, HyperINR minus a control: 8" in md
    assert "mlp_vs_ae_n100" in md
    html = (tmp_path / "report" / "index.html").read_text()
    assert "Label efficiency" in html and "data:image/png;base64," in html


def test_a_report_without_label_counts_has_no_label_section(tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import analysis_fixtures as fx

    import analysis
    from analysis.labels import label_differences, label_table

    root = fx.write_results(tmp_path / "old")  # an older sweep: no label_counts column
    res = analysis.load_results(root)
    assert label_table(res).empty and label_differences(res).empty
    analysis.build_report([root], out=tmp_path / "report", formats="md")
    assert "Label efficiency" not in (tmp_path / "report" / "report.md").read_text()
