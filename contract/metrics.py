"""Every metric a trial reports, named once: the one registry of metrics.

The spec (what a search may select on), the Parquet writer (which reported keys are metric
columns), the console (progress and summary lines), TensorBoard (tags are the names) and
analysis (labels, units, which tables show what) all read this table instead of keeping
their own lists.  Adding a metric is one ``Metric(...)`` line here plus the code in
``hinr.training`` / ``hinr.evaluate`` that computes it; ``tests/test_metrics.py`` runs a real trial and fails
if the two disagree.  ``DEFAULT_METRIC`` is what a sweep selects on when its file names none.

Part of the results contract: it imports neither torch nor pyarrow (only the standard library
and ``contract.fields``, for the variant names and label counts), so ``analysis`` and the spec
validator read it without loading torch.

Variants (issue 28): a metric of a reconstruction (PSNRs, the loss terms, the image
operations, the prototype measures) is reported by every variant with a decoder, not by
``random_encoder`` (an encoder alone: nothing reconstructs); a metric of theta (the theta
prior, the weight probes) only by the HyperINR variants, not by ``autoencoder`` or
``random_encoder`` (no hyper-network, no theta).  Those trials leave them null: absent, never
a stand-in number.

Naming: a loss term keeps its concept's name everywhere.  ``a1`` weighs the *latent prior*
mean(v^2) (column ``<split>_latent_prior``), ``a2`` the *theta prior* mean(theta^2) over
every generated INR weight and bias (``<split>_theta_prior``).  Results written before these
names were ``*_latent_reg`` / ``*_weight_reg``; ``LEGACY_NAMES`` maps them so old files still
read (the values are the same numbers under the old name).
"""

from __future__ import annotations

from dataclasses import dataclass

from .fields import HYPERINR_VARIANTS, LABEL_COUNTS, RECONSTRUCTING_VARIANTS

#: what a metric is shown in; each view keeps the registry's order
VIEWS = (
    "table",          # the report's per-factor table (analysis.tables.TABLE_METRICS)
    "effect",         # effects tested with Holm (analysis.tables.EFFECT_METRICS)
    "compare",        # the cross-sweep comparison (analysis.tables.COMPARE_METRICS)
    "op_difference",  # an image operation minus a baseline, shown with the operations
    "curve",          # learning curves (analysis.plots.CURVE_METRICS)
    "scatter",        # per-factor scatter of final metrics (analysis.plots.SCATTER_METRICS)
    "summary",        # the console's best-trial line, after the sweep's own metric
    "progress",       # Ray's verbose status table (sweeps.tune.run.PROGRESS_METRICS)
    "design",         # a designed sweep's model effects, estimated on its val_twin (analysis.model_effects)
)


@dataclass(frozen=True)
class Metric:
    name: str
    when: str  # "epoch": every epoch (usable by ASHA); "final": once, after the last epoch
    split: str  # "train" | "val" | "test": the images it is measured on
    label: str  # for people: axis labels, table headers
    unit: str = ""  # "dB", "%", "images/s", "s" or "" (a plain number)
    scale: float = 1.0  # Parquet value * scale = shown value (fractions shown in percent)
    # The direction a search may optimise: "max" | "min", or None where "better" has no meaning
    # (a cost, a flag, or a loss term that is traded against the others by design).
    better: str | None = None
    # Variants that report it; () = every variant.  The spec refuses selecting on a metric
    # some of a sweep's variants never report (the search would see holes).
    variants: tuple[str, ...] = ()
    # Defined only where the joint classification head was trained (cls_weight > 0): an
    # untrained head scores chance, which must never read as a result.
    needs_head: bool = False
    # A test metric's validation twin: what a search selects on instead (None: there is none).
    val_twin: str | None = None
    views: tuple[str, ...] = ()
    baseline_of: str | None = None  # an image operation's baseline: the operation's PSNR metric
    short: str = ""  # a baseline's short name beside the operation's

    @property
    def bounded(self) -> bool:
        """A proportion (accuracy, fraction of images): its interval must stay in [0, 100]%."""
        return self.unit == "%"

    @property
    def selectable(self) -> bool:
        """May a search, a scheduler or "best trial" select on it?  Never on test: selecting on
        the test split would tune to it; and only where "better" means something."""
        return self.split != "test" and self.better is not None


def _m(*args, **kwargs) -> Metric:
    return Metric(*args, **kwargs)


