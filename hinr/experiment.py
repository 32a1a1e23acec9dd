"""One HyperINR trial as a plain Python object: the thing a sweep's trainable wraps.

    exp = Experiment(cfg)                 # loads data, builds models and optimiser
    for _ in range(cfg.epochs):
        exp.train_epoch()                 # {'epoch', 'train_loss', 'train_mse', ...}
        exp.evaluate()                    # validation split: {'val_mse', 'val_psnr', ...}
    exp.finish()                          # test_* once, downstream classifiers, image operations

The training split is cut into train and validation (``cfg.val_fraction``, stratified): the
model and every probe train on the rest, per-epoch metrics and searches use validation, and
the test split is scored once, in ``finish()``, only to be reported.
    exp.examples()                        # small image grids for logging
    exp.test_outputs()                    # per test image: label, PSNR, each probe's prediction

Every classifier reads its input standardised with training statistics (``hinr.standardize``).
The controls of issue 28 run through the same object: variant ``autoencoder`` trains its
encoder and conv decoder like the HyperINR (no theta: no weight probes, no a2 term), variant
``random_encoder`` has no decoder and never trains (each "epoch" is an empty pass; the
probes read its random v; it reports no reconstruction metric).  ``cfg.label_counts`` adds the
label-efficiency probes to ``finish()`` (``_label_efficiency``).
Every result is a flat dict of floats.  ``state_dict()`` / ``load_state_dict()`` capture
models, optimiser, RNG streams and counters, so save -> load -> continue gives the same numbers
as running straight through.  No logging, files or Ray here: the caller owns those.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from filelock import FileLock
from torch import nn

from . import data as data_mod
from . import standardize
from contract.atomic import write_text_atomic
from .classifiers import LatentMLP, LinearProbe, PixelClassifierCNN, WeightCNN
from .config import ExperimentConfig
from .losses import hyperinr_loss, psnr
from contract.metrics import LABEL_PROBES, label_metric, label_probe
from .models import HyperINR, PixelMLP, PretrainedEncoder, build_model, theta_star
from . import seeds
from .ops import evaluate_ops

PROBE_LR = 1e-3  # the paper's Adam lr for both downstream classifiers
PROBE_BATCH = 128
EVAL_BATCH = 256
OPS_IMAGES = 512  # test images scored by the image operations
# The validation carve's seed is fixed, not cfg.seed: every trial of a sweep, whatever its
# seed, is then selected on the same images, so a difference in val_* between two trials is
# never a difference in which images were held out (seed replicates vary training only).
VAL_SPLIT_SEED = 0
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


class Diverged(RuntimeError):
    """The training loss became NaN or infinite; carries where it happened."""

    def __init__(self, epoch: int, step: int, loss: float):
        super().__init__(f"loss became {loss} at epoch {epoch}, step {step}")
        self.epoch, self.step, self.loss = epoch, step, loss


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' but no CUDA device is visible; use device: auto or cpu")
    return torch.device(name)


def native_bf16(device: torch.device) -> bool:
    """Does ``device`` compute in bf16 natively (CUDA bf16, or a CPU with avx512_bf16 / AMX)?
    Elsewhere bf16 autocast is emulated and slower than float32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.backends.mkldnn.is_available()
                    and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def check_precision(precision: str, device: torch.device) -> None:
    if precision == "bf16" and not native_bf16(device):
        raise RuntimeError(f"precision='bf16' but {device.type} here has no native bf16 (a GPU "
                           "with bf16, or a CPU with avx512_bf16/AMX); emulated bf16 is slower "
                           "than fp32: use precision: fp32")


def adam(params: Any, lr: float, device: torch.device) -> torch.optim.Adam:
    """Adam with its fused kernel on CPU and CUDA: one pass over every parameter per step
    instead of the foreach implementation's several (``small``: 1.09x less CPU per step);
    same update rule, so results match the default to float rounding."""
    return torch.optim.Adam(params, lr=lr, fused=device.type in ("cpu", "cuda"))


