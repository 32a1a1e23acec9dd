"""A trial's config as the results contract knows it: every field's column, and the values of
the two fields the metric registry depends on.

``trials.parquet`` has one ``config.<field>`` column per ``hinr.config.TrainingConfig``
field; the checked reader (``contract.resultsdir``) needs each field's type to know what its
column may hold, and it may not import ``hinr`` (the contract is the bottom layer).  So the
fields are named here, and ``tests/test_config.py`` fails if ``TrainingConfig`` ever
disagrees.  ``hinr.config`` imports the variant names and the label counts from here, so the
registry (``contract.metrics``: who reports what, one metric per label count) and the config's
validation read one list.
"""

from __future__ import annotations

#: every TrainingConfig field, in its order -> its type's name (the dataclass annotation):
#: "str", "float", "int", "bool" or "tuple" (a tuple is written as its text: label_counts)
CONFIG_FIELDS = {
    "dataset": "str", "variant": "str", "a1": "float", "latent_prior_norm": "str",
    "a2": "float", "theta_prior_norm": "str", "cls_weight": "float",
    "latent_dim": "int", "inr_depth": "int", "inr_width": "int", "omega0": "float",
    "hyper_hidden": "int", "hyper_layers": "int", "bias_head_init": "str",
    "encoder_channels": "int", "encoder_blocks": "int", "encoder_kernel": "int",
    "lr": "float", "cls_lr": "float", "batch_size": "int", "epochs": "int",
    "pretrain_epochs": "int", "pretrained_encoder": "str", "probe_epochs": "int", "seed": "int",
    "pixel_baselines": "bool", "pixel_standardization": "str", "label_counts": "tuple",
    "train_subset": "int", "test_subset": "int", "val_fraction": "float",
    "data_root": "str", "download": "bool", "verify_data": "bool",
    "device": "str", "precision": "str", "threads": "int",
}

# The HyperINR variants (paper 4.1, 4.2, 5) and two controls of issue 28, each the same trial
# with one part swapped: autoencoder = the same encoder and latent decoded by an ordinary conv
# decoder (hinr.models.ConvDecoder: no hyper-network, no INR); random_encoder = the same
# encoder at its seeded random init, never trained (features only: no decoder, nothing to
# reconstruct).  Only HyperINR variants have theta (the weight probes, the theta prior).
HYPERINR_VARIANTS = ("plain", "pretrained", "classifier_loss")
CONTROL_VARIANTS = ("autoencoder", "random_encoder")
VARIANTS = HYPERINR_VARIANTS + CONTROL_VARIANTS
#: variants with a decoder, hence reconstructions (PSNR, image operations, prototypes)
RECONSTRUCTING_VARIANTS = HYPERINR_VARIANTS + ("autoencoder",)

# Training labels the label-efficiency probes may be given (config ``label_counts``): each
# count is a registered metric per probe (contract.metrics.label_metric), so the counts are a
# fixed list; "all" is the whole training split (the full-label probes).  Class-balanced
# subsets need a count divisible by 10 classes to be balanced exactly; these are.
LABEL_COUNTS = (100, 300, 1000, 3000, "all")