def _loss_terms(split: str, when: str) -> tuple[Metric, ...]:
    """The weighted loss terms of hinr.losses on one split: the same three on every split."""
    on = {"train": "training", "val": "validation", "test": "test"}[split]
    return (_m(f"{split}_latent_prior", when, split,
               f"latent prior mean(v^2), {on} (weighted by a1)", variants=_DECODED),
            _m(f"{split}_theta_prior", when, split,
               f"theta prior mean(theta^2), {on} (weighted by a2)", variants=_THETA),
            _m(f"{split}_cls_ce", when, split, f"joint-head cross-entropy, {on}",
               variants=("classifier_loss",)))


_PSNR_TABLE = ("table",)
_ACC = {"unit": "%", "scale": 100.0, "better": "max"}
#: who reports what (module docstring): a reconstruction needs a decoder, theta a HyperINR
_DECODED = RECONSTRUCTING_VARIANTS
_THETA = HYPERINR_VARIANTS
_RECON = {"variants": _DECODED}


# ------------------------------------------------------------------------------------
# Label efficiency (issue 28; config label_counts): probes trained on class-balanced subsets
# of the training labels, each scored on the whole test split.

@dataclass(frozen=True)
class LabelProbe:
    """One classifier of the label-efficiency curves."""
    probe: str  # its name in PROBES (per-image predictions, pred.<probe>)
    metric: str  # its accuracy with every training label; <metric>_n<count> with fewer
    reads: str  # "v", "theta*" or "pixels"
    label: str
    variants: tuple[str, ...] = ()  # () = every variant


LABEL_PROBES = (
    LabelProbe("latent_linear", "linear_acc", "v", "linear probe on v"),
    LabelProbe("latent_mlp", "latent_acc", "v", "latent-MLP probe on v"),
    LabelProbe("weight_linear", "weight_linear_acc", "theta*", "linear probe on theta*",
               HYPERINR_VARIANTS),
    LabelProbe("weight_cnn", "weight_acc", "theta*", "weight-CNN probe on theta*",
               HYPERINR_VARIANTS),
    LabelProbe("pixel_mlp", "pixel_mlp_acc", "pixels", "pixel MLP"),
    LabelProbe("pixel_cnn", "pixel_cnn_acc", "pixels", "pixel CNN"),
)


def label_suffix(count) -> str:
    """"" for "all" (the full-label name), else ``_n<count>``."""
    return "" if count == "all" else f"_n{count}"


def label_metric(metric: str, count) -> str:
    """The metric of a probe (by its full-label metric) trained on ``count`` labels:
    ``latent_acc_n100``; with "all" the full-label metric itself (``latent_acc``: the same
    probe, trained the same way, so one name and one column)."""
    return metric + label_suffix(count)


def label_probe(probe: str, count) -> str:
    """The per-image predictions' name (a key of PROBES) of ``probe`` at ``count`` labels."""
    return probe + label_suffix(count)


def _label_metrics() -> tuple["Metric", ...]:
    out = []
    for p in LABEL_PROBES:
        if p.metric == "linear_acc" or p.metric == "weight_linear_acc":
            out.append(_m(p.metric, "final", "test", f"{p.label}, all training labels", **_ACC,
                          variants=p.variants))
        for count in LABEL_COUNTS:
            if count != "all":
                out.append(_m(label_metric(p.metric, count), "final", "test",
                              f"{p.label}, {count:,} training labels", **_ACC,
                              variants=p.variants))
    return tuple(out)

