"""TrainingConfig: every knob of one HyperINR trial, in one place.

A trial is fully described by one ``TrainingConfig``; sweeps vary its fields and the
Parquet results carry every field as a column.  Three named presets exist:

* ``paper`` - the paper's sizes (SIREN's image encoder, latent 256, 5-layer SIREN of width 256).
* ``small`` - a CPU-sized model that still learns MNIST well in minutes.
* ``tiny``  - for tests: widths of 16 and a few hundred images, a trial in seconds.

``from_dict`` is strict (nanoGPT's configurator habit): an unknown key or a value of the
wrong type raises ``ConfigError`` naming the field and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from contract.fields import LABEL_COUNTS, VARIANTS

DATASETS = ("mnist", "mnist-5k", "cifar10")
# VARIANTS (the HyperINR variants and issue 28's controls) and LABEL_COUNTS are named by the
# results contract, whose metric registry reads them too (contract/fields.py says what each is).
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16")
PRETRAINED_ENCODERS = ("finetune", "frozen")
BIAS_HEAD_INITS = ("siren", "fan_in")
THETA_PRIOR_NORMS = ("mean", "sum", "paper")  # hinr.losses.normalized_theta_prior
LATENT_PRIOR_NORMS = ("mean", "sum", "paper")  # hinr.losses.normalized_latent_prior
PIXEL_STANDARDIZATIONS = ("channel", "position", "none")  # hinr.standardize.PIXEL_DIMS


class ConfigError(ValueError):
    """A config value that cannot describe a trial; the message names field and allowed values."""


@dataclass
class TrainingConfig:
    # --- what to train -------------------------------------------------------------------
    dataset: str = "mnist-5k"  # mnist | mnist-5k (offline 4k/1k real digits) | cifar10
    # plain (paper 4.1) | pretrained (4.2) | classifier_loss (5) | the controls of issue 28:
    # autoencoder (same encoder, a conv decoder) | random_encoder (same encoder, untrained)
    variant: str = "plain"
    # --- the loss: MSE + a1*mean(v^2) + a2*theta prior + cls_weight*CE -------------------
    a1: float = 0.1  # weight of the latent prior mean(v^2); the paper follows SIREN: 0.1
    # What a1 multiplies (hinr.losses.normalized_latent_prior), as theta_prior_norm for a2:
    # mean = sum(v^2) / (images x latent_dim), the paper's, whose per-coordinate pull scales
    # with 1/latent_dim (2x harder at latent 32 than at 64 for the same a1); sum =
    # sum(v^2) / images, the same pull per coordinate at any latent size; paper =
    # sum(v^2) / (images x 256), the paper's latent size, so a1 means the paper's
    # per-coordinate pull at any latent size (on latent 256, the same as mean).  Default
    # mean: old results unchanged.  `python -m hinr.losses` prints the conversions per preset.
    latent_prior_norm: str = "mean"
    a2: float = 100.0  # weight of the theta prior mean(theta^2); the paper follows SIREN: 100
    # What a2 multiplies (hinr.losses.normalized_theta_prior): mean = sum(theta^2) / (images x
    # parameters per image), SIREN's and every result's so far, whose per-parameter pull scales
    # with 1/(SIREN parameters): 23x harder on `small` (8,577 per image) than on `paper`
    # (198,401) at the same a2; sum = sum(theta^2) / images; paper = sum(theta^2) / (images x
    # the paper preset's parameters per image), so a2 means the paper's per-parameter pull on
    # any model (on `paper` itself, the same as mean).  Default mean: old results unchanged.
    theta_prior_norm: str = "mean"
    cls_weight: float = 0.1  # weight of the joint classifier's CE (variant classifier_loss only)
    # --- model sizes ---------------------------------------------------------------------
    latent_dim: int = 256  # size of v; the paper uses 256
    inr_depth: int = 5  # number of linear layers in the SIREN (paper: 5)
    inr_width: int = 256  # hidden width of the SIREN (paper: 256)
    omega0: float = 30.0  # SIREN frequency, applied in every sine layer as SIREN's code does
    hyper_hidden: int = 256  # hidden width of each hyper-network head
    # Hidden ReLU layers of each hyper-network head: latent -> hidden (-> hidden)... -> numel.
    # SIREN's FCBlock with its default hyper_hidden_layers=1 has two (in->hidden, hidden->hidden,
    # hidden->out), so SIREN's hyper_hidden_layers=N is hyper_layers: N+1.  Paper: 2.
    hyper_layers: int = 2
    # Init of the bias heads' output biases (the SIREN biases at init): siren = SIREN's
    # hyper_bias_init, U(+-1/hyper_hidden); fan_in = U(+-1/sqrt(in_l)), PyTorch's nn.Linear
    # default for a SIREN layer with in_l inputs (larger: ~2x the a2 prior at init on small).
    bias_head_init: str = "siren"
    encoder_channels: int = 256  # residual-block width; the stem conv uses half of it (128/256)
    encoder_blocks: int = 4  # residual blocks in the conv encoder (SIREN: 4)
    encoder_kernel: int = 5  # kernel of the residual convs (SIREN: 5; 3 is ~2x cheaper on CPU)
    # --- optimisation --------------------------------------------------------------------
    lr: float = 5e-5  # Adam lr for encoder + hyper-network (paper: 5e-5)
    cls_lr: float = 0.01  # Adam lr for the joint classifier head (paper: 0.01)
    batch_size: int = 32  # images per step
    epochs: int = 10  # passes over the training split
    pretrain_epochs: int = 3  # pixel-MLP epochs before training (variant pretrained; paper: 3)
    # Variant pretrained: the pixel MLP's hidden layer initialises the encoder and then trains
    # with the rest (finetune: the paper's "initialised with the pre-trained classifier", and a1
    # acts on v), or stays as pre-trained (frozen: v fixed, so a1 changes nothing).
    pretrained_encoder: str = "finetune"
    probe_epochs: int = 10  # epochs of the downstream latent-MLP / weight-CNN classifiers
    seed: int = 0  # seeds model init, shuffling, masks and noise
    pixel_baselines: bool = True  # also train pixel MLP + CNN classifiers (cached per split+seed)
    # How every pixel classifier (the baselines, variant pretrained's pixel MLP and so its
    # encoder) reads pixels, with training-split statistics (hinr.standardize): channel = per
    # channel, like the probes' standardised inputs; position = per pixel; none = raw [-1, 1],
    # as every result before issue 26 (kept to reproduce those numbers, not to compare with).
    pixel_standardization: str = "channel"
    # Label efficiency (issue 28): also train a linear probe and the MLP probe on v (and, for
    # HyperINR variants, a linear probe and the weight CNN on theta*, and the pixel MLP / CNN
    # baselines) on class-balanced subsets of this many training labels, each scored on the
    # whole test split: a tuple of LABEL_COUNTS, e.g. (100, 1000, "all").  Default (): none of
    # this runs, and a trial's numbers and columns are those of before issue 28.
    label_counts: tuple = ()
    # --- data and hardware ---------------------------------------------------------------
    train_subset: int = 0  # use only the first N training images (0 = all)
    test_subset: int = 0  # use only the first N test images (0 = all)
    # Share of the (subset) training images held out, stratified by label, as the validation
    # split: searches, ASHA and val_* metrics use it, and the test split is scored once at the
    # end and only reported.  0 (explicitly) = no validation split and no val_* metrics.
    val_fraction: float = 0.1
    data_root: str = ""  # "" = $HINR_DATA, else ~/.cache/hinr
    download: bool = False  # fetch mnist/cifar10 when missing (never needed for mnist-5k)
    verify_data: bool = True  # check CIFAR-10's md5 sums (off only for re-packed/fixture batches)
    device: str = "auto"  # auto (cuda if available) | cpu | cuda
    precision: str = "fp32"  # fp32 | bf16: bf16 autocast of the conv encoder (2-2.5x on AMX CPUs)
    threads: int = 0  # torch intra-op threads; 0 = leave torch's default

    # ------------------------------------------------------------------------------------
    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check ranges and choices; raise ConfigError naming the field and what is allowed."""
        _choice("dataset", self.dataset, DATASETS)
        _choice("variant", self.variant, VARIANTS)
        _choice("device", self.device, DEVICES)
        _choice("precision", self.precision, PRECISIONS)
        _choice("pretrained_encoder", self.pretrained_encoder, PRETRAINED_ENCODERS)
        _choice("bias_head_init", self.bias_head_init, BIAS_HEAD_INITS)
        _choice("latent_prior_norm", self.latent_prior_norm, LATENT_PRIOR_NORMS)
        _choice("theta_prior_norm", self.theta_prior_norm, THETA_PRIOR_NORMS)
        _choice("pixel_standardization", self.pixel_standardization, PIXEL_STANDARDIZATIONS)
        self.label_counts = label_counts("label_counts", self.label_counts)
        for name in ("a1", "a2", "cls_weight"):
            if not 0.0 <= getattr(self, name) <= 1e6:
                raise ConfigError(f"{name}={getattr(self, name)!r}: allowed 0 <= {name} <= 1e6")
        positive = ("latent_dim", "inr_width", "hyper_hidden", "hyper_layers",
                    "encoder_channels", "batch_size", "epochs", "probe_epochs")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)!r}: allowed integers >= 1")
        # One module per layer: a depth in the millions would hang building the model (even on
        # the meta device, where sweeps count parameters) before any size limit could refuse it.
        for name, most in (("inr_depth", 64), ("encoder_blocks", 64), ("hyper_layers", 16)):
            if getattr(self, name) > most:
                raise ConfigError(f"{name}={getattr(self, name)!r}: allowed integers up to {most}")
        if self.inr_depth < 2:
            raise ConfigError(f"inr_depth={self.inr_depth!r}: allowed integers >= 2 "
                              "(an input and an output layer)")
        if self.encoder_channels % 2:
            raise ConfigError(f"encoder_channels={self.encoder_channels!r}: allowed even "
                              "integers (the stem conv uses half of it)")
        if self.encoder_kernel < 1 or self.encoder_kernel % 2 == 0:
            raise ConfigError(f"encoder_kernel={self.encoder_kernel!r}: allowed odd integers >= 1")
        for name in ("encoder_blocks", "pretrain_epochs", "train_subset", "test_subset",
                     "seed", "threads"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}={getattr(self, name)!r}: allowed integers >= 0")
        if not 0.0 <= self.val_fraction <= 0.5:
            raise ConfigError(f"val_fraction={self.val_fraction!r}: allowed 0 <= val_fraction "
                              "<= 0.5 (0 = no validation split)")
        for name in ("lr", "cls_lr", "omega0"):
            if not 0 < getattr(self, name) < math.inf:
                raise ConfigError(f"{name}={getattr(self, name)!r}: allowed finite numbers > 0")

    # ------------------------------------------------------------------------------------
    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def field_types(cls) -> dict[str, type]:
        return {f.name: _TYPES[f.type] for f in dataclasses.fields(cls)}

    @classmethod
    def from_dict(cls, values: dict[str, Any], base: "TrainingConfig | None" = None,
                  ) -> "TrainingConfig":
        """Build a config from ``values`` on top of ``base`` (default: the dataclass defaults).

        Unknown keys and wrong types raise ConfigError; ints are accepted for float fields.
        """
        types = cls.field_types()
        unknown = sorted(set(values) - set(types))
        if unknown:
            raise ConfigError(f"unknown config key(s) {', '.join(unknown)}; "
                              f"valid keys: {', '.join(types)}")
        merged = dataclasses.asdict(base) if base is not None else {}
        for key, value in values.items():
            merged[key] = coerce(key, value, types[key])
        return cls(**merged)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def flat_dict(self) -> dict[str, Any]:
        """``to_dict`` with every value a scalar, for one Parquet column per field: a tuple
        (``label_counts``) becomes its text, "100,1000,all" ("" for the empty default)."""
        return {k: ",".join(map(str, v)) if isinstance(v, tuple) else v
                for k, v in self.to_dict().items()}

    def replace(self, **overrides: Any) -> "TrainingConfig":
        return type(self).from_dict(overrides, base=self)


