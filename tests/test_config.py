"""TrainingConfig: presets, strict from_dict, types, choices and ranges."""

from __future__ import annotations

import dataclasses

import pytest

from contract.fields import CONFIG_FIELDS
from hinr import ConfigError, TrainingConfig, preset
from hinr.config import PRESETS


@pytest.mark.parametrize("name", ["paper", "small", "tiny"])
def test_presets_build_and_round_trip(name):
    cfg = preset(name)
    assert isinstance(cfg, TrainingConfig)
    assert TrainingConfig.from_dict(cfg.to_dict()) == cfg
    assert PRESETS[name]() == cfg


def test_the_contract_names_every_field_with_its_type():
    """contract/fields.py states each field's config.<field> column for the checked reader, which
    may not import hinr: the two lists must be one list."""
    assert {f.name: f.type for f in dataclasses.fields(TrainingConfig)} == CONFIG_FIELDS
    assert TrainingConfig.field_names() == list(CONFIG_FIELDS)


def test_preset_sizes():
    paper = preset("paper")
    assert (paper.latent_dim, paper.inr_depth, paper.inr_width) == (256, 5, 256)
    assert (paper.a1, paper.a2, paper.lr) == (0.1, 100.0, 5e-5)
    assert (paper.encoder_channels, paper.encoder_blocks, paper.encoder_kernel) == (256, 4, 5)
    tiny = preset("tiny")
    assert (tiny.train_subset, tiny.test_subset, tiny.inr_width) == (256, 128, 16)


def test_fidelity_switches_paper_has_siren_values_small_keeps_its_own():
    """paper: SIREN's FCBlock heads (hyper_hidden_layers=1: two hidden layers), SIREN's
    hyper_bias_init, the pre-trained encoder fine-tuned.  small (and tiny, its shrunk copy)
    keep one hidden head layer and fan_in bias init, as before the switches existed."""
    fields = ("hyper_layers", "bias_head_init", "pretrained_encoder")
    assert tuple(getattr(preset("paper"), f) for f in fields) == (2, "siren", "finetune")
    assert tuple(getattr(TrainingConfig(), f) for f in fields) == (2, "siren", "finetune")
    for name in ("small", "tiny"):
        assert tuple(getattr(preset(name), f) for f in fields) == (1, "fan_in", "finetune")
    assert preset("small", pretrained_encoder="frozen").pretrained_encoder == "frozen"


def test_fair_comparison_defaults():
    """Every classifier reads standardised input by default (issue 26); a2's prior stays a
    mean by default, so results of older sweeps are unchanged."""
    for cfg in (TrainingConfig(), *(preset(name) for name in PRESETS)):
        assert (cfg.pixel_standardization, cfg.theta_prior_norm) == ("channel", "mean")


def test_preset_overrides_and_unknown_preset():
    cfg = preset("tiny", lr=0.5, variant="pretrained")
    assert cfg.lr == 0.5 and cfg.variant == "pretrained"
    assert cfg.inr_width == 16  # the rest of the preset is kept
    with pytest.raises(ConfigError, match="preset='huge'.*paper.*small.*tiny"):
        preset("huge")
    with pytest.raises(ConfigError, match="lrr"):
        preset("tiny", lrr=0.5)


def test_from_dict_rejects_unknown_keys_listing_valid_ones():
    with pytest.raises(ConfigError) as err:
        TrainingConfig.from_dict({"lr": 1e-3, "learning_rate": 1e-3, "zeta": 1})
    msg = str(err.value)
    assert "learning_rate" in msg and "zeta" in msg
    assert "valid keys" in msg
    for name in TrainingConfig.field_names():
        assert name in msg.split("valid keys", 1)[1]


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


@pytest.mark.parametrize("key,value", [
    ("lr", "1e-3"),  # string for float: never parsed
    ("a1", None),
    ("a2", True),  # bool is not a number here
    ("epochs", 1.5),  # non-integral float for int
    ("batch_size", "32"),
    ("seed", True),  # bool for int
    ("latent_dim", False),
    ("download", 1),  # int for bool
    ("verify_data", "false"),
    ("dataset", 3),
    ("variant", ["plain"]),
])
def test_from_dict_rejects_wrong_types_naming_the_field(key, value):
    with pytest.raises(ConfigError) as err:
        TrainingConfig.from_dict({key: value})
    msg = str(err.value)
    assert msg.startswith(f"{key}=")
    assert "expected" in msg
    assert TrainingConfig.field_types()[key].__name__ in msg


