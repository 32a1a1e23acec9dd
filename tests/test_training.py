"""TrainingRun and the end-of-trial evaluation (hinr.evaluate.finish): learning, exact resume,
divergence, downstream results, import hygiene."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hinr import Diverged, TrainingRun, preset
from hinr.evaluate import finish
from sweeps.cache import evaluation_cache
from sweeps.checkpoint import load_checkpoint, save_checkpoint

VARIANTS = ["plain", "classifier_loss", "pretrained"]
OPS_KEYS = ["sr_psnr", "sr_bilinear_psnr", "sr_bicubic_psnr", "inpaint_psnr",
            "inpaint_meanfill_psnr", "inpaint_biharmonic_psnr", "denoise_psnr",
            "denoise_noisy_psnr", "denoise_noisy_unclipped_psnr", "denoise_tv_psnr",
            "sr_gain_db", "inpaint_gain_db", "denoise_gain_db", "sr_vs_bicubic_db",
            "inpaint_vs_biharmonic_db", "denoise_vs_tv_db"]
REPO = Path(__file__).resolve().parent.parent


def tiny(**overrides):
    return preset("tiny", device="cpu", **overrides)


def _finish(run):
    """finish() as a trial calls it: the pixel baselines shared through the data root's cache."""
    return finish(run, cache=evaluation_cache(run.cfg))


def test_tiny_run_improves_val_psnr():
    exp = TrainingRun(tiny())
    # 256 training images: 27 held out for validation (10%, stratified), 229 trained on
    assert (len(exp.train_x), len(exp.val_x), len(exp.test_x)) == (229, 27, 128)
    first = exp.train_epoch()
    psnr1 = exp.evaluate()["val_psnr"]
    last = exp.train_epoch()
    psnr2 = exp.evaluate()["val_psnr"]
    assert first["epoch"] == 1.0 and last["epoch"] == 2.0
    assert last["step"] == 2 * math.ceil(229 / 32)
    assert last["train_mse"] < first["train_mse"]
    assert psnr2 > psnr1 + 0.3, (psnr1, psnr2)  # measured: 10.4 -> 11.6 dB


def _metrics(train: dict, test: dict) -> dict:
    """The numbers that must match between straight and resumed runs (not the timings)."""
    keys = [k for k in train if k.startswith("train_") and "seconds" not in k
            and "per_s" not in k]
    out = {k: train[k] for k in keys}
    out.update({k: v for k, v in test.items() if k.startswith("val_")})
    out["epoch"], out["step"] = train["epoch"], train["step"]
    return out


@pytest.mark.parametrize("variant,encoder", [("plain", "finetune"),
                                             ("classifier_loss", "finetune"),
                                             ("pretrained", "finetune"), ("pretrained", "frozen")])
def test_save_load_continue_matches_straight_run(variant, encoder, tmp_path, mnist5k):
    cfg = tiny(variant=variant, seed=3, pretrained_encoder=encoder)

    straight = TrainingRun(cfg)
    first = _metrics(straight.train_epoch(), straight.evaluate())
    second = _metrics(straight.train_epoch(), straight.evaluate())

    part = TrainingRun(cfg)
    part_first = _metrics(part.train_epoch(), part.evaluate())
    assert part_first == first  # the same seed gives the same first epoch
    ckpt = tmp_path / "ckpt.pt"
    save_checkpoint(part, str(ckpt))
    del part

    resumed = TrainingRun(cfg, data=mnist5k)
    load_checkpoint(resumed, str(ckpt))
    assert (resumed.epoch, resumed.step) == (1, 8)
    resumed_second = _metrics(resumed.train_epoch(), resumed.evaluate())

    assert resumed_second.keys() == second.keys()
    assert resumed_second == pytest.approx(second, rel=1e-6, abs=1e-9)
    assert resumed.extra == pytest.approx(straight.extra)
    if variant == "plain":  # downstream results too (their probes draw from torch's global RNG)
        assert _finish(resumed).metrics == pytest.approx(_finish(straight).metrics, rel=1e-6,
                                                          abs=1e-9)
    if variant == "pretrained":
        assert "pretrain_mlp_acc" in resumed.extra
        # the pre-trained MLP's per-image predictions travel in the checkpoint with its accuracy
        assert torch.equal(resumed.extra_predictions["pretrain_mlp"],
                           straight.extra_predictions["pretrain_mlp"])
    if variant == "classifier_loss":
        assert "train_cls_ce" in second and "val_joint_acc" in second

    # the comparison is not vacuous: epoch 2 differs from epoch 1 ...
    assert second["train_loss"] != pytest.approx(first["train_loss"], rel=1e-3)
    # ... and restoring everything but the optimiser's moments gives a different epoch 2
    partial = TrainingRun(cfg, data=mnist5k)
    state = torch.load(str(ckpt), weights_only=True)
    partial.load_state_dict({**state, "optimizer": partial.optimizer.state_dict()})
    partial_second = _metrics(partial.train_epoch(), partial.evaluate())
    assert partial_second["train_loss"] != pytest.approx(second["train_loss"], rel=1e-5)