_TYPES = {"str": str, "float": float, "int": int, "bool": bool, "tuple": tuple,
          str: str, float: float, int: int, bool: bool, tuple: tuple}


def coerce(key: str, value: Any, typ: type) -> Any:
    """Return ``value`` as ``typ`` or raise ConfigError; never guesses from strings."""
    if typ is bool:
        if isinstance(value, bool):
            return value
    elif typ is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif typ is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif typ is str:
        if isinstance(value, str):
            return value
    elif typ is tuple:
        if isinstance(value, (list, tuple)):
            return tuple(value)  # the field's own rule checks the items (label_counts)
    raise ConfigError(f"{key}={value!r}: expected {typ.__name__}, got {type(value).__name__}")


def label_counts(name: str, value: Any) -> tuple:
    """``value`` as a valid ``label_counts``: a tuple of distinct LABEL_COUNTS, in their
    order (so that one setting has one spelling, in sweep.yaml and in Parquet); else
    ConfigError naming what is allowed."""
    allowed = ", ".join(map(str, LABEL_COUNTS))
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{name}={value!r}: expected a list of label counts ({allowed})")
    items = list(value)
    for item in items:
        if isinstance(item, bool) or item not in LABEL_COUNTS:
            raise ConfigError(f"{name}={value!r}: {item!r} is not a label count; allowed: a "
                              f"list of {allowed} (each a registered metric per probe)")
    if len(set(items)) != len(items):
        raise ConfigError(f"{name}={value!r}: a label count appears twice")
    return tuple(c for c in LABEL_COUNTS if c in items)


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}={value!r}: allowed values are {', '.join(allowed)}")