class Experiment:
    def __init__(self, cfg: ExperimentConfig, data: data_mod.ImageData | None = None):
        self.cfg = cfg
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.device = resolve_device(cfg.device)
        check_precision(cfg.precision, self.device)
        torch.manual_seed(cfg.seed)  # model init is the only consumer of the global stream
        loaded = data if data is not None else data_mod.load(cfg)
        loaded = loaded.subset(cfg.train_subset, cfg.test_subset)
        self.num_classes = loaded.num_classes
        # carved after train_subset: train_subset then sizes the whole training split as before
        train_idx, val_idx = data_mod.validation_split(loaded.train_y, cfg.val_fraction,
                                                       VAL_SPLIT_SEED)
        if cfg.val_fraction > 0 and not len(val_idx):
            raise ValueError(f"val_fraction={cfg.val_fraction} holds out no image of the "
                             f"{len(loaded.train_y)} training images; use more training images "
                             "or val_fraction: 0")
        self.train_x = loaded.train_x[train_idx].to(self.device)
        self.train_y = loaded.train_y[train_idx].to(self.device)
        self.val_x = loaded.train_x[val_idx].to(self.device)
        self.val_y = loaded.train_y[val_idx].to(self.device)
        self.test_x, self.test_y = loaded.test_x.to(self.device), loaded.test_y.to(self.device)
        channels, size = loaded.channels, loaded.size
        self.coords = data_mod.grid(*size, device=self.device)  # (H*W, 2)
        # what every pixel classifier reads (the baselines, variant pretrained's pixel MLP and
        # the encoder made of it): statistics of the training split, validation held out
        self.pixel_input = standardize.pixels(self.train_x, cfg.pixel_standardization)

        self.model = build_model(cfg, channels, size).to(self.device)
        self.has_theta = isinstance(self.model, HyperINR)  # the weight probes read theta*
        self.decodes = cfg.variant != "random_encoder"  # reconstructions, training, val_*
        # Label efficiency: the class-balanced subsets, drawn now so that a count the training
        # split cannot hold is refused before any training (hinr.data.label_subsets)
        self.label_subsets: dict[int, torch.Tensor] = {}
        if cfg.label_counts:
            counts = tuple(c for c in cfg.label_counts if c != "all")
            self.label_subsets = {n: idx.to(self.device) for n, idx in data_mod.label_subsets(
                self.train_y, counts, cfg.seed + seeds.LABEL_SUBSETS, self.num_classes).items()}
        self.pixel_mlp: PixelMLP | None = None
        if cfg.variant == "pretrained":
            self.pixel_mlp = PixelMLP(channels * size[0] * size[1], cfg.latent_dim,
                                      self.num_classes).to(self.device)
            # finetune: the encoder's parameters are in the optimiser from the start, but get
            # no gradient (so Adam skips them) until the first step after pretraining; the
            # optimiser's groups are then the same before and after a resume.
            self.model.encoder = PretrainedEncoder(self.pixel_mlp,
                                                   frozen=cfg.pretrained_encoder == "frozen",
                                                   standardize=self.pixel_input)
        self.head = (LatentMLP(cfg.latent_dim, self.num_classes).to(self.device)
                     if cfg.variant == "classifier_loss" else None)
        # With cls_weight 0 the head gets no gradient: it is neither run nor scored, so no
        # chance-level joint_acc is ever reported as if it were a result.
        self.joint = self.head is not None and cfg.cls_weight > 0

        groups = [{"params": [p for p in self.model.parameters() if p.requires_grad], "lr": cfg.lr}]
        if self.head is not None:
            groups.append({"params": list(self.head.parameters()), "lr": cfg.cls_lr})
        # random_encoder trains nothing: no optimiser (its checkpoints hold an empty state)
        self.optimizer = adam(groups, cfg.lr, self.device) if self.decodes else None
        self.shuffle = torch.Generator().manual_seed(cfg.seed)
        self.epoch = 0
        self.step = 0
        self.pretrained = False  # variant pretrained: has the pixel MLP been trained yet?
        self.extra: dict[str, float] = {}  # results computed once (pretraining accuracy)
        # per-image test predictions computed once (pretraining), kept in checkpoints like extra
        self.extra_predictions: dict[str, torch.Tensor] = {}
        self._examples: dict[str, torch.Tensor] = {}
        self._test_outputs: dict[str, torch.Tensor] = {}

    # ----------------------------------------------------------------------------------
    def _forward_loss(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        recon, v, theta = self.model(x, self.coords)
        logits = self.head(v) if self.joint else None
        terms = hyperinr_loss(recon, x, v, theta, self.cfg.a1, self.cfg.a2,
                              logits, y, self.cfg.cls_weight, self.cfg.theta_prior_norm)
        terms["_recon"] = recon
        terms["_logits"] = logits if logits is not None else recon.new_empty(0)
        return terms

    def train_epoch(self) -> dict[str, float]:
        if not self.decodes:
            # random_encoder: nothing trains; the epoch only counts, so that the trial's loop,
            # checkpoints and reports run as for any variant (no train_* metric: no loss)
            self.epoch += 1
            return {"epoch": float(self.epoch), "step": float(self.step)}
        if self.pixel_mlp is not None and not self.pretrained:
            self._pretrain()
        self.model.train()
        n, bs = len(self.train_x), self.cfg.batch_size
        order = torch.randperm(n, generator=self.shuffle).to(self.device)
        sums: dict[str, torch.Tensor] = {}
        start = time.perf_counter()
        for i in range(0, n, bs):
            idx = order[i:i + bs]
            terms = self._forward_loss(self.train_x[idx], self.train_y[idx])
            loss = terms["loss"]
            if not torch.isfinite(loss):
                raise Diverged(self.epoch + 1, self.step, float(loss.detach()))
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.step += 1
            for k, val in terms.items():
                if not k.startswith("_"):  # accumulate on device: no sync per term per step
                    sums[k] = sums.get(k, 0.0) + val.detach() * len(idx)
        seconds = time.perf_counter() - start
        self.epoch += 1
        out = {"epoch": float(self.epoch), "step": float(self.step),
               "train_images_per_s": n / seconds, "train_seconds": seconds}
        out.update({f"train_{k}": float(s) / n for k, s in sums.items()})
        return out

    def evaluate(self) -> dict[str, float]:
        """Per-epoch metrics on the validation split (val_mse, val_psnr, val_loss, ...,
        val_joint_acc); nothing when val_fraction is 0, nor for random_encoder (no
        reconstruction, no loss).  The test split is scored in finish()."""
        if not len(self.val_x) or not self.decodes:
            return {}
        start = time.perf_counter()
        out = self._score(self.val_x, self.val_y, "val")
        out["eval_images_per_s"] = len(self.val_x) / (time.perf_counter() - start)
        return out

    @torch.no_grad()
    def _score(self, images: torch.Tensor, labels: torch.Tensor, split: str) -> dict[str, float]:
        """Loss terms, PSNR and (trained head only) joint accuracy on one split, as
        ``{split}_*``; the test split's joint accuracy keeps its name ``joint_acc``.  On the
        test split, each image's PSNR and joint-head prediction go to ``test_outputs()``."""
        self.model.eval()
        n = len(images)
        sums: dict[str, float] = {}
        psnr_sum, correct = 0.0, 0
        per_image: list[torch.Tensor] = []
        joint_pred: list[torch.Tensor] = []
        for i in range(0, n, EVAL_BATCH):
            x, y = images[i:i + EVAL_BATCH], labels[i:i + EVAL_BATCH]
            terms = self._forward_loss(x, y)
            for k, val in terms.items():
                if not k.startswith("_"):
                    sums[k] = sums.get(k, 0.0) + float(val) * len(x)
            image_psnr = psnr(terms["_recon"], x)  # (B,)
            psnr_sum += float(image_psnr.sum())
            per_image.append(image_psnr)
            if self.joint:
                pred = terms["_logits"].argmax(1)
                correct += int((pred == y).sum())
                joint_pred.append(pred)
            if i == 0:
                k = min(8, len(x))
                self._examples["reconstruction"] = torch.cat([x[:k], terms["_recon"][:k]]).cpu()
        out = {f"{split}_{k}": s / n for k, s in sums.items()}
        out[f"{split}_psnr"] = psnr_sum / n
        if self.joint:
            out["joint_acc" if split == "test" else f"{split}_joint_acc"] = correct / n
        if split == "test":
            self._test_outputs["psnr"] = torch.cat(per_image).cpu()
            if self.joint:
                self._test_outputs["joint"] = torch.cat(joint_pred).cpu()
        return out

    # ----------------------------------------------------------------------------------
    def _pretrain(self) -> None:
        """Paper 4.2: train the pixel MLP as a classifier; its hidden layer then encodes v."""
        assert self.pixel_mlp is not None
        self.pixel_mlp.requires_grad_(True)
        pixels = self.pixel_input
        train_classifier(self.pixel_mlp, lambda i: pixels(self.train_x[i]), self.train_y,
                         self.cfg.pretrain_epochs, self.cfg.seed + seeds.PRETRAIN, self.device)
        pred = predict(self.pixel_mlp, lambda i: pixels(self.test_x[i]), len(self.test_y),
                       self.device)
        acc = int((pred == self.test_y).sum()) / len(self.test_y)
        self.extra_predictions["pretrain_mlp"] = pred.cpu()
        self.pixel_mlp.requires_grad_(False)  # its classifier head is done with
        self.pixel_mlp.hidden.requires_grad_(self.cfg.pretrained_encoder == "finetune")
        # train_classifier's last step leaves gradients; the first training step's zero_grad
        # clears them, but drop them here so that nothing stale is ever stepped on
        self.pixel_mlp.zero_grad(set_to_none=True)
        self.extra["pretrain_mlp_acc"] = acc
        self.pretrained = True

    @torch.no_grad()
    def latents(self, images: torch.Tensor) -> torch.Tensor:
        self.model.eval()
        if not len(images):  # the validation split when val_fraction is 0
            return images.new_zeros(0, self.cfg.latent_dim)
        return torch.cat([self.model.encoder(images[i:i + EVAL_BATCH])
                          for i in range(0, len(images), EVAL_BATCH)])  # (N, latent_dim)

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        self.model.eval()
        return self.model(images, self.coords)[0]

    def finish(self) -> dict[str, float]:
        """Test metrics, once, and downstream results on the trained representation (paper 4.1,
        4.2, 5, App. A).  Probes train on the training split (validation held out) and report
        test accuracy plus val_* accuracy on the validation split.

        What a control leaves out is absent, not faked: autoencoder has no theta (no weight
        probe), random_encoder no reconstruction either (no test_*, image operations or
        prototype measures); both have v, so every latent probe runs."""
        cfg, out = self.cfg, dict(self.extra)
        self._test_outputs = {"label": self.test_y.cpu(), **self.extra_predictions}
        if self.decodes:
            out.update(self._score(self.test_x, self.test_y, "test"))  # incl. joint_acc (sec. 5)
        v_train, v_val, v_test = (self.latents(self.train_x), self.latents(self.val_x),
                                  self.latents(self.test_x))

        # (1) latent MLP on frozen v, standardised with train statistics: the a1 prior keeps v
        # small, and an unscaled probe learns measurably worse.
        scale = standardize.latents(v_train)
        probe_seed = cfg.seed + seeds.LATENT_PROBE
        probe = _seeded(probe_seed, lambda: LatentMLP(cfg.latent_dim, self.num_classes))
        probe = probe.to(self.device)
        train_classifier(probe, lambda i: scale(v_train[i]), self.train_y,
                         cfg.probe_epochs, probe_seed, self.device)
        pred = predict(probe, lambda i: scale(v_test[i]), len(self.test_y), self.device)
        out["latent_acc"] = int((pred == self.test_y).sum()) / len(self.test_y)
        self._test_outputs["latent_mlp"] = pred.cpu()
        if len(self.val_y):
            out["val_latent_acc"] = accuracy(probe, lambda i: scale(v_val[i]),
                                             self.val_y, self.device)
        out["latent_probe_standardized"] = 1.0

        # (2) weight CNN on theta* (HyperINR variants: the controls generate no theta)
        if self.has_theta:
            weight, pred = self._weight_probe(v_train, v_val, v_test,
                                              WEIGHT_PROBE_STANDARDIZATION)
            out.update(weight)
            self._test_outputs["weight_cnn"] = pred.cpu()
            out["weight_probe_standardization"] = STANDARDIZATIONS[WEIGHT_PROBE_STANDARDIZATION]

        if self.decodes:  # random_encoder reconstructs nothing
            # (4) image operations against their naive baselines
            ops, examples = evaluate_ops(self.reconstruct, self.test_x[:OPS_IMAGES], cfg.seed)
            out.update(ops)
            self._examples.update({k: v.cpu() for k, v in examples.items()})

            # (5) the paper's "prototypical convergence" as a number
            out.update(prototype_scores(self.reconstruct, self.train_x, self.train_y,
                                        self.test_x[:OPS_IMAGES], self.test_y[:OPS_IMAGES],
                                        self.num_classes))

        # (6) what the representation is measured against: classifiers on raw pixels
        if cfg.pixel_baselines:
            baselines, preds = self._pixel_baselines()
            out.update(baselines)
            self._test_outputs.update(preds)

        # (7) label efficiency: the probes again on fewer training labels (issue 28)
        if cfg.label_counts:
            out.update(self._label_efficiency(v_train, v_test, scale))
        return out

    def test_outputs(self) -> dict[str, torch.Tensor]:
        """Per test image, from the last ``finish()``, each a CPU tensor (N,) in test-split
        order: ``label``, ``psnr`` (the image's reconstruction PSNR in dB; test_psnr is their
        mean) and, for each probe of ``contract.metrics.PROBES`` the trial ran, its predicted class
        (int64; its accuracy is the probe's metric).  Empty before ``finish()``.  No ``psnr``
        for random_encoder, which reconstructs nothing."""
        return dict(self._test_outputs)

    def weight_probe(self, v_train: torch.Tensor, v_val: torch.Tensor, v_test: torch.Tensor,
                     standardization: str) -> dict[str, float]:
        """weight_acc (test) and val_weight_acc of the weight CNN on theta*, standardised with
        statistics of 256 training images (``standardization``: a key of STANDARDIZATIONS).
        theta* is generated batch by batch
        from v (a whole split's would not fit in memory at paper size: 5x256x256 floats per
        image)."""
        return self._weight_probe(v_train, v_val, v_test, standardization)[0]

    def _weight_probe(self, v_train: torch.Tensor, v_val: torch.Tensor, v_test: torch.Tensor,
                      standardization: str) -> tuple[dict[str, float], torch.Tensor]:
        """``weight_probe`` and the CNN's predictions on the test split (N,)."""
        cfg = self.cfg
        weights = self._theta_inputs(v_train, standardization)
        probe_seed = cfg.seed + seeds.WEIGHT_PROBE
        wcnn = _seeded(probe_seed, lambda: WeightCNN(cfg.inr_depth, self.num_classes))
        wcnn = wcnn.to(self.device)
        train_classifier(wcnn, weights(v_train), self.train_y, cfg.probe_epochs, probe_seed,
                         self.device)
        pred = predict(wcnn, weights(v_test), len(self.test_y), self.device)
        out = {"weight_acc": int((pred == self.test_y).sum()) / len(self.test_y)}
        if len(self.val_y):
            out["val_weight_acc"] = accuracy(wcnn, weights(v_val), self.val_y, self.device)
        return out, pred

    def _theta_inputs(self, v_train: torch.Tensor, standardization: str,
                      ) -> Callable[[torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]:
        """``weights(v_split)``: a function of an index tensor giving those images' theta*,
        generated from their v and standardised with statistics of 256 training images
        (``standardization``: a key of STANDARDIZATIONS)."""
        hyper, width = self.model.hyper, self.cfg.inr_width
        with torch.no_grad():
            sample = theta_star(hyper(v_train[:256]), width)  # (S, L, W, W)
        scale = standardize.theta(sample, standardization)

        def weights(v_split: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
            def get(i: torch.Tensor) -> torch.Tensor:
                with torch.no_grad():
                    return scale(theta_star(hyper(v_split[i]), width))  # (B, L, W, W)
            return get
        return weights

    # ----------------------------------------------------------------------------------
    # Label efficiency (issue 28)

    def label_epochs(self, count: int | str) -> int:
        """Epochs of a probe on ``count`` labels: probe_epochs with every label (the
        full-label probe itself); with fewer, enough epochs for LABEL_PROBE_STEPS steps."""
        if count == "all":
            return self.cfg.probe_epochs
        per_epoch = math.ceil(count / PROBE_BATCH)
        return max(self.cfg.probe_epochs, math.ceil(LABEL_PROBE_STEPS / per_epoch))

    def _fit_probe(self, probe: str, count: int | str, build: Callable[[], nn.Module],
                   seed: int, inputs: Callable[[torch.Tensor], torch.Tensor],
                   test_inputs: Callable[[torch.Tensor], torch.Tensor]) -> dict[str, float]:
        """Train ``build()`` (init from ``seed``) on ``count`` training labels (the
        class-balanced subset, or every label), score it on the whole test split; its
        predictions go to ``test_outputs()`` as ``label_probe(probe, count)``."""
        model = _seeded(seed, build).to(self.device)
        if count == "all":
            train_in, labels = inputs, self.train_y
        else:
            idx = self.label_subsets[count]  # (count,) positions in the training split

            def train_in(i: torch.Tensor) -> torch.Tensor:
                return inputs(idx[i])
            labels = self.train_y[idx]
        train_classifier(model, train_in, labels, self.label_epochs(count), seed, self.device)
        pred = predict(model, test_inputs, len(self.test_y), self.device)
        self._test_outputs[label_probe(probe, count)] = pred.cpu()
        metric = next(p.metric for p in LABEL_PROBES if p.probe == probe)
        return {label_metric(metric, count): int((pred == self.test_y).sum()) / len(self.test_y)}

    def _label_efficiency(self, v_train: torch.Tensor, v_test: torch.Tensor,
                          latent_scale: Callable[[torch.Tensor], torch.Tensor],
                          ) -> dict[str, float]:
        """The label-efficiency probes at each of ``cfg.label_counts`` (``contract.metrics.
        LABEL_PROBES``), each scored on the whole test split:

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
        cfg, n_test = self.cfg, len(self.test_y)
        out: dict[str, float] = {"label_count_all": float(len(self.train_y))}
        counts = cfg.label_counts

        def at(values: torch.Tensor, scale: Callable) -> Callable[[torch.Tensor], torch.Tensor]:
            return lambda i: scale(values[i])

        latent = at(v_train, latent_scale), at(v_test, latent_scale)
        for count in counts:
            out.update(self._fit_probe(
                "latent_linear", count, lambda: LinearProbe(cfg.latent_dim, self.num_classes),
                cfg.seed + seeds.LATENT_LINEAR, *latent))
            if count != "all":
                out.update(self._fit_probe(
                    "latent_mlp", count, lambda: LatentMLP(cfg.latent_dim, self.num_classes),
                    cfg.seed + seeds.LATENT_PROBE, *latent))
        if self.has_theta:
            weights = self._theta_inputs(v_train, WEIGHT_PROBE_STANDARDIZATION)
            theta = weights(v_train), weights(v_test)
            features = cfg.inr_depth * cfg.inr_width * cfg.inr_width  # theta* (L, W, W)
            for count in counts:
                out.update(self._fit_probe(
                    "weight_linear", count, lambda: LinearProbe(features, self.num_classes),
                    cfg.seed + seeds.WEIGHT_LINEAR, *theta))
                if count != "all":
                    out.update(self._fit_probe(
                        "weight_cnn", count, lambda: WeightCNN(cfg.inr_depth, self.num_classes),
                        cfg.seed + seeds.WEIGHT_PROBE, *theta))
        fewer = tuple(c for c in counts if c != "all")
        if cfg.pixel_baselines and fewer:
            metrics, preds = self._pixel_label_efficiency(fewer)
            out.update(metrics)
            self._test_outputs.update(preds)
        assert all(len(p) == n_test for p in self._test_outputs.values())
        return out

    def label_cache_path(self, counts: tuple[int, ...]) -> Path:
        """Where the pixel probes on fewer labels are cached: beside the full-label baselines
        (``baseline_cache_path``), keyed by the same settings plus the counts, the subsets'
        seed and the step budget, and by ``LABEL_BASELINE_VERSION``."""
        cfg = self.cfg
        settings = {"version": LABEL_BASELINE_VERSION, "counts": list(counts),
                    "baseline": self.baseline_cache_path().name,
                    "subset_seed": cfg.seed + seeds.LABEL_SUBSETS,
                    "steps": LABEL_PROBE_STEPS, "classes": self.num_classes}
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
        counts_key = "-".join(map(str, counts))
        return (self.baseline_cache_path().parent
                / f"labels-{counts_key}-{self.baseline_cache_path().stem}-{digest}.json")

    def _pixel_label_efficiency(self, counts: tuple[int, ...],
                                ) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
        """The pixel MLP and CNN on each of ``counts`` labels: metrics and test predictions,
        computed once per (dataset, split, seed, settings) across trials (``cached_json``)."""
        cfg, pixels, n_test = self.cfg, self.pixel_input, len(self.test_y)
        channels, (h, w) = self.train_x.shape[1], self.train_x.shape[2:]
        builds = {"pixel_mlp": (lambda: PixelMLP(channels * h * w, 256, self.num_classes),
                                cfg.seed + seeds.PIXEL_MLP),
                  "pixel_cnn": (lambda: PixelClassifierCNN(channels, self.num_classes),
                                cfg.seed + seeds.PIXEL_CNN)}
        names = {label_probe(p, c): label_metric(p + "_acc", c) for p in builds for c in counts}

        def compute() -> dict[str, Any]:
            saved = self._test_outputs
            self._test_outputs = {}
            metrics: dict[str, float] = {}
            try:
                for probe, (build, seed) in builds.items():
                    for count in counts:
                        metrics.update(self._fit_probe(
                            probe, count, build, seed, lambda i: pixels(self.train_x[i]),
                            lambda i: pixels(self.test_x[i])))
                preds = {k: v.tolist() for k, v in self._test_outputs.items()}
            finally:
                self._test_outputs = saved
            return {"metrics": metrics, "predictions": preds}

        def valid(value: Any) -> bool:
            try:
                return (set(value["metrics"]) == set(names.values())
                        and all(len(value["predictions"][p]) == n_test for p in names))
            except (KeyError, TypeError):
                return False

        cached = cached_json(self.label_cache_path(counts), compute, valid)
        return ({k: float(v) for k, v in cached["metrics"].items()},
                {p: torch.tensor(cached["predictions"][p], dtype=torch.int64) for p in names})

    def baseline_cache_path(self) -> Path:
        """Where ``pixel_baselines`` caches its results: under the data root, named by what
        they depend on and by the code that computed them (``BASELINE_VERSION``, plus a hash of
        every setting they depend on, the probe constants included), so that a change of any
        of these computes them afresh instead of reading numbers of other code."""
        cfg = self.cfg
        settings = {"version": BASELINE_VERSION, "dataset": cfg.dataset,
                    "train": len(self.train_x), "val": len(self.val_x), "test": len(self.test_x),
                    "val_fraction": cfg.val_fraction, "val_split_seed": VAL_SPLIT_SEED,
                    "seed": cfg.seed, "probe_epochs": cfg.probe_epochs,
                    "pixel_standardization": cfg.pixel_standardization,
                    "probe_lr": PROBE_LR, "probe_batch": PROBE_BATCH, "eval_batch": EVAL_BATCH}
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
        key = (f"{cfg.dataset}-n{len(self.train_x)}-{len(self.test_x)}-val{cfg.val_fraction:g}"
               f"-seed{cfg.seed}-ep{cfg.probe_epochs}-{cfg.pixel_standardization}"
               f"-v{BASELINE_VERSION}-{digest}")
        return data_mod.data_root(cfg.data_root) / "baselines" / f"{key}.json"

    def pixel_baselines(self) -> dict[str, float]:
        """Test accuracy of a 2-layer pixel MLP (hidden 256) and a small pixel CNN trained on the
        same split with the same probe budget, on pixels standardised as every classifier's
        input (``cfg.pixel_standardization``).  They depend only on (dataset, split, seed,
        probe_epochs, standardisation), so they are cached under the data root
        (``baseline_cache_path``) and every trial of a sweep that shares those reuses one
        computation."""
        return self._pixel_baselines()[0]

    def _pixel_baselines(self) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
        """``pixel_baselines`` and each baseline's test predictions, {probe: (N,)}."""
        cfg, pixels, n_test = self.cfg, self.pixel_input, len(self.test_y)
        probes = {"pixel_mlp_acc": "pixel_mlp", "pixel_cnn_acc": "pixel_cnn"}

        def compute() -> dict[str, Any]:
            channels, (h, w) = self.train_x.shape[1], self.train_x.shape[2:]
            results: dict[str, Any] = {"metrics": {}, "predictions": {}}
            for name, build, seed in (
                    ("pixel_mlp_acc", lambda: PixelMLP(channels * h * w, 256, self.num_classes),
                     cfg.seed + seeds.PIXEL_MLP),
                    ("pixel_cnn_acc", lambda: PixelClassifierCNN(channels, self.num_classes),
                     cfg.seed + seeds.PIXEL_CNN)):
                model = _seeded(seed, build).to(self.device)
                train_classifier(model, lambda i: pixels(self.train_x[i]), self.train_y,
                                 cfg.probe_epochs, seed, self.device)
                pred = predict(model, lambda i: pixels(self.test_x[i]), n_test, self.device)
                results["metrics"][name] = int((pred == self.test_y).sum()) / n_test
                results["predictions"][probes[name]] = pred.tolist()
            return results

        def valid(value: Any) -> bool:
            try:
                return (set(value["metrics"]) == set(probes)
                        and all(len(value["predictions"][p]) == n_test for p in probes.values()))
            except (KeyError, TypeError):
                return False

        cached = cached_json(self.baseline_cache_path(), compute, valid)
        metrics = {k: float(v) for k, v in cached["metrics"].items()}
        preds = {p: torch.tensor(cached["predictions"][p], dtype=torch.int64)
                 for p in probes.values()}
        return metrics, preds

    def examples(self) -> dict[str, torch.Tensor]:
        """Image stacks in [-1, 1] (rows of originals then outputs) from the last evaluate/finish."""
        return dict(self._examples)

    # ----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"config": self.cfg.to_dict(), "epoch": self.epoch, "step": self.step,
                "pretrained": self.pretrained, "extra": dict(self.extra),
                "extra_predictions": dict(self.extra_predictions),
                "model": self.model.state_dict(),
                "head": self.head.state_dict() if self.head is not None else {},
                "pixel_mlp": self.pixel_mlp.state_dict() if self.pixel_mlp is not None else {},
                "optimizer": self.optimizer.state_dict() if self.optimizer is not None else {},
                "shuffle_rng": self.shuffle.get_state(), "torch_rng": torch.get_rng_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        if self.head is not None:
            self.head.load_state_dict(state["head"])
        if self.pixel_mlp is not None:
            self.pixel_mlp.load_state_dict(state["pixel_mlp"])
        if self.optimizer is not None:
            self.optimizer.load_state_dict(state["optimizer"])
        self.shuffle.set_state(state["shuffle_rng"])
        torch.set_rng_state(state["torch_rng"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.pretrained = bool(state["pretrained"])
        self.extra = dict(state["extra"])
        # absent from checkpoints written before per-image predictions were kept
        self.extra_predictions = dict(state.get("extra_predictions", {}))

    def save(self, path: str) -> None:
        torch.save(self.state_dict(), path)

    def load(self, path: str) -> None:
        # weights_only: a checkpoint is data, never code
        self.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))


@torch.no_grad()
def prototype_scores(reconstruct: Callable[[torch.Tensor], torch.Tensor], train_x: torch.Tensor,
                     train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
                     num_classes: int) -> dict[str, float]:
    """How far reconstructions collapse toward class prototypes (paper 4.2's observation).

    For each test image: d_own = RMS distance of its reconstruction to the image itself and
    d_proto = RMS distance to its class's mean train image.  ``proto_ratio`` is the mean of
    d_own / d_proto (above 1: closer to the prototype than to the input) and
    ``proto_closer_frac`` the share of images whose reconstruction is closer to the prototype.

    proto_ratio rises with any loss of detail, class-aware or not (a blur moves it too), so two
    measures discount that:

    * ``proto_ratio_excess``: the mean over images of ratio(reconstruction) - ratio(blur), where
      blur is the input under a Gaussian blur whose sigma is set per image (bisection) so that
      its RMS error equals the reconstruction's: the same PSNR (unclipped, the error d_own
      uses), no knowledge of classes.  ~0: the reconstruction is as prototypical as any
      degradation of its quality; > 0: it leans toward its class mean beyond that.  A
      reconstruction worse than the blurriest blur (sigma 4x the image size, about the image's
      mean) is matched with that blur.
    * ``proto_retrieval_acc``: the share of reconstructions whose nearest test image (RMS) among
      those of the same class is their own input; a collapse onto prototypes drives it toward
      1/(images per class).
    """
    protos = torch.stack([train_x[train_y == c].mean(0) for c in range(num_classes)])  # (K, C, H, W)
    recon = torch.cat([reconstruct(test_x[i:i + EVAL_BATCH])
                       for i in range(0, len(test_x), EVAL_BATCH)])  # (N, C, H, W)
    d_own, d_proto = _rms(recon - test_x), _rms(recon - protos[test_y])  # (N,), (N,)
    ratio = d_own / d_proto.clamp_min(1e-8)
    blur = matched_blur(test_x, d_own)
    ratio_blur = _rms(blur - test_x) / _rms(blur - protos[test_y]).clamp_min(1e-8)

    dist = torch.cdist(recon.flatten(1), test_x.flatten(1),
                       compute_mode="donot_use_mm_for_euclid_dist")  # (N, N): recon i, input j
    dist[test_y[:, None] != test_y[None, :]] = float("inf")  # same class only
    own = dist.argmin(1) == torch.arange(len(test_x), device=dist.device)
    return {"proto_ratio": float(ratio.mean()),
            "proto_closer_frac": int((d_proto < d_own).sum()) / len(test_x),
            "proto_ratio_excess": float((ratio - ratio_blur).mean()),
            "proto_retrieval_acc": int(own.sum()) / len(test_x)}


def _rms(diff: torch.Tensor) -> torch.Tensor:
    return diff.flatten(1).pow(2).mean(1).sqrt()  # (B, ...) -> (B,)


def gaussian_blur(images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """``images`` (B, C, H, W) each blurred with its own ``sigma`` (B,), in pixels.  Kernels are
    truncated at the border and renormalised (no padding values invented), written as
    matrices so that one batched matmul per axis blurs every image with its own sigma."""
    def kernels(n: int) -> torch.Tensor:
        pos = torch.arange(n, dtype=images.dtype, device=images.device)
        d2 = (pos[:, None] - pos[None, :]).pow(2)  # (n, n)
        k = torch.exp(-d2 / (2 * sigma.to(images.dtype).view(-1, 1, 1).pow(2)))  # (B, n, n)
        return (k / k.sum(-1, keepdim=True)).unsqueeze(1)  # (B, 1, n, n), rows sum to 1
    h, w = images.shape[-2:]
    return kernels(h) @ images @ kernels(w).transpose(-1, -2)  # (B, C, H, W)


def matched_blur(images: torch.Tensor, target_rms: torch.Tensor, steps: int = 24,
                 ) -> torch.Tensor:
    """Each image blurred with the sigma whose RMS error to the image is ``target_rms`` (B,),
    found by bisection on log(sigma) (the error grows with sigma; 24 halvings of
    [0.05, 4 x size] pin sigma to 1e-6 relative); deterministic."""
    size = max(images.shape[-2:])
    lo = torch.full_like(target_rms, math.log(0.05))  # sigma 0.05: the image itself
    hi = torch.full_like(target_rms, math.log(4.0 * size))  # about the image's mean
    for _ in range(steps):
        mid = (lo + hi) / 2
        too_blurred = _rms(gaussian_blur(images, mid.exp()) - images) > target_rms
        hi = torch.where(too_blurred, mid, hi)
        lo = torch.where(too_blurred, lo, mid)
    return gaussian_blur(images, ((lo + hi) / 2).exp())


def cached_json(path: Path, compute: Callable[[], Any],
                valid: Callable[[Any], bool] = lambda value: True) -> Any:
    """``compute()`` once per path across processes (file lock), stored atomically as JSON.
    An entry that is not JSON or that ``valid`` refuses is recomputed, never trusted."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if path.exists():
            try:
                value = json.loads(path.read_text())
                if valid(value):
                    return value
            except ValueError:
                pass  # a damaged cache entry is recomputed, never trusted
        values = compute()
        # atomic: a trial killed mid-write would leave a damaged entry for every later trial
        write_text_atomic(json.dumps(values), path)
        return values


def _seeded(seed: int, build: Callable[[], nn.Module]) -> nn.Module:
    """Build a module with its init drawn from ``seed``, leaving torch's global stream as it
    was: results of ``finish`` then depend on the config and the trained state only, not on
    what else ran in the process (another Experiment re-seeds the global stream)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def train_classifier(model: nn.Module, train_inputs: Callable[[torch.Tensor], torch.Tensor],
                     train_y: torch.Tensor, epochs: int, seed: int, device: torch.device) -> None:
    """Train ``model`` with Adam(1e-3) and cross-entropy; leave it in eval mode.

    Inputs come from functions of an index tensor so that large inputs (theta*) can be
    generated per batch instead of held in memory."""
    gen = torch.Generator().manual_seed(seed)
    opt = adam([p for p in model.parameters() if p.requires_grad], PROBE_LR, device)
    n = len(train_y)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen).to(device)
        for i in range(0, n, PROBE_BATCH):
            idx = order[i:i + PROBE_BATCH]
            loss = F.cross_entropy(model(train_inputs(idx)), train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    model.eval()


@torch.no_grad()
def predict(model: nn.Module, inputs: Callable[[torch.Tensor], torch.Tensor], n: int,
            device: torch.device) -> torch.Tensor:
    """The predicted class of inputs 0..n-1, (n,) int64 on ``device``, in batches of
    EVAL_BATCH (the batches ``accuracy`` uses: the same numbers)."""
    if not n:
        return torch.zeros(0, dtype=torch.int64, device=device)
    return torch.cat([model(inputs(torch.arange(i, min(i + EVAL_BATCH, n), device=device)))
                      .argmax(1) for i in range(0, n, EVAL_BATCH)])


@torch.no_grad()
def accuracy(model: nn.Module, inputs: Callable[[torch.Tensor], torch.Tensor], labels: torch.Tensor,
             device: torch.device) -> float:
    correct = 0
    for i in range(0, len(labels), EVAL_BATCH):
        idx = torch.arange(i, min(i + EVAL_BATCH, len(labels)), device=device)
        correct += int((model(inputs(idx)).argmax(1) == labels[idx]).sum())
    return correct / len(labels)