def test_ints_accepted_for_floats_and_integral_floats_for_ints():
    cfg = TrainingConfig.from_dict({"a2": 100, "lr": 1, "epochs": 3.0})
    assert cfg.a2 == 100.0 and isinstance(cfg.a2, float)
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float)
    assert cfg.epochs == 3 and isinstance(cfg.epochs, int)


def test_from_dict_on_a_base_keeps_the_base():
    base = preset("small")
    cfg = TrainingConfig.from_dict({"seed": 7}, base=base)
    assert cfg.seed == 7
    assert dataclasses.replace(cfg, seed=base.seed) == base
    assert base.seed == 0  # not mutated
    assert base.replace(seed=3).seed == 3
    with pytest.raises(ConfigError, match="seed"):
        base.replace(seed="3")


@pytest.mark.parametrize("key,value,allowed", [
    ("dataset", "imagenet", ["mnist", "mnist-5k", "cifar10"]),
    ("variant", "joint", ["plain", "pretrained", "classifier_loss"]),
    ("device", "tpu", ["auto", "cpu", "cuda"]),
    ("precision", "fp16", ["fp32", "bf16"]),
    ("pretrained_encoder", "thawed", ["finetune", "frozen"]),
    ("bias_head_init", "xavier", ["siren", "fan_in"]),
    ("theta_prior_norm", "median", ["mean", "sum", "paper"]),
    ("latent_prior_norm", "median", ["mean", "sum", "paper"]),
    ("pixel_standardization", "pixel", ["channel", "position", "none"]),
])
def test_choices_are_validated(key, value, allowed):
    with pytest.raises(ConfigError) as err:
        TrainingConfig.from_dict({key: value})
    msg = str(err.value)
    assert msg.startswith(f"{key}={value!r}")
    for choice in allowed:
        assert choice in msg
    for choice in allowed:  # and each allowed value is accepted
        assert getattr(TrainingConfig.from_dict({key: choice}), key) == choice


@pytest.mark.parametrize("key,bad,good", [
    ("a1", -0.1, 0.0),
    ("a2", 2e6, 1e6),
    ("cls_weight", -1.0, 0.0),
    ("latent_dim", 0, 1),
    ("inr_width", -4, 1),
    ("batch_size", 0, 1),
    ("epochs", 0, 1),
    ("inr_depth", 1, 2),
    ("hyper_layers", 0, 1),
    ("encoder_channels", 15, 16),
    ("encoder_kernel", 4, 5),
    ("encoder_kernel", 0, 1),
    ("encoder_blocks", -1, 0),
    ("train_subset", -1, 0),
    ("seed", -5, 0),
    ("threads", -1, 0),
    ("lr", 0.0, 1e-9),
    ("cls_lr", -1.0, 1.0),
    ("omega0", 0.0, 1.0),
    ("val_fraction", -0.1, 0.0),
    ("val_fraction", 0.6, 0.5),
])
def test_ranges_are_validated(key, bad, good):
    with pytest.raises(ConfigError) as err:
        TrainingConfig.from_dict({key: bad})
    assert str(err.value).startswith(f"{key}=")
    assert "allowed" in str(err.value)
    assert getattr(TrainingConfig.from_dict({key: good}), key) == good


def test_direct_construction_is_validated_too():
    with pytest.raises(ConfigError, match="dataset"):
        TrainingConfig(dataset="svhn")
    with pytest.raises(ConfigError, match="inr_depth"):
        TrainingConfig(inr_depth=1)


@pytest.mark.parametrize("field, most", [("inr_depth", 64), ("encoder_blocks", 64),
                                         ("hyper_layers", 16)])
def test_layer_counts_are_bounded(field, most):
    """A depth in the millions would hang building the model before any size limit refused it."""
    assert getattr(preset("small", **{field: most}), field) == most
    with pytest.raises(ConfigError, match=f"{field}=.*allowed integers up to {most}"):
        preset("small", **{field: most + 1})