# Order matters: every view and every derived list keeps it (the report's table order, the
# spec's "allowed:" lists).  val_* epoch metrics come before train_* ones so that Ray's table
# shows val_psnr first.
METRICS: tuple[Metric, ...] = (
    # --- reconstruction
    _m("test_psnr", "final", "test", "test PSNR", "dB", better="max", val_twin="val_psnr", **_RECON,
       views=("table", "effect", "compare", "scatter", "summary", "progress", "design")),
    _m("val_psnr", "epoch", "val", "validation PSNR", "dB", better="max", **_RECON,
       views=("table", "compare", "curve", "progress")),
    _m("val_mse", "epoch", "val", "validation MSE", better="min", **_RECON),
    _m("val_loss", "epoch", "val", "validation loss", better="min", **_RECON),
    # --- classifiability of the representation (paper 4.1, 4.2, 5)
    _m("latent_acc", "final", "test", "latent-classifier accuracy", **_ACC, val_twin="val_latent_acc",
       views=("table", "effect", "compare", "scatter", "summary", "progress", "design")),
    _m("val_latent_acc", "final", "val", "validation latent-classifier accuracy", **_ACC,
       views=("table",)),
    _m("weight_acc", "final", "test", "weight-classifier accuracy", **_ACC, val_twin="val_weight_acc",
       variants=_THETA,
       views=("table", "effect", "compare", "scatter", "summary", "progress", "design")),
    _m("val_weight_acc", "final", "val", "validation weight-classifier accuracy", **_ACC,
       variants=_THETA, views=("table",)),
    _m("joint_acc", "final", "test", "joint-head accuracy", **_ACC, val_twin="val_joint_acc",
       variants=("classifier_loss",), needs_head=True,
       views=("table", "effect", "compare", "scatter", "summary", "progress")),
    _m("val_joint_acc", "epoch", "val", "validation joint-head accuracy", **_ACC,
       variants=("classifier_loss",), needs_head=True, views=("table",)),
    _m("pretrain_mlp_acc", "final", "test", "pretrained pixel-MLP accuracy", **_ACC,
       variants=("pretrained",), views=("table", "summary")),
    # --- image operations and their baselines (hinr.imageops)
    _m("sr_psnr", "final", "test", "super-resolution PSNR", "dB", better="max",
       views=("table", "effect", "compare"), **_RECON),
    _m("sr_bilinear_psnr", "final", "test", "bilinear upsampling PSNR (naive baseline)", "dB",
       views=_PSNR_TABLE, baseline_of="sr_psnr", short="bilinear", **_RECON),
    _m("sr_bicubic_psnr", "final", "test", "bicubic upsampling PSNR (baseline)", "dB",
       views=_PSNR_TABLE, baseline_of="sr_psnr", short="bicubic", **_RECON),
    _m("sr_gain_db", "final", "test", "super-resolution minus bilinear upsampling", "dB",
       better="max", views=("table", "op_difference"), **_RECON),
    _m("sr_vs_bicubic_db", "final", "test", "super-resolution minus bicubic upsampling", "dB",
       better="max", views=("table", "compare", "op_difference"), **_RECON),
    _m("inpaint_psnr", "final", "test", "inpainting PSNR (hole)", "dB", better="max",
       views=("table", "effect", "compare"), **_RECON),
    _m("inpaint_meanfill_psnr", "final", "test", "mean-fill PSNR (naive baseline)", "dB",
       views=_PSNR_TABLE, baseline_of="inpaint_psnr", short="mean fill", **_RECON),
    _m("inpaint_biharmonic_psnr", "final", "test",
       "biharmonic inpainting PSNR (scikit-image baseline)", "dB", views=_PSNR_TABLE,
       baseline_of="inpaint_psnr", short="biharmonic (scikit-image)", **_RECON),
    _m("inpaint_gain_db", "final", "test", "inpainting minus mean fill", "dB", better="max",
       views=("table", "op_difference"), **_RECON),
    _m("inpaint_vs_biharmonic_db", "final", "test",
       "inpainting minus biharmonic inpainting (scikit-image)", "dB", better="max",
       views=("table", "compare", "op_difference"), **_RECON),
    _m("denoise_psnr", "final", "test", "denoising PSNR", "dB", better="max",
       views=("table", "effect", "compare"), **_RECON),
    _m("denoise_noisy_psnr", "final", "test",
       "noisy-input PSNR, clipped to the image range (naive baseline)", "dB", views=_PSNR_TABLE,
       baseline_of="denoise_psnr", short="noisy input clipped", **_RECON),
    _m("denoise_noisy_unclipped_psnr", "final", "test",
       "noisy-input PSNR, unclipped (naive baseline)", "dB", views=_PSNR_TABLE,
       baseline_of="denoise_psnr", short="noisy input unclipped", **_RECON),
    _m("denoise_tv_psnr", "final", "test", "TV denoising PSNR (scikit-image, Chambolle; baseline)",
       "dB", views=_PSNR_TABLE, baseline_of="denoise_psnr", short="TV denoising (scikit-image)",
       **_RECON),
    _m("denoise_gain_db", "final", "test", "denoising minus the clipped noisy input", "dB",
       better="max", views=("table", "op_difference"), **_RECON),
    _m("denoise_vs_tv_db", "final", "test", "denoising minus TV denoising (scikit-image)", "dB",
       better="max", views=("table", "compare", "op_difference"), **_RECON),
    # --- the loss, term by term (hinr.losses), per split.  No "better": the priors and the
    # classification term are traded against the reconstruction by design (a1, a2, cls_weight).
    _m("train_loss", "epoch", "train", "training loss (MSE + priors + CE)", better="min",
       **_RECON, views=("curve", "progress")),
    _m("train_mse", "epoch", "train", "training MSE", better="min", **_RECON),
    *_loss_terms("train", "epoch"),
    *_loss_terms("val", "epoch"),
    _m("test_mse", "final", "test", "test MSE", better="min", val_twin="val_mse", **_RECON),
    _m("test_loss", "final", "test", "test loss", better="min", val_twin="val_loss", **_RECON),
    *_loss_terms("test", "final"),
    # --- prototypical convergence (paper 4.2), see hinr.prototypes.prototype_scores
    _m("proto_ratio", "final", "test", "distance to input / distance to class mean", **_RECON),
    _m("proto_ratio_excess", "final", "test", "prototype ratio minus a PSNR-matched blur's",
       **_RECON),
    _m("proto_closer_frac", "final", "test", "reconstructions closer to the class mean",
       "%", 100.0, **_RECON),
    _m("proto_retrieval_acc", "final", "test", "reconstructions retrieving their own input",
       **_ACC, **_RECON),
    # --- what the representation is measured against: classifiers on raw pixels
    _m("pixel_mlp_acc", "final", "test", "pixel-MLP accuracy (raw-pixel baseline)", **_ACC),
    _m("pixel_cnn_acc", "final", "test", "pixel-CNN accuracy (raw-pixel baseline)", **_ACC),
    # --- how the probes read the representation (flags recorded with the results)
    _m("latent_probe_standardized", "final", "train", "latent probe inputs standardised (1 = yes)"),
    _m("weight_probe_standardization", "final", "train",
       "weight probe standardisation (0 scalar, 1 layer, 2 position)", variants=_THETA),
    # --- label efficiency (config label_counts), see LABEL_PROBES
    *_label_metrics(),
    _m("label_count_all", "final", "train",
       "training labels of label count 'all' (the training split)"),
    # --- cost
    _m("step", "epoch", "train", "optimizer steps so far"),
    _m("train_images_per_s", "epoch", "train", "training throughput", "images/s", **_RECON),
    _m("train_seconds", "epoch", "train", "training time of the epoch", "s", **_RECON),
    _m("eval_images_per_s", "epoch", "val", "validation throughput", "images/s", **_RECON),
    _m("trial_seconds", "epoch", "train", "time since the trial started", "s"),
)