# --------------------------------------------------------------------------------------
# Presets (MAE's model-factory habit: one named function per size).

def paper(**overrides: Any) -> TrainingConfig:
    """The paper's model: SIREN's conv image encoder (128 then 256 channels, 4 residual blocks
    of 5x5 convs), latent 256, 5-layer SIREN of width 256, hyper-network heads as SIREN's
    FCBlock (two hidden ReLU layers of 256) with SIREN's bias-head init, a1=0.1, a2=100,
    Adam 5e-5, and (variant pretrained) the pre-trained encoder fine-tuned.  The 5x5 kernels
    cost about 2x per step over 3x3 on a CPU; this preset is meant for GPUs."""
    return TrainingConfig.from_dict(overrides, base=TrainingConfig(
        latent_dim=256, inr_depth=5, inr_width=256, hyper_hidden=256, hyper_layers=2,
        bias_head_init="siren", pretrained_encoder="finetune",
        encoder_channels=256, encoder_blocks=4, encoder_kernel=5,
        a1=0.1, a2=100.0, lr=5e-5, batch_size=32))


def small(**overrides: Any) -> TrainingConfig:
    """A CPU-sized model (encoder 64 channels, 2 residual 3x3 blocks, latent 64, 4-layer SIREN
    of width 64, lr 5e-4): a few hundred images/s on 2 cores, ~19 dB and ~96% latent-MLP
    accuracy after a few minutes on mnist-5k."""
    # Trade-off: two departures from the paper/SIREN are kept so that small's results stay
    # what they were, bit for bit (docs/results-cpu.md, every small sweep so far); neither is
    # about cost (a second hidden head layer is a negligible share of a step's FLOPs here):
    # * hyper_layers 1: heads of one hidden ReLU layer (SIREN's FCBlock: two);
    # * bias_head_init fan_in: SIREN biases at init from U(+-1/sqrt(in)), not SIREN's
    #   U(+-1/hyper_hidden) (8x wider on the hidden layers, ~2x the a2 prior at init).
    # Fine-tuning the pre-trained encoder is the paper's choice and small's too: frozen made
    # a1 inert for variant pretrained (v gets no gradient); this changes pretrained trials only.
    return TrainingConfig.from_dict(overrides, base=TrainingConfig(
        latent_dim=64, inr_depth=4, inr_width=64, hyper_hidden=64, hyper_layers=1,
        bias_head_init="fan_in", pretrained_encoder="finetune",
        encoder_channels=64, encoder_blocks=2, encoder_kernel=3,
        lr=5e-4, batch_size=32, epochs=8, probe_epochs=10))