def test_state_dict_restores_shuffle_order():
    """Without the shuffle RNG in the checkpoint the second epoch would repeat the first order."""
    cfg = tiny(seed=5)
    a = TrainingRun(cfg)
    a.train_epoch()
    state = a.state_dict()
    expected = torch.randperm(256, generator=a.shuffle)
    b = TrainingRun(cfg)
    b.load_state_dict(state)
    assert torch.equal(torch.randperm(256, generator=b.shuffle), expected)
    assert not torch.equal(expected, torch.randperm(256, generator=torch.Generator().manual_seed(5)))


@pytest.mark.parametrize("encoder", ["finetune", "frozen"])
def test_pretrained_encoder_finetuned_or_frozen_after_pretraining(encoder, mnist5k):
    exp = TrainingRun(tiny(variant="pretrained", pretrain_epochs=5, pretrained_encoder=encoder),
                     data=mnist5k)  # 10 pretraining steps of 128
    assert exp.pixel_mlp is not None and not exp.pretrained
    optimised = {id(p) for group in exp.optimizer.param_groups for p in group["params"]}
    encoder_params = list(exp.model.encoder.parameters())
    assert encoder_params and all(p is q for p, q in zip(encoder_params,
                                                         exp.pixel_mlp.hidden.parameters()))
    exp.train_epoch()
    assert exp.pretrained and 0.0 <= exp.extra["pretrain_mlp_acc"] <= 1.0
    finetune = encoder == "finetune"
    # finetune: the encoder (the pre-trained hidden layer) trains with the hyper-network
    assert all(p.requires_grad == finetune for p in encoder_params)
    assert all((id(p) in optimised) == finetune for p in encoder_params)
    assert not any(p.requires_grad for p in exp.pixel_mlp.head.parameters())
    before = [p.detach().clone() for p in encoder_params]
    hyper_before = [p.detach().clone() for p in exp.model.hyper.parameters()]
    exp.train_epoch()
    changed = [not torch.equal(b, p) for b, p in zip(before, encoder_params)]
    assert all(changed) if finetune else not any(changed)
    assert any(not torch.equal(b, p) for b, p in zip(hyper_before, exp.model.hyper.parameters()))
    # the pixel MLP really was trained as a classifier: better than chance on 10 classes
    assert exp.extra["pretrain_mlp_acc"] > 0.2


def test_a1_acts_on_a_finetuned_pretrained_encoder_only(mnist5k):
    """Frozen, v gets no gradient, so the latent prior a1 only shifts the loss: training is the
    same whatever a1.  Fine-tuned (the paper), a1 changes what is learnt."""
    mse = {}
    for encoder in ("finetune", "frozen"):
        for a1 in (0.0, 10.0):
            exp = TrainingRun(tiny(variant="pretrained", pretrained_encoder=encoder, a1=a1,
                                  pixel_baselines=False), data=mnist5k)
            exp.train_epoch()
            mse[encoder, a1] = exp.train_epoch()["train_mse"]
    assert mse["frozen", 0.0] == mse["frozen", 10.0]
    assert mse["finetune", 0.0] != pytest.approx(mse["finetune", 10.0], rel=1e-4)


