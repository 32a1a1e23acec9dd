"""The paper's end-of-trial evaluation of a trained ``hinr.training.TrainingRun``.

    result = finish(run, cache=...)       # an Evaluation: metrics, per-image outputs, grids

The test split is scored once, here, only to be reported; probes train on the training split
(validation held out) and report test accuracy plus val_* accuracy on the validation split.
Every classifier reads its input standardised with training statistics (``hinr.standardize``).
``cfg.label_counts`` adds the label-efficiency probes of issue 28 (``_label_efficiency``).

Results that depend on less than the trial (the pixel baselines: dataset, split, seed, probe
budget) may be shared between trials through ``cache``, an object the caller passes (see
``Cache``); this module names each entry (``baseline_key``, ``label_key``) and never touches
a file.  Without a cache everything is computed here, with the same numbers.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import torch
from torch import nn

from . import seeds, standardize
from .classifiers import LatentMLP, LinearProbe, PixelClassifierCNN, WeightCNN
from .fitting import (EVAL_BATCH, PROBE_BATCH, PROBE_LR, accuracy, predict, seeded,
                      train_classifier)
from .imageops import evaluate_ops
from contract.metrics import LABEL_PROBES, label_metric, label_probe
from .models import PixelMLP, theta_star
from .prototypes import prototype_scores
from .training import VAL_SPLIT_SEED, TrainingRun

OPS_IMAGES = 512  # test images scored by the image operations
# How the weight-CNN's input theta* is standardised, with statistics of training images: a key
# of hinr.standardize.THETA_DIMS (per position; that module says why).  Recorded as the metric
# weight_probe_standardization, coded by STANDARDIZATIONS.
WEIGHT_PROBE_STANDARDIZATION = "position"
STANDARDIZATIONS = {"scalar": 0.0, "layer": 1.0, "position": 2.0}
# What the cached pixel baselines were computed by: bump it by hand whenever pixel_baselines'
# code changes what it computes (its models, training, inputs), so that no cache entry of
# older code is ever read as a result of this one.  1: raw pixels, before issue 26 (keys
# without a version); 2: pixels through hinr.standardize, and per-image predictions kept.
BASELINE_VERSION = 2
# Label efficiency (config label_counts): a probe trained on n < all labels runs at least this
# many optimiser steps (its epochs are raised to reach them), so that 100 labels (one batch
# an epoch) are not 10 steps of training; with every label the full-label probe's own budget,
# probe_epochs, is kept (on full MNIST: 4,220 steps).
LABEL_PROBE_STEPS = 500
# What the cached pixel label-efficiency probes were computed by (as BASELINE_VERSION).
LABEL_BASELINE_VERSION = 1

Inputs = Callable[[torch.Tensor], torch.Tensor]  # index tensor -> a batch of classifier inputs


class Cache(Protocol):
    """Where results shared between trials are kept (``sweeps.cache.JsonCache``)."""

    def get(self, key: str, compute: Callable[[], Any], valid: Callable[[Any], bool]) -> Any:
        """The JSON value stored under ``key``, or ``compute()``'s, stored; a stored value
        that ``valid`` refuses is computed afresh."""


@dataclass
class Evaluation:
    """What ``finish`` returns.

    ``metrics``: the flat dict of floats a trial reports once.  ``outputs``: per test image,
    each a CPU tensor (N,) in test-split order: ``label``, ``psnr`` (the image's
    reconstruction PSNR in dB; test_psnr is their mean) and, for each probe of
    ``contract.metrics.PROBES`` the trial ran, its predicted class (int64; its accuracy is the
    probe's metric); no ``psnr`` for random_encoder, which reconstructs nothing.
    ``examples``: image stacks in [-1, 1] (rows of originals, then inputs and outputs) of the
    test split's reconstructions and of each image operation."""
    metrics: dict[str, float]
    outputs: dict[str, torch.Tensor]
    examples: dict[str, torch.Tensor]


def finish(run: TrainingRun, cache: Cache | None = None) -> Evaluation:
    """Test metrics, once, and downstream results on the trained representation (paper 4.1,
    4.2, 5, App. A).

    What a control leaves out is absent, not faked: autoencoder has no theta (no weight
    probe), random_encoder no reconstruction either (no test_*, image operations or
    prototype measures); both have v, so every latent probe runs."""
    cfg = run.cfg
    result = Evaluation(dict(run.extra), {"label": run.test_y.cpu(), **run.extra_predictions},
                        {})
    if run.decodes:
        scores = run.score(run.test_x, run.test_y, "test")  # incl. joint_acc (sec. 5)
        result.metrics.update(scores.metrics)
        result.outputs["psnr"] = scores.psnr.cpu()
        if scores.joint is not None:
            result.outputs["joint"] = scores.joint.cpu()
        result.examples["reconstruction"] = scores.example
    v_train, v_val, v_test = (run.latents(run.train_x), run.latents(run.val_x),
                              run.latents(run.test_x))
    # (1) latent MLP on frozen v, standardised with train statistics: the a1 prior keeps v
    # small, and an unscaled probe learns measurably worse.
    scale = standardize.latents(v_train)
    _latent_probe(run, result, scale, v_train, v_val, v_test)
    # (2) weight CNN on theta* (HyperINR variants: the controls generate no theta)
    if run.has_theta:
        weight, pred = weight_probe(run, v_train, v_val, v_test, WEIGHT_PROBE_STANDARDIZATION)
        result.metrics.update(weight)
        result.outputs["weight_cnn"] = pred.cpu()
        result.metrics["weight_probe_standardization"] = \
            STANDARDIZATIONS[WEIGHT_PROBE_STANDARDIZATION]
    if run.decodes:  # random_encoder reconstructs nothing
        # (4) image operations against their naive baselines
        ops, examples = evaluate_ops(run.reconstruct, run.test_x[:OPS_IMAGES], cfg.seed)
        result.metrics.update(ops)
        result.examples.update({k: v.cpu() for k, v in examples.items()})
        # (5) the paper's "prototypical convergence" as a number
        result.metrics.update(prototype_scores(run.reconstruct, run.train_x, run.train_y,
                                               run.test_x[:OPS_IMAGES],
                                               run.test_y[:OPS_IMAGES], run.num_classes))
    # (6) what the representation is measured against: classifiers on raw pixels
    if cfg.pixel_baselines:
        baselines, preds = pixel_baselines(run, cache)
        result.metrics.update(baselines)
        result.outputs.update(preds)
    # (7) label efficiency: the probes again on fewer training labels (issue 28)
    if cfg.label_counts:
        result.metrics.update(_label_efficiency(run, result.outputs, v_train, v_test, scale,
                                                cache))
    return result


def _latent_probe(run: TrainingRun, result: Evaluation, scale: Inputs, v_train: torch.Tensor,
                  v_val: torch.Tensor, v_test: torch.Tensor) -> None:
    """latent_acc (test) and val_latent_acc of the latent MLP on frozen, standardised v."""
    cfg = run.cfg
    probe_seed = cfg.seed + seeds.LATENT_PROBE
    probe = seeded(probe_seed, lambda: LatentMLP(cfg.latent_dim, run.num_classes))
    probe = probe.to(run.device)
    train_classifier(probe, lambda i: scale(v_train[i]), run.train_y,
                     cfg.probe_epochs, probe_seed, run.device)
    pred = predict(probe, lambda i: scale(v_test[i]), len(run.test_y), run.device)
    result.metrics["latent_acc"] = int((pred == run.test_y).sum()) / len(run.test_y)
    result.outputs["latent_mlp"] = pred.cpu()
    if len(run.val_y):
        result.metrics["val_latent_acc"] = accuracy(probe, lambda i: scale(v_val[i]),
                                                    run.val_y, run.device)
    result.metrics["latent_probe_standardized"] = 1.0


def weight_probe(run: TrainingRun, v_train: torch.Tensor, v_val: torch.Tensor,
                 v_test: torch.Tensor, standardization: str,
                 ) -> tuple[dict[str, float], torch.Tensor]:
    """weight_acc (test) and val_weight_acc of the weight CNN on theta*, standardised with
    statistics of 256 training images (``standardization``: a key of STANDARDIZATIONS), and
    the CNN's predictions on the test split (N,).  theta* is generated batch by batch from v
    (a whole split's would not fit in memory at paper size: 5x256x256 floats per image)."""
    cfg = run.cfg
    weights = _theta_inputs(run, v_train, standardization)
    probe_seed = cfg.seed + seeds.WEIGHT_PROBE
    wcnn = seeded(probe_seed, lambda: WeightCNN(cfg.inr_depth, run.num_classes))
    wcnn = wcnn.to(run.device)
    train_classifier(wcnn, weights(v_train), run.train_y, cfg.probe_epochs, probe_seed,
                     run.device)
    pred = predict(wcnn, weights(v_test), len(run.test_y), run.device)
    out = {"weight_acc": int((pred == run.test_y).sum()) / len(run.test_y)}
    if len(run.val_y):
        out["val_weight_acc"] = accuracy(wcnn, weights(v_val), run.val_y, run.device)
    return out, pred


def _theta_inputs(run: TrainingRun, v_train: torch.Tensor, standardization: str,
                  ) -> Callable[[torch.Tensor], Inputs]:
    """``weights(v_split)``: a function of an index tensor giving those images' theta*,
    generated from their v and standardised with statistics of 256 training images
    (``standardization``: a key of STANDARDIZATIONS)."""
    hyper, width = run.model.hyper, run.cfg.inr_width
    with torch.no_grad():
        sample = theta_star(hyper(v_train[:256]), width)  # (S, L, W, W)
    scale = standardize.theta(sample, standardization)

    def weights(v_split: torch.Tensor) -> Inputs:
        def get(i: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return scale(theta_star(hyper(v_split[i]), width))  # (B, L, W, W)
        return get
    return weights


# --------------------------------------------------------------------------------------
# Pixel baselines, shared by every trial of a (dataset, split, seed, probe budget)

def _cached(cache: Cache | None, key: str, compute: Callable[[], Any],
            valid: Callable[[Any], bool]) -> Any:
    return compute() if cache is None else cache.get(key, compute, valid)


def baseline_key(run: TrainingRun) -> str:
    """The name of ``pixel_baselines``' cache entry: what they depend on and the code that
    computed them (``BASELINE_VERSION``, plus a hash of every setting they depend on, the
    probe constants included), so that a change of any of these computes them afresh
    instead of reading numbers of other code."""
    cfg = run.cfg
    settings = {"version": BASELINE_VERSION, "dataset": cfg.dataset,
                "train": len(run.train_x), "val": len(run.val_x), "test": len(run.test_x),
                "val_fraction": cfg.val_fraction, "val_split_seed": VAL_SPLIT_SEED,
                "seed": cfg.seed, "probe_epochs": cfg.probe_epochs,
                "pixel_standardization": cfg.pixel_standardization,
                "probe_lr": PROBE_LR, "probe_batch": PROBE_BATCH, "eval_batch": EVAL_BATCH}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    return (f"{cfg.dataset}-n{len(run.train_x)}-{len(run.test_x)}-val{cfg.val_fraction:g}"
            f"-seed{cfg.seed}-ep{cfg.probe_epochs}-{cfg.pixel_standardization}"
            f"-v{BASELINE_VERSION}-{digest}")


def pixel_baselines(run: TrainingRun, cache: Cache | None = None,
                    ) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """Test accuracy of a 2-layer pixel MLP (hidden 256) and a small pixel CNN trained on the
    same split with the same probe budget, on pixels standardised as every classifier's
    input (``cfg.pixel_standardization``), and each one's test predictions {probe: (N,)}.
    They depend only on (dataset, split, seed, probe_epochs, standardisation), so every trial
    that shares those may share one computation through ``cache`` (``baseline_key``)."""
    cfg, pixels, n_test = run.cfg, run.pixel_input, len(run.test_y)
    probes = {"pixel_mlp_acc": "pixel_mlp", "pixel_cnn_acc": "pixel_cnn"}

    def compute() -> dict[str, Any]:
        channels, (h, w) = run.train_x.shape[1], run.train_x.shape[2:]
        results: dict[str, Any] = {"metrics": {}, "predictions": {}}
        for name, build, seed in (
                ("pixel_mlp_acc", lambda: PixelMLP(channels * h * w, 256, run.num_classes),
                 cfg.seed + seeds.PIXEL_MLP),
                ("pixel_cnn_acc", lambda: PixelClassifierCNN(channels, run.num_classes),
                 cfg.seed + seeds.PIXEL_CNN)):
            model = seeded(seed, build).to(run.device)
            train_classifier(model, lambda i: pixels(run.train_x[i]), run.train_y,
                             cfg.probe_epochs, seed, run.device)
            pred = predict(model, lambda i: pixels(run.test_x[i]), n_test, run.device)
            results["metrics"][name] = int((pred == run.test_y).sum()) / n_test
            results["predictions"][probes[name]] = pred.tolist()
        return results

    def valid(value: Any) -> bool:
        try:
            return (set(value["metrics"]) == set(probes)
                    and all(len(value["predictions"][p]) == n_test for p in probes.values()))
        except (KeyError, TypeError):
            return False

    cached = _cached(cache, baseline_key(run), compute, valid)
    metrics = {k: float(v) for k, v in cached["metrics"].items()}
    preds = {p: torch.tensor(cached["predictions"][p], dtype=torch.int64)
             for p in probes.values()}
    return metrics, preds


# --------------------------------------------------------------------------------------
# Label efficiency (issue 28)

def label_epochs(count: int | str, probe_epochs: int) -> int:
    """Epochs of a probe on ``count`` labels: probe_epochs with every label (the
    full-label probe itself); with fewer, enough epochs for LABEL_PROBE_STEPS steps."""
    if count == "all":
        return probe_epochs
    per_epoch = math.ceil(count / PROBE_BATCH)
    return max(probe_epochs, math.ceil(LABEL_PROBE_STEPS / per_epoch))


def _fit_probe(run: TrainingRun, outputs: dict[str, torch.Tensor], probe: str,
               count: int | str, build: Callable[[], nn.Module], seed: int, inputs: Inputs,
               test_inputs: Inputs) -> dict[str, float]:
    """Train ``build()`` (init from ``seed``) on ``count`` training labels (the
    class-balanced subset, or every label), score it on the whole test split; its
    predictions go to ``outputs`` as ``label_probe(probe, count)``."""
    model = seeded(seed, build).to(run.device)
    if count == "all":
        train_in, labels = inputs, run.train_y
    else:
        idx = run.label_subsets[count]  # (count,) positions in the training split

        def train_in(i: torch.Tensor) -> torch.Tensor:
            return inputs(idx[i])
        labels = run.train_y[idx]
    train_classifier(model, train_in, labels, label_epochs(count, run.cfg.probe_epochs), seed,
                     run.device)
    pred = predict(model, test_inputs, len(run.test_y), run.device)
    outputs[label_probe(probe, count)] = pred.cpu()
    metric = next(p.metric for p in LABEL_PROBES if p.probe == probe)
    return {label_metric(metric, count): int((pred == run.test_y).sum()) / len(run.test_y)}


def _label_efficiency(run: TrainingRun, outputs: dict[str, torch.Tensor], v_train: torch.Tensor,
                      v_test: torch.Tensor, latent_scale: Inputs, cache: Cache | None,
                      ) -> dict[str, float]:
    """The label-efficiency probes at each of ``cfg.label_counts`` (``contract.metrics.
    LABEL_PROBES``), each scored on the whole test split, predictions into ``outputs``:

    * on v (every variant): a linear probe (``LinearProbe``) and the latent MLP, inputs
      standardised with the statistics the full-label probe uses (of every training image:
      statistics need no labels, only the labels are counted);
    * on theta* (HyperINR variants): a linear probe and the weight CNN, on theta*
      standardised per position as the full-label weight CNN's;
    * on pixels (with pixel_baselines): the pixel MLP and CNN (cached per seed, like the
      full-label baselines: every variant of a seed shares them).

    With fewer than every label a probe trains on the seeded class-balanced subset (the
    same for every variant of a trial seed, ``hinr.data.label_subsets``) for
    ``label_epochs`` epochs, from the init its full-label twin starts from.  With every
    label ("all") the MLP, weight-CNN and pixel probes are the full-label ones already
    run (latent_acc, weight_acc, pixel_*_acc: the same probe, one number) and only the
    linear probes train."""
    cfg, n_test = run.cfg, len(run.test_y)
    out: dict[str, float] = {"label_count_all": float(len(run.train_y))}
    counts = cfg.label_counts

    def at(values: torch.Tensor, scale: Callable) -> Inputs:
        return lambda i: scale(values[i])

    latent = at(v_train, latent_scale), at(v_test, latent_scale)
    for count in counts:
        out.update(_fit_probe(
            run, outputs, "latent_linear", count,
            lambda: LinearProbe(cfg.latent_dim, run.num_classes),
            cfg.seed + seeds.LATENT_LINEAR, *latent))
        if count != "all":
            out.update(_fit_probe(
                run, outputs, "latent_mlp", count,
                lambda: LatentMLP(cfg.latent_dim, run.num_classes),
                cfg.seed + seeds.LATENT_PROBE, *latent))
    if run.has_theta:
        out.update(_weight_label_probes(run, outputs, v_train, v_test))
    fewer = tuple(c for c in counts if c != "all")
    if cfg.pixel_baselines and fewer:
        metrics, preds = _pixel_label_efficiency(run, fewer, cache)
        out.update(metrics)
        outputs.update(preds)
    assert all(len(p) == n_test for p in outputs.values())
    return out


def _weight_label_probes(run: TrainingRun, outputs: dict[str, torch.Tensor],
                         v_train: torch.Tensor, v_test: torch.Tensor) -> dict[str, float]:
    """The linear probe and the weight CNN on theta* at each label count."""
    cfg, out = run.cfg, {}
    weights = _theta_inputs(run, v_train, WEIGHT_PROBE_STANDARDIZATION)
    theta = weights(v_train), weights(v_test)
    features = cfg.inr_depth * cfg.inr_width * cfg.inr_width  # theta* (L, W, W)
    for count in cfg.label_counts:
        out.update(_fit_probe(
            run, outputs, "weight_linear", count,
            lambda: LinearProbe(features, run.num_classes),
            cfg.seed + seeds.WEIGHT_LINEAR, *theta))
        if count != "all":
            out.update(_fit_probe(
                run, outputs, "weight_cnn", count,
                lambda: WeightCNN(cfg.inr_depth, run.num_classes),
                cfg.seed + seeds.WEIGHT_PROBE, *theta))
    return out


def label_key(run: TrainingRun, counts: tuple[int, ...]) -> str:
    """The name of the pixel probes' cache entry on fewer labels: the full-label baselines'
    (``baseline_key``) with the counts, keyed by the same settings plus the counts, the
    subsets' seed and the step budget, and by ``LABEL_BASELINE_VERSION``."""
    baseline = baseline_key(run)
    # "baseline" is the file name the full-label entry had when these keys were defined
    # (sweeps.cache.JsonCache's "<key>.json"): kept so that every stored entry keeps its name.
    settings = {"version": LABEL_BASELINE_VERSION, "counts": list(counts),
                "baseline": f"{baseline}.json",
                "subset_seed": run.cfg.seed + seeds.LABEL_SUBSETS,
                "steps": LABEL_PROBE_STEPS, "classes": run.num_classes}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    counts_key = "-".join(map(str, counts))
    return f"labels-{counts_key}-{baseline}-{digest}"


def _pixel_label_efficiency(run: TrainingRun, counts: tuple[int, ...], cache: Cache | None,
                            ) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """The pixel MLP and CNN on each of ``counts`` labels: metrics and test predictions,
    computed once per (dataset, split, seed, settings) across trials through ``cache``."""
    cfg, pixels, n_test = run.cfg, run.pixel_input, len(run.test_y)
    channels, (h, w) = run.train_x.shape[1], run.train_x.shape[2:]
    builds = {"pixel_mlp": (lambda: PixelMLP(channels * h * w, 256, run.num_classes),
                            cfg.seed + seeds.PIXEL_MLP),
              "pixel_cnn": (lambda: PixelClassifierCNN(channels, run.num_classes),
                            cfg.seed + seeds.PIXEL_CNN)}
    names = {label_probe(p, c): label_metric(p + "_acc", c) for p in builds for c in counts}

    def compute() -> dict[str, Any]:
        metrics: dict[str, float] = {}
        preds: dict[str, torch.Tensor] = {}
        for probe, (build, seed) in builds.items():
            for count in counts:
                metrics.update(_fit_probe(
                    run, preds, probe, count, build, seed, lambda i: pixels(run.train_x[i]),
                    lambda i: pixels(run.test_x[i])))
        return {"metrics": metrics, "predictions": {k: v.tolist() for k, v in preds.items()}}

    def valid(value: Any) -> bool:
        try:
            return (set(value["metrics"]) == set(names.values())
                    and all(len(value["predictions"][p]) == n_test for p in names))
        except (KeyError, TypeError):
            return False

    cached = _cached(cache, label_key(run, counts), compute, valid)
    return ({k: float(v) for k, v in cached["metrics"].items()},
            {p: torch.tensor(cached["predictions"][p], dtype=torch.int64) for p in names})
