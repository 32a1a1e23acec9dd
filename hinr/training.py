"""One HyperINR training run as a plain Python object: what a sweep's trainable wraps.

    run = TrainingRun(cfg)                # splits the data, builds models and optimiser
    for _ in range(cfg.epochs):
        run.train_epoch()                 # {'epoch', 'train_loss', 'train_mse', ...}
        run.evaluate()                    # validation split: {'val_mse', 'val_psnr', ...}
    hinr.evaluate.finish(run)             # test_* once, probes, image operations (not here)

The training split is cut into train and validation (``cfg.val_fraction``, stratified): the
model and every probe train on the rest, per-epoch metrics and searches use validation, and
the test split is scored once, by ``hinr.evaluate.finish``, only to be reported.

The controls of issue 28 run through the same object: variant ``autoencoder`` trains its
encoder and conv decoder like the HyperINR (no theta, no a2 term), variant ``random_encoder``
has no decoder and never trains (each "epoch" is an empty pass; it reports no reconstruction
metric).  Every result is a flat dict of floats.  ``state_dict()`` / ``load_state_dict()``
capture models, optimiser, RNG streams and counters, so save -> load -> continue gives the
same numbers as running straight through.  No logging, files or Ray here: the caller owns
those (``sweeps.checkpoint`` writes and reads the state).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from . import data as data_mod
from . import seeds, standardize
from .classifiers import LatentMLP
from .config import TrainingConfig
from .fitting import EVAL_BATCH, adam, predict, train_classifier
from .losses import hyperinr_loss, psnr
from .models import HyperINR, PixelMLP, PretrainedEncoder, build_model

# The validation carve's seed is fixed, not cfg.seed: every trial of a sweep, whatever its
# seed, is then selected on the same images, so a difference in val_* between two trials is
# never a difference in which images were held out (seed replicates vary training only).
VAL_SPLIT_SEED = 0


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


@dataclass
class Scores:
    """One split scored by ``TrainingRun.score``: the flat metrics, each image's PSNR (N,),
    the joint head's prediction per image (N,) when it is trained, and an example grid (8
    originals then their reconstructions, on the CPU)."""
    metrics: dict[str, float]
    psnr: torch.Tensor
    joint: torch.Tensor | None
    example: torch.Tensor


class TrainingRun:
    """One trial's training: data splits, models, optimiser, RNG streams and counters."""

    def __init__(self, cfg: TrainingConfig, data: data_mod.ImageData | None = None):
        self.cfg = cfg
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.device = resolve_device(cfg.device)
        check_precision(cfg.precision, self.device)
        loaded = data if data is not None else data_mod.load(cfg)
        loaded = loaded.subset(cfg.train_subset, cfg.test_subset)
        self.num_classes = loaded.num_classes
        self._split(loaded)
        self.coords = data_mod.grid(*loaded.size, device=self.device)  # (H*W, 2)
        # what every pixel classifier reads (the baselines, variant pretrained's pixel MLP and
        # the encoder made of it): statistics of the training split, validation held out
        self.pixel_input = standardize.pixels(self.train_x, cfg.pixel_standardization)
        self._init_weights(loaded.channels, loaded.size)
        self.has_theta = isinstance(self.model, HyperINR)  # the weight probes read theta*
        self.decodes = cfg.variant != "random_encoder"  # reconstructions, training, val_*
        # Label efficiency: the class-balanced subsets, drawn now so that a count the training
        # split cannot hold is refused before any training (hinr.data.label_subsets)
        self.label_subsets: dict[int, torch.Tensor] = {}
        if cfg.label_counts:
            counts = tuple(c for c in cfg.label_counts if c != "all")
            self.label_subsets = {n: idx.to(self.device) for n, idx in data_mod.label_subsets(
                self.train_y, counts, cfg.seed + seeds.LABEL_SUBSETS, self.num_classes).items()}
        # With cls_weight 0 the head gets no gradient: it is neither run nor scored, so no
        # chance-level joint_acc is ever reported as if it were a result.
        self.joint = self.head is not None and cfg.cls_weight > 0
        self.optimizer = self._optimizer()
        self.shuffle = torch.Generator().manual_seed(cfg.seed)
        self.epoch = 0
        self.step = 0
        self.pretrained = False  # variant pretrained: has the pixel MLP been trained yet?
        self.extra: dict[str, float] = {}  # results computed once (pretraining accuracy)
        # per-image test predictions computed once (pretraining), kept in checkpoints like extra
        self.extra_predictions: dict[str, torch.Tensor] = {}
        self._examples: dict[str, torch.Tensor] = {}

    def _split(self, loaded: data_mod.ImageData) -> None:
        """The train, validation and test images on the device; validation is carved after
        train_subset, which then sizes the whole training split as before the carve."""
        cfg = self.cfg
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

    def _init_weights(self, channels: int, size: tuple[int, int]) -> None:
        """Every initial weight of the run, drawn in this order from torch's global stream
        seeded with ``cfg.seed`` (its only consumer: probes and baselines draw from seeds of
        their own): the model, variant pretrained's pixel MLP, classifier_loss's joint head."""
        cfg = self.cfg
        torch.manual_seed(cfg.seed)
        self.model = build_model(cfg, channels, size).to(self.device)
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

    def _optimizer(self) -> torch.optim.Adam | None:
        """Adam over the model (lr) and the joint head (cls_lr); random_encoder trains
        nothing: no optimiser (its checkpoints hold an empty state)."""
        cfg = self.cfg
        groups = [{"params": [p for p in self.model.parameters() if p.requires_grad], "lr": cfg.lr}]
        if self.head is not None:
            groups.append({"params": list(self.head.parameters()), "lr": cfg.cls_lr})
        return adam(groups, cfg.lr, self.device) if self.decodes else None

    # ----------------------------------------------------------------------------------
    def _forward_loss(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        recon, v, theta = self.model(x, self.coords)
        logits = self.head(v) if self.joint else None
        terms = hyperinr_loss(recon, x, v, theta, self.cfg.a1, self.cfg.a2,
                              logits, y, self.cfg.cls_weight, self.cfg.theta_prior_norm,
                              self.cfg.latent_prior_norm)
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
        reconstruction, no loss).  The test split is scored by hinr.evaluate.finish."""
        if not len(self.val_x) or not self.decodes:
            return {}
        start = time.perf_counter()
        scores = self.score(self.val_x, self.val_y, "val")
        self._examples["reconstruction"] = scores.example
        out = scores.metrics
        out["eval_images_per_s"] = len(self.val_x) / (time.perf_counter() - start)
        return out

    @torch.no_grad()
    def score(self, images: torch.Tensor, labels: torch.Tensor, split: str) -> Scores:
        """Loss terms, PSNR and (trained head only) joint accuracy on one split, as
        ``{split}_*``; the test split's joint accuracy keeps its name ``joint_acc``."""
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
                example = torch.cat([x[:k], terms["_recon"][:k]]).cpu()
        out = {f"{split}_{k}": s / n for k, s in sums.items()}
        out[f"{split}_psnr"] = psnr_sum / n
        if self.joint:
            out["joint_acc" if split == "test" else f"{split}_joint_acc"] = correct / n
        return Scores(out, torch.cat(per_image), torch.cat(joint_pred) if self.joint else None,
                      example)

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

    def examples(self) -> dict[str, torch.Tensor]:
        """Image stacks in [-1, 1] (rows of originals then outputs) from the last evaluate()."""
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