def test_diverged_on_nan_carries_epoch_and_step():
    exp = TrainingRun(tiny())
    exp.train_epoch()  # 8 steps of up to 32 (229 images)
    with torch.no_grad():
        exp.model.hyper.heads[0][0].weight.fill_(float("nan"))
    with pytest.raises(Diverged) as err:
        exp.train_epoch()
    assert err.value.epoch == 2
    assert err.value.step == 8
    assert math.isnan(err.value.loss)
    assert "epoch 2" in str(err.value) and "step 8" in str(err.value)
    assert isinstance(err.value, RuntimeError)


def test_diverged_on_inf_in_first_epoch():
    exp = TrainingRun(tiny())
    with torch.no_grad():
        exp.model.hyper.heads[1][-1].bias.fill_(float("inf"))
    with pytest.raises(Diverged) as err:
        exp.train_epoch()
    assert (err.value.epoch, err.value.step) == (1, 0)
    assert not math.isfinite(err.value.loss)


@pytest.fixture(scope="module")
def finished(mnist5k):
    """One epoch and finish() per variant, shared by the result tests below: (the run, its
    validation metrics, finish's Evaluation)."""
    out = {}
    for variant in VARIANTS:
        exp = TrainingRun(tiny(variant=variant), data=mnist5k)
        exp.train_epoch()
        evaluation = exp.evaluate()
        out[variant] = (exp, evaluation, _finish(exp))
    return out


@pytest.mark.parametrize("variant", VARIANTS)
def test_finish_returns_finite_downstream_metrics(finished, variant):
    _, evaluation, final = finished[variant]
    results = final.metrics
    expected = {"latent_acc", "weight_acc", "val_latent_acc", "val_weight_acc", "test_psnr",
                "test_mse", "test_loss", "proto_ratio", "proto_closer_frac",
                "proto_ratio_excess", "proto_retrieval_acc", *OPS_KEYS}
    if variant == "classifier_loss":
        expected.add("joint_acc")
    if variant == "pretrained":
        expected.add("pretrain_mlp_acc")
    assert expected <= set(results)
    if variant != "classifier_loss":
        assert "joint_acc" not in results and "val_joint_acc" not in evaluation
    # the test split is scored once, in finish(); each epoch's evaluate() is validation only
    assert evaluation and all(k.startswith("val_") or k == "eval_images_per_s" for k in evaluation)
    if variant != "pretrained":
        assert "pretrain_mlp_acc" not in results
    for key, value in results.items():
        assert isinstance(value, float), key
        assert math.isfinite(value), key
    for key in expected:
        if key.endswith("_acc"):
            assert 0.0 <= results[key] <= 1.0, key
            # an accuracy over the 128 test images or the 27 validation images
            n = 27 if key.startswith("val_") else 128
            assert results[key] * n == pytest.approx(round(results[key] * n)), key
    for op, base in (("sr", "sr_bilinear"), ("inpaint", "inpaint_meanfill"),
                     ("denoise", "denoise_noisy")):
        assert results[f"{op}_gain_db"] == pytest.approx(
            results[f"{op}_psnr"] - results[f"{base}_psnr"])
    for op, base in (("sr", "bicubic"), ("inpaint", "biharmonic"), ("denoise", "tv")):
        assert results[f"{op}_vs_{base}_db"] == pytest.approx(
            results[f"{op}_psnr"] - results[f"{op}_{base}_psnr"])
    # sigma 0.2 noise on [0, 1] is ~14 dB unclipped, more once clipped to the image range
    assert 13.0 < results["denoise_noisy_unclipped_psnr"] < 15.0
    assert results["denoise_noisy_psnr"] > results["denoise_noisy_unclipped_psnr"] + 1.0
    # the standard baselines are strong ones: each beats its naive counterpart by a lot
    assert results["sr_bicubic_psnr"] > results["sr_bilinear_psnr"] + 1.0
    assert results["inpaint_biharmonic_psnr"] > results["inpaint_meanfill_psnr"] + 5.0
    assert results["denoise_tv_psnr"] > results["denoise_noisy_psnr"] + 2.0
    # the reconstructions are images of the data range, not noise: near the test PSNR
    assert abs(results["denoise_psnr"] - results["test_psnr"]) < 5.0