#: The classifiers whose per-image test predictions a trial keeps (``hinr.evaluate.Evaluation.outputs``,
#: written to results/<sweep>/predictions/ as ``pred.<probe>``), each with the registered
#: accuracy metric its predictions reproduce (the share of them equal to the label).  A trial
#: has the probes it ran: joint only where the head trained, pretrain_mlp only for variant
#: pretrained, pixel_mlp / pixel_cnn only with pixel_baselines on; weight_cnn only for
#: HyperINR variants; the label-efficiency probes only for the label counts the trial ran.
PROBES = {"latent_mlp": "latent_acc", "weight_cnn": "weight_acc", "joint": "joint_acc",
          "pretrain_mlp": "pretrain_mlp_acc", "pixel_mlp": "pixel_mlp_acc",
          "pixel_cnn": "pixel_cnn_acc",
          # label efficiency (config label_counts): the linear probes with every label, then
          # each probe at each smaller count (``label_probe``: latent_mlp_n100 -> latent_acc_n100)
          "latent_linear": "linear_acc", "weight_linear": "weight_linear_acc",
          **{label_probe(p.probe, c): label_metric(p.metric, c) for p in LABEL_PROBES
             for c in LABEL_COUNTS if c != "all"}}

#: the loss weights (TrainingConfig fields) -> the term each weighs, as the report names them
LOSS_WEIGHTS = {"a1": "latent prior mean(v^2)", "a2": "theta prior mean(theta^2)",
                "cls_weight": "joint-head cross-entropy"}

REGISTRY: dict[str, Metric] = {m.name: m for m in METRICS}
assert len(REGISTRY) == len(METRICS), "a metric is registered twice"

#: what a sweep selects on (search, scheduler, best trial) when its file names no metric
DEFAULT_METRIC = "val_psnr"
assert REGISTRY[DEFAULT_METRIC].selectable, "the default metric must be one a search may select on"

#: columns of results written before a concept got its one name -> the name now
LEGACY_NAMES = {f"{split}_{old}": f"{split}_{new}" for split in ("train", "val", "test")
                for old, new in (("latent_reg", "latent_prior"), ("weight_reg", "theta_prior"))}


def get(name: str) -> Metric | None:
    return REGISTRY.get(LEGACY_NAMES.get(name, name))


def names(view: str | None = None, *, when: str | None = None, split: str | None = None,
          selectable: bool | None = None) -> tuple[str, ...]:
    """The registry's names, in its order, filtered by view, timing, split or selectability."""
    if view is not None and view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; allowed: {', '.join(VIEWS)}")
    return tuple(m.name for m in METRICS
                 if (view is None or view in m.views) and (when is None or m.when == when)
                 and (split is None or m.split == split)
                 and (selectable is None or m.selectable == selectable))


def is_db(name: str) -> bool:
    info = get(name)
    # names outside the registry (files of older versions) keep the old suffix rule
    return info.unit == "dB" if info else name.endswith(("psnr", "_db"))