# What makes the tiny preset fast: sizes, schedule and data.  The tiny mode of a sweep
# (sweeps.tiny.tiny_mode) replaces the sweep's own values of exactly these with tiny's and keeps
# the rest (variant, priors, head layout), so every code path the sweep names still runs.
TINY_SPEED = dict(latent_dim=16, inr_depth=3, inr_width=16, hyper_hidden=16,
                  encoder_channels=16, encoder_blocks=1, encoder_kernel=3,
                  lr=1e-3, batch_size=32, epochs=1, pretrain_epochs=1, probe_epochs=3,
                  train_subset=256, test_subset=128)


def tiny(**overrides: Any) -> TrainingConfig:
    """For tests: widths of 16, 256 train / 128 test images, one epoch; a trial in seconds."""
    return TrainingConfig.from_dict(overrides, base=TrainingConfig(
        hyper_layers=1, bias_head_init="fan_in", pretrained_encoder="finetune",  # as small
        **TINY_SPEED))


PRESETS = {"paper": paper, "small": small, "tiny": tiny}


def preset(name: str, /, **overrides: Any) -> TrainingConfig:
    """A named preset with overrides applied (validated like from_dict)."""
    if name not in PRESETS:
        raise ConfigError(f"preset={name!r}: allowed values are {', '.join(PRESETS)}")
    return PRESETS[name](**overrides)