def test_finish_results_depend_only_on_config_and_training(finished, mnist5k):
    """The same trained state gives the same downstream numbers, whatever else used torch's
    global RNG in between (here: another TrainingRun, which re-seeds it, and random draws)."""
    results = finished["plain"][2].metrics
    exp = TrainingRun(tiny(), data=mnist5k)
    exp.train_epoch()
    TrainingRun(tiny(seed=11), data=mnist5k)
    torch.rand(1000)
    again = _finish(exp).metrics
    assert again == pytest.approx(results, rel=1e-6, abs=1e-9)
    state = torch.get_rng_state()
    _finish(exp)
    assert torch.equal(torch.get_rng_state(), state)  # finish leaves the global stream alone


def test_examples_are_image_tensors(finished):
    exp, _, final = finished["plain"]
    examples = final.examples
    assert {"reconstruction", "superres", "inpainting", "denoising"} <= set(examples)
    for name, images in examples.items():
        assert isinstance(images, torch.Tensor), name
        assert images.dim() == 4 and images.shape[1:] == (1, 28, 28), name
        assert images.device.type == "cpu"
        assert torch.isfinite(images).all()
    assert examples["reconstruction"].shape[0] == 16  # 8 originals then 8 reconstructions
    torch.testing.assert_close(examples["reconstruction"][:8], exp.test_x[:8].cpu())
    assert examples["superres"].shape[0] == 24  # originals, inputs, outputs
    torch.testing.assert_close(examples["denoising"][:8], exp.test_x[:8].cpu())
    # the run's own grid is the last evaluate()'s, on validation images; a copy: the caller
    # cannot change the run's own dict
    own = exp.examples()
    assert set(own) == {"reconstruction"}
    torch.testing.assert_close(own["reconstruction"][:8], exp.val_x[:8].cpu())
    own.clear()
    assert exp.examples()


def test_cifar10_fixture_run_trains_and_finishes(cifar10_root):
    cfg = tiny(dataset="cifar10", data_root=str(cifar10_root), verify_data=False,
               train_subset=64, test_subset=32, probe_epochs=1)
    exp = TrainingRun(cfg)
    assert exp.train_x.shape[1:] == (3, 32, 32) and len(exp.train_x) + len(exp.val_x) == 64
    train = exp.train_epoch()
    val = exp.evaluate()
    assert math.isfinite(train["train_loss"]) and math.isfinite(val["val_psnr"])
    final = _finish(exp)
    assert all(math.isfinite(v) for v in final.metrics.values())
    assert final.examples["reconstruction"].shape == (16, 3, 32, 32)


def test_importing_hinr_pulls_in_neither_ray_nor_pyarrow():
    code = ("import hinr, sys; "
            "assert 'ray' not in sys.modules and 'pyarrow' not in sys.modules, "
            "sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'pyarrow'))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_bf16_precision_trains_like_fp32(mnist5k):
    """precision: bf16 learns as fp32 does, within noise, where the CPU has native bf16; on a
    CPU without it the trial is refused before any work."""
    from hinr.training import native_bf16

    if not native_bf16(torch.device("cpu")):
        with pytest.raises(RuntimeError, match="precision='bf16'"):
            TrainingRun(preset("tiny", precision="bf16", pixel_baselines=False), data=mnist5k)
        return
    out = {}
    for precision in ("fp32", "bf16"):
        exp = TrainingRun(preset("tiny", precision=precision, epochs=2, pixel_baselines=False),
                         data=mnist5k)
        for _ in range(2):
            exp.train_epoch()
        out[precision] = exp.evaluate()["val_psnr"]
    assert abs(out["bf16"] - out["fp32"]) < 0.5, out


def test_bf16_without_native_support_is_refused(monkeypatch):
    import hinr.training as training

    monkeypatch.setattr(training, "native_bf16", lambda device: False)
    with pytest.raises(RuntimeError, match="precision='bf16'.*use precision: fp32"):
        training.check_precision("bf16", torch.device("cpu"))
    training.check_precision("fp32", torch.device("cpu"))


def test_optimizer_is_fused_adam():
    exp = TrainingRun(preset("tiny", pixel_baselines=False))
    assert isinstance(exp.optimizer, torch.optim.Adam)
    assert exp.optimizer.defaults["fused"] is True


def test_validation_split_is_held_out_and_test_scored_once(finished, mnist5k):
    exp, evaluation, final = finished["classifier_loss"]
    results = final.metrics
    # no validation image is trained on: the carve partitions the (subset) training split
    whole = mnist5k.subset(256, 128)
    assert len(exp.train_x) + len(exp.val_x) == len(whole.train_x)
    flat = {tuple(x.flatten()[::7].tolist()) for x in exp.train_x}
    assert not any(tuple(x.flatten()[::7].tolist()) in flat for x in exp.val_x)
    assert {"val_psnr", "val_mse", "val_loss", "val_joint_acc"} <= set(evaluation)
    assert not any(k.startswith("test_") or k == "joint_acc" for k in evaluation)
    assert {"test_psnr", "test_mse", "test_loss", "joint_acc"} <= set(results)
    assert results["val_latent_acc"] * 27 == pytest.approx(round(results["val_latent_acc"] * 27))


def test_val_fraction_0_gives_no_val_metrics(mnist5k):
    exp = TrainingRun(tiny(val_fraction=0.0, pixel_baselines=False), data=mnist5k)
    assert len(exp.train_x) == 256 and len(exp.val_x) == 0
    exp.train_epoch()
    assert exp.evaluate() == {}
    results = _finish(exp).metrics
    assert "test_psnr" in results and not any(k.startswith("val_") for k in results)


def test_val_fraction_that_holds_out_nothing_is_refused(mnist5k):
    from hinr.data import ImageData

    one_each = torch.stack([torch.nonzero(mnist5k.train_y == c)[0, 0] for c in range(10)])
    data = ImageData("mnist-5k", mnist5k.train_x[one_each], mnist5k.train_y[one_each],
                     mnist5k.test_x[:8], mnist5k.test_y[:8])  # a class of one keeps its image
    with pytest.raises(ValueError, match="val_fraction=0.1 holds out no image of the 10"):
        TrainingRun(tiny(pixel_baselines=False), data=data)


def test_untrained_joint_head_reports_nothing(mnist5k):
    """cls_weight 0: the head is never trained, so no chance-level accuracy is reported."""
    exp = TrainingRun(tiny(variant="classifier_loss", cls_weight=0.0, pixel_baselines=False,
                          probe_epochs=1), data=mnist5k)
    train, val = exp.train_epoch(), exp.evaluate()
    results = _finish(exp).metrics
    for out in (train, val, results):
        assert not [k for k in out if "joint" in k or "cls_ce" in k], out


def test_weight_probe_per_position_beats_one_scalar(mnist5k):
    """theta* varies across images by ~0.1% of its scale (the rest is what all images share):
    standardised per position the weight CNN learns, with one scalar it stays at chance.
    Same trained model, same probe seed; deterministic on CPU."""
    from hinr.evaluate import STANDARDIZATIONS, WEIGHT_PROBE_STANDARDIZATION, weight_probe

    exp = TrainingRun(tiny(probe_epochs=10, pixel_baselines=False), data=mnist5k)
    exp.train_epoch()
    v = exp.latents(exp.train_x), exp.latents(exp.val_x), exp.latents(exp.test_x)
    position = weight_probe(exp, *v, "position")[0]["weight_acc"]
    scalar = weight_probe(exp, *v, "scalar")[0]["weight_acc"]
    assert position >= scalar + 0.05, (position, scalar)  # measured: 0.22 vs 0.11 (chance)
    assert WEIGHT_PROBE_STANDARDIZATION == "position"
    assert STANDARDIZATIONS[WEIGHT_PROBE_STANDARDIZATION] == 2.0


def test_validation_split_is_stratified_seeded_and_a_partition():
    from hinr.data import validation_split

    labels = torch.arange(10).repeat_interleave(torch.tensor([40, 31, 10, 2, 1, 55, 20, 20, 9, 12]))
    labels = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(1))]
    train, val = validation_split(labels, 0.1, seed=0)
    assert torch.equal(torch.sort(torch.cat([train, val])).values, torch.arange(len(labels)))
    assert torch.equal(train, torch.sort(train).values) and torch.equal(val, torch.sort(val).values)
    # round(10% of each class), at least one from a class of two, none from a class of one
    assert labels[val].bincount(minlength=10).tolist() == [4, 3, 1, 1, 0, 6, 2, 2, 1, 1]
    again_train, again_val = validation_split(labels, 0.1, seed=0)
    assert torch.equal(again_val, val) and torch.equal(again_train, train)
    assert not torch.equal(validation_split(labels, 0.1, seed=1)[1], val)
    train0, val0 = validation_split(labels, 0.0)
    assert len(val0) == 0 and torch.equal(train0, torch.arange(len(labels)))


def _class_images(protos: torch.Tensor, per_class: int, gen: torch.Generator):
    """Images of len(protos) classes: the class pattern plus a smooth pattern of each image's
    own, (K*per_class, 1, H, W) in [-1, 1], and their labels."""
    from hinr.prototypes import gaussian_blur

    labels = torch.arange(len(protos)).repeat_interleave(per_class)
    noise = torch.randn(len(labels), *protos.shape[1:], generator=gen)
    own = gaussian_blur(noise, torch.full((len(labels),), 1.5))
    return (protos[labels] + 0.5 * own / own.std()).clamp(-1, 1), labels


def test_prototype_measures_separate_collapse_from_blur():
    """A blurred input is as prototypical as its PSNR makes it (excess 0) and still nearest
    its own input; the class mean as 'reconstruction' leans to the prototype well beyond a
    blur of the same PSNR and is its own input's nearest neighbour only by chance."""
    from hinr.prototypes import gaussian_blur, matched_blur, prototype_scores

    gen = torch.Generator().manual_seed(0)
    classes, per_class = 4, 16
    protos = 3 * gaussian_blur(torch.rand(classes, 1, 16, 16, generator=gen) * 2 - 1,
                               torch.full((classes,), 2.0))
    train_x, train_y = _class_images(protos, per_class, gen)
    test_x, test_y = _class_images(protos, per_class, gen)

    def blurred(x):
        return gaussian_blur(x, torch.full((len(x),), 1.0))

    blur = prototype_scores(blurred, train_x, train_y, test_x, test_y, classes)
    assert abs(blur["proto_ratio_excess"]) < 1e-3 and blur["proto_retrieval_acc"] == 1.0

    test_means = torch.stack([test_x[test_y == c].mean(0) for c in range(classes)])
    train_means = torch.stack([train_x[train_y == c].mean(0) for c in range(classes)])

    def prototype(x):  # the mean test image of the nearest train prototype's class
        return test_means[torch.cdist(x.flatten(1), train_means.flatten(1)).argmin(1)]

    proto = prototype_scores(prototype, train_x, train_y, test_x, test_y, classes)
    assert proto["proto_ratio"] > 1.5 and proto["proto_ratio_excess"] > 0.3, proto  # 2.34, 0.68
    assert proto["proto_retrieval_acc"] < 0.25, proto  # chance: 1/16 (measured 0.14)
    # the blur the excess compares with has the reconstruction's error, image by image
    target = torch.rand(len(test_x)) * 0.3 + 0.1
    got = (matched_blur(test_x, target) - test_x).flatten(1).pow(2).mean(1).sqrt()
    torch.testing.assert_close(got, target, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("variant", VARIANTS)
def test_test_outputs_are_per_image_and_reproduce_the_metrics(finished, variant):
    """One value per test image: the label, its PSNR (test_psnr is their mean) and each probe's
    prediction, whose accuracy is exactly the probe's metric (contract.metrics.PROBES)."""
    from contract.metrics import PROBES

    exp, _, final = finished[variant]
    results, outputs = final.metrics, final.outputs
    probes = {"latent_mlp", "weight_cnn", "pixel_mlp", "pixel_cnn"}
    probes |= {"classifier_loss": {"joint"}, "pretrained": {"pretrain_mlp"}}.get(variant, set())
    assert set(outputs) == {"label", "psnr"} | probes
    torch.testing.assert_close(outputs["label"], exp.test_y.cpu(), rtol=0, atol=0)
    assert outputs["psnr"].shape == (128,) and torch.isfinite(outputs["psnr"]).all()
    assert float(outputs["psnr"].double().mean()) == pytest.approx(results["test_psnr"], rel=1e-5)
    for probe in probes:
        pred = outputs[probe]
        assert pred.dtype == torch.int64 and pred.shape == (128,), probe
        assert 0 <= int(pred.min()) and int(pred.max()) < 10, probe
        assert int((pred == outputs["label"]).sum()) / 128 == results[PROBES[probe]], probe


def test_every_pixel_classifier_reads_pixels_standardised_with_training_statistics(mnist5k):
    """The one input convention (hinr.standardize): per channel with training-split statistics
    by default, and the pretrained encoder reads what its pixel MLP was pre-trained on."""
    from hinr import standardize

    exp = TrainingRun(tiny(variant="pretrained", pixel_baselines=False), data=mnist5k)
    scaled = exp.pixel_input(exp.train_x)
    assert scaled.mean((0, 2, 3)).abs().max() < 1e-4
    assert (scaled.std((0, 2, 3)) - 1).abs().max() < 1e-4
    # statistics of the training split only: validation and test images are scored, not fitted
    assert exp.pixel_input.mean.flatten().item() == pytest.approx(exp.train_x.mean().item())
    assert exp.pixel_input.mean.flatten().item() != pytest.approx(exp.val_x.mean().item())
    exp.train_epoch()  # pre-trains the pixel MLP, then trains the HyperINR on its encoder
    x = exp.test_x[:4]
    with torch.no_grad():
        torch.testing.assert_close(exp.model.encoder(x), exp.pixel_mlp.hidden(
            (x - exp.pixel_input.mean) / exp.pixel_input.std))
    # none: raw [-1, 1] pixels (the results before issue 26); position: one scale per pixel
    assert standardize.pixels(exp.train_x, "none")(x) is x
    per_pixel = standardize.pixels(exp.train_x, "position")
    assert per_pixel.mean.shape == (1, 1, 28, 28)
    # the statistics are recomputed from the data, never stored: checkpoints keep their keys
    assert not [k for k in exp.model.state_dict() if "standardize" in k]


@pytest.mark.parametrize("norm", ["sum", "paper"])
def test_latent_prior_norm_is_what_a1_weighs_in_the_loss(norm, mnist5k):
    """config latent_prior_norm reaches the loss; the reported latent prior stays mean(v^2)."""
    exp = TrainingRun(tiny(latent_prior_norm=norm, a1=0.5, pixel_baselines=False), data=mnist5k)
    out = exp.evaluate()  # 27 validation images: one batch, so the relation holds exactly
    scale = {"sum": exp.cfg.latent_dim, "paper": exp.cfg.latent_dim / 256}[norm]
    cfg = exp.cfg
    assert out["val_loss"] == pytest.approx(
        out["val_mse"] + cfg.a1 * scale * out["val_latent_prior"]
        + cfg.a2 * out["val_theta_prior"], rel=1e-5)


@pytest.mark.parametrize("norm", ["mean", "sum", "paper"])
def test_theta_prior_norm_is_what_a2_weighs_in_the_loss(norm, mnist5k):
    """config theta_prior_norm reaches the loss; the reported theta prior stays mean(theta^2)."""
    from hinr.losses import paper_theta_count

    exp = TrainingRun(tiny(theta_prior_norm=norm, pixel_baselines=False), data=mnist5k)
    out = exp.evaluate()  # 27 validation images: one batch, so the relation holds exactly
    per_image = sum(out_f * in_f + out_f for out_f, in_f in exp.model.shapes)  # 337 on tiny
    scale = {"mean": 1.0, "sum": per_image, "paper": per_image / paper_theta_count(1)}[norm]
    cfg = exp.cfg
    assert out["val_loss"] == pytest.approx(out["val_mse"] + cfg.a1 * out["val_latent_prior"]
                                            + cfg.a2 * scale * out["val_theta_prior"], rel=1e-5)
