"""Bad input to the sweep-file loader: every mistake is a ``SpecError`` whose one-line message
names the file and the field (and what is allowed), raised before anything starts or is written.

Also: ``launch.py`` turns such an error into exit status 2 and one ``error:`` line, without
starting Ray or creating a results directory.  Nothing here starts Ray; the whole file runs in
seconds.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hinr.config import DATASETS, PRESETS, VARIANTS, TrainingConfig
from sweeps.modelsize import MAX_MODEL_PARAMS, check_model_size, model_params
from sweeps.searchtypes import SEARCHES
from sweeps.spec import SpecError, SweepSpec, apply_override, load_spec, parse_spec
from sweeps.specfields import DISTRIBUTIONS
from sweeps.specsections import (EPOCH_METRICS, FINAL_METRICS, MAX_TRIALS, MODES, SCHEDULERS,
                                 TOP_KEYS, VARIANT_METRICS)
from sweeps.specyaml import MAX_YAML_NODES, safe_load

ROOT = Path(__file__).resolve().parent.parent

# A small valid sweep; each test breaks one thing.
VALID = {
    "name": "t",
    "base": {"preset": "tiny", "dataset": "mnist-5k", "epochs": 1},
    "axes": {"a2": [1.0, 100.0]},
    "seeds": [0, 1],
    "search": "grid",
    "metric": "val_psnr",
    "mode": "max",
    "scheduler": "fifo",
    "resources": {"cpus": 1, "gpus": 0},
    "budget": {"num_samples": 1, "max_concurrent": 2, "time_limit_s": 0, "max_failures": 1},
}


def write(tmp_path: Path, doc=None, text: str | None = None, name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text if text is not None else yaml.safe_dump(doc, sort_keys=False))
    return path


def variant(**changes) -> dict:
    """VALID with top-level keys replaced (``None`` removes the key)."""
    doc = copy.deepcopy(VALID)
    for key, value in changes.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


def with_base(**fields) -> dict:
    return variant(base={**VALID["base"], **fields})


def expect_error(path: Path, *needles: str, overrides: list[str] | None = None) -> str:
    """load_spec fails with a one-line SpecError naming ``path`` and every needle."""
    with pytest.raises(SpecError) as info:
        load_spec(path, overrides)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message, f"not one line: {message!r}"
    assert message.startswith(str(path)), f"does not name the file first: {message}"
    for needle in needles:
        assert needle in message, f"{needle!r} not in: {message}"
    return message


def test_valid_document_loads(tmp_path):
    spec = load_spec(write(tmp_path, VALID))
    assert isinstance(spec, SweepSpec)
    assert spec.num_trials() == 4
    assert spec.base_config.epochs == 1


# --- the document itself

def test_malformed_yaml(tmp_path):
    path = write(tmp_path, text="name: t\naxes: {a2: [1.0, 100.0\nseeds: [0]\n")
    expect_error(path, "malformed YAML", "line ")


def test_tab_indentation_is_malformed_yaml(tmp_path):
    expect_error(write(tmp_path, text="name: t\nbase:\n\tpreset: tiny\n"), "malformed YAML")


def test_invalid_date_is_malformed_yaml(tmp_path):
    # PyYAML builds a date from this and the date constructor raises ValueError, not YAMLError.
    expect_error(write(tmp_path, text="name: t\nbase: {data_root: 2024-13-45}\n"),
                 "malformed YAML", "month")


def test_deeply_nested_yaml(tmp_path):
    text = "name: t\naxes: {a2: " + "[" * 800 + "]" * 800 + "}\n"
    expect_error(write(tmp_path, text=text), "malformed YAML")


def test_duplicate_key(tmp_path):
    # PyYAML would keep the second a2 silently, dropping an ablation factor.
    text = "name: t\naxes:\n  a2: [1.0, 100.0]\n  a2: [10.0]\n"
    expect_error(write(tmp_path, text=text), "duplicate key 'a2'", "line 4")
    expect_error(write(tmp_path, text="name: t\nname: u\n"), "duplicate key 'name'")


def test_merge_keys_may_still_override():
    doc = safe_load("a: &a {x: 1, y: 2}\nb: {<<: *a, y: 3}\n")
    assert doc["b"] == {"x": 1, "y": 3}


def test_not_utf8(tmp_path):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00name: t\x80\n")
    expect_error(path, "cannot read", "UTF-8")


def test_missing_file(tmp_path):
    expect_error(tmp_path / "nope.yaml", "cannot read sweep file")


@pytest.mark.parametrize("text", ["- a2\n- lr\n", "42\n", "just a string\n", ""])
def test_non_mapping_document(tmp_path, text):
    expect_error(write(tmp_path, text=text), "YAML mapping", "name, base, axes")


def test_unknown_top_level_key(tmp_path):
    expect_error(write(tmp_path, variant(axis={"a2": [1.0]})),
                 "unknown key 'axis'", "allowed: " + ", ".join(TOP_KEYS))


@pytest.mark.parametrize("name", [None, "", "has space", "a/b", 3, ".", "..", ".hidden", "-rf",
                                  "x" * 101, "a\\b", "/abs", "caf\u00e9", "a\x00b"])
def test_bad_name(tmp_path, name):
    # The name is a directory under results/: "..", "." or a path would put (and, with
    # --overwrite, delete) results somewhere else.
    expect_error(write(tmp_path, variant(name=name)), "name:", "letters, digits")  # None: missing


@pytest.mark.parametrize("name", ["t", "x" * 100, "sweep-1", "a.b_c", "_x", "9"])
def test_good_name(tmp_path, name):
    assert load_spec(write(tmp_path, variant(name=name))).name == name


# --- base: TrainingConfig fields

def test_unknown_key_in_base(tmp_path):
    expect_error(write(tmp_path, with_base(learning_rate=0.1)),
                 "base:", "learning_rate", "lr, cls_lr")


def test_non_string_key_in_base(tmp_path):
    expect_error(write(tmp_path, text="name: t\nbase: {1: 2}\n"), "base:", "unknown config key 1")


@pytest.mark.parametrize("preset", ["huge", ["tiny"], {"tiny": 1}, 3])
def test_unknown_preset(tmp_path, preset):
    expect_error(write(tmp_path, with_base(preset=preset)), "preset", "paper, small, tiny")


@pytest.mark.parametrize("base", [[{"preset": "tiny"}], "tiny", 0, []])
def test_base_not_a_mapping(tmp_path, base):
    expect_error(write(tmp_path, variant(base=base)), "base:", "mapping")


@pytest.mark.parametrize("field, value, expected", [
    ("lr", "fast", "expected float, got str"),      # string for a float field
    ("a2", "100", "expected float, got str"),       # a quoted number is still a string
    ("epochs", 2.5, "expected int, got float"),     # float for an int field
    ("epochs", True, "expected int, got bool"),     # bool for an int field
    ("lr", True, "expected float, got bool"),       # bool for a float field
    ("download", "yes", "expected bool, got str"),  # str for a bool field
    ("dataset", 3, "expected str, got int"),
])
def test_wrong_type_in_base(tmp_path, field, value, expected):
    expect_error(write(tmp_path, with_base(**{field: value})), "base:", f"{field}=", expected)


@pytest.mark.parametrize("field, value", [
    ("latent_dim", 0), ("inr_width", -1), ("epochs", 0), ("batch_size", -3), ("hyper_hidden", 0),
])
def test_non_positive_sizes(tmp_path, field, value):
    expect_error(write(tmp_path, with_base(**{field: value})),
                 "base:", f"{field}={value}", "allowed integers >= 1")


@pytest.mark.parametrize("field", ["a1", "a2", "cls_weight"])
def test_loss_weights_out_of_range(tmp_path, field):
    expect_error(write(tmp_path, with_base(**{field: -0.5})),
                 "base:", f"{field}=-0.5", f"allowed 0 <= {field} <= 1e6")
    expect_error(write(tmp_path, with_base(**{field: 2e6})), f"{field}=", "<= 1e6")


@pytest.mark.parametrize("field", ["a1", "a2", "cls_weight"])
def test_loss_weight_axis_out_of_range(tmp_path, field):
    expect_error(write(tmp_path, variant(axes={field: [0.1, -1.0]})),
                 f"axes.{field}:", f"allowed 0 <= {field} <= 1e6")


def test_unknown_dataset_and_variant_in_base(tmp_path):
    expect_error(write(tmp_path, with_base(dataset="svhn")),
                 "base:", "dataset='svhn'", "allowed values are " + ", ".join(DATASETS))
    expect_error(write(tmp_path, with_base(variant="joint")),
                 "base:", "variant='joint'", "allowed values are " + ", ".join(VARIANTS))


# --- axes

def test_unknown_dataset_and_variant_in_axes(tmp_path):
    expect_error(write(tmp_path, variant(axes={"dataset": ["mnist", "svhn"]})),
                 "axes.dataset:", "allowed values are " + ", ".join(DATASETS))
    expect_error(write(tmp_path, variant(axes={"variant": ["plain", "joint"]})),
                 "axes.variant:", "allowed values are " + ", ".join(VARIANTS))
    doc = variant(axes={"variant": {"choice": ["plain", "joint"]}}, search="random")
    expect_error(write(tmp_path, doc), "axes.variant:", ", ".join(VARIANTS))


def test_unknown_axis_field(tmp_path):
    expect_error(write(tmp_path, variant(axes={"learning_rate": [0.1]})),
                 "axes.learning_rate:", "unknown", "allowed: dataset, variant")


@pytest.mark.parametrize("changes, field, meant", [
    ({"axes": {"latnet_dim": [32, 64]}}, "axes.latnet_dim:", "latent_dim"),
    ({"metric": "val_psrn"}, "metric:", "val_psnr"),
    ({"search": "optune"}, "search:", "optuna"),
    ({"axis": {"a2": [1.0]}}, "unknown key 'axis'", "axes"),
    ({"budget": {"max_concurent": 2}}, "budget.max_concurent:", "max_concurrent"),
])
def test_a_typo_gets_the_nearest_allowed_name(tmp_path, changes, field, meant):
    """One line, with the closest allowed name before the whole list."""
    expect_error(write(tmp_path, variant(**changes)), field, f"(did you mean {meant}?)",
                 "allowed: ")


def test_a_name_far_from_every_allowed_one_gets_no_guess(tmp_path):
    with pytest.raises(SpecError) as err:
        load_spec(write(tmp_path, variant(axes={"learning_rate": [0.1]})))
    assert "did you mean" not in str(err.value)


def test_seed_is_not_an_axis(tmp_path):
    expect_error(write(tmp_path, variant(axes={"seed": [0, 1]})), "axes.seed:", "use seeds:")


def test_empty_grid(tmp_path):
    expect_error(write(tmp_path, variant(axes={"a2": []})), "axes.a2:", "empty grid")


@pytest.mark.parametrize("axes", [[{"a2": [1.0]}], "a2", 0])
def test_axes_not_a_mapping(tmp_path, axes):
    expect_error(write(tmp_path, variant(axes=axes)), "axes:", "mapping")


def test_wrong_type_in_grid(tmp_path):
    expect_error(write(tmp_path, variant(axes={"epochs": [1, 2.5]})),
                 "axes.epochs:", "expected int, got 2.5")
    expect_error(write(tmp_path, variant(axes={"lr": ["fast"]})), "axes.lr:", "expected float")


@pytest.mark.parametrize("kind", ["uniform", "loguniform", "randint"])
def test_distribution_low_above_high(tmp_path, kind):
    field, bounds = ("epochs", [5, 2]) if kind == "randint" else ("lr", [0.1, 0.001])
    doc = variant(axes={field: {kind: bounds}}, search="random")
    expect_error(write(tmp_path, doc), f"axes.{field}.{kind}:", "must be below high")


@pytest.mark.parametrize("low", [0, -1e-3])
def test_loguniform_non_positive_bound(tmp_path, low):
    doc = variant(axes={"lr": {"loguniform": [low, 1e-2]}}, search="random")
    expect_error(write(tmp_path, doc), "axes.lr.loguniform:", "bounds must be > 0")


def test_non_finite_distribution_bound(tmp_path):
    doc = variant(axes={"lr": {"uniform": [1e-4, float("inf")]}}, search="random")
    expect_error(write(tmp_path, doc), "axes.lr.uniform:", "finite")


def test_unknown_distribution(tmp_path):
    doc = variant(axes={"lr": {"normal": [0.0, 1.0]}}, search="random")
    expect_error(write(tmp_path, doc), "axes.lr:", "unknown distribution 'normal'",
                 "allowed: " + ", ".join(DISTRIBUTIONS))


def test_distribution_shape(tmp_path):
    doc = variant(axes={"lr": {"uniform": [1e-4, 1e-3], "choice": [1e-3]}}, search="random")
    expect_error(write(tmp_path, doc), "axes.lr:", "list (grid) or one of")
    doc = variant(axes={"lr": {"uniform": [1e-4]}}, search="random")
    expect_error(write(tmp_path, doc), "axes.lr.uniform:", "[low, high]")
    doc = variant(axes={"a2": {"randint": [1, 10]}}, search="random")
    expect_error(write(tmp_path, doc), "axes.a2.randint:", "integer field")


@pytest.mark.parametrize("search", ["grid", None])  # None: grid is the default
def test_distribution_with_grid_search(tmp_path, search):
    doc = variant(axes={"a2": [1.0], "lr": {"loguniform": [1e-4, 1e-2]}}, search=search)
    expect_error(write(tmp_path, doc), "axes.lr:", "search: random or optuna")


def test_distribution_with_random_search_loads(tmp_path):
    doc = variant(axes={"lr": {"loguniform": [1e-4, 1e-2]}}, search="random")
    spec = load_spec(write(tmp_path, doc))
    assert spec.axes == {"lr": {"loguniform": [1e-4, 1e-2]}}


# --- search, metric, mode, scheduler

def test_unknown_search(tmp_path):
    expect_error(write(tmp_path, variant(search="bayes")),
                 "search:", "'bayes'", "allowed: " + ", ".join(SEARCHES))


def test_unknown_metric(tmp_path):
    expect_error(write(tmp_path, variant(metric="accuracy")),
                 "metric:", "'accuracy'", "allowed: val_psnr")


@pytest.mark.parametrize("mode", ["maximize", "MAX", 1])
def test_mode_not_max_or_min(tmp_path, mode):
    expect_error(write(tmp_path, variant(mode=mode)), "mode:", "allowed: max, min")


def test_several_metrics_need_optuna(tmp_path):
    doc = variant(metric=["val_psnr", "val_latent_acc"], mode=["max", "max"])
    expect_error(write(tmp_path, doc), "metric:", "search: optuna")


@pytest.mark.parametrize("metric,instead", [
    ("test_psnr", "use val_psnr"), ("test_mse", "use val_mse"), ("test_loss", "use val_loss"),
    ("joint_acc", "use val_joint_acc"), ("latent_acc", "use val_latent_acc"),
    ("weight_acc", "use val_weight_acc"), ("sr_psnr", "allowed: val_psnr")])
def test_a_test_split_metric_is_refused_naming_the_val_one(tmp_path, metric, instead):
    message = expect_error(write(tmp_path, variant(metric=metric)),
                           f"metric: {metric} selects on the test split; {instead}")
    if instead.startswith("use"):
        assert message.endswith(instead)
    doc = variant(metric=["val_psnr", metric], mode=["max", "max"], search="optuna",
                  axes={"a2": {"loguniform": [1.0, 100.0]}})
    expect_error(write(tmp_path, doc), f"metric: {metric} selects on the test split")


def test_a_val_metric_without_a_validation_split_is_refused(tmp_path):
    doc = variant(base={**VALID["base"], "val_fraction": 0.0})
    expect_error(write(tmp_path, doc), "metric: val_psnr needs a validation split",
                 "allowed: val_fraction > 0, or a train_* metric")
    expect_error(write(tmp_path, variant(axes={"val_fraction": [0.0, 0.1]})),
                 "metric: val_psnr needs a validation split")
    assert load_spec(write(tmp_path, variant(base={**VALID["base"], "val_fraction": 0.0},
                                             metric="train_loss", mode="min")))


@pytest.mark.parametrize("metric", FINAL_METRICS)
def test_asha_with_final_only_metric(tmp_path, metric):
    doc = variant(scheduler={"type": "asha", "grace_period": 1}, metric=metric)
    expect_error(write(tmp_path, doc), "metric:", "asha", f"(got '{metric}')",
                 ", ".join(EPOCH_METRICS))


def test_asha_with_epoch_metric_loads(tmp_path):
    doc = variant(scheduler={"type": "asha", "grace_period": 1, "reduction_factor": 2})
    assert load_spec(write(tmp_path, doc)).scheduler["type"] == "asha"


@pytest.mark.parametrize("scheduler", ["hyperband", 3, {"type": "pbt"}, ["asha"]])
def test_unknown_scheduler(tmp_path, scheduler):
    expect_error(write(tmp_path, variant(scheduler=scheduler)), "scheduler:", "fifo, asha")


def test_unknown_key_in_scheduler(tmp_path):
    doc = variant(scheduler={"type": "asha", "grace": 1})
    expect_error(write(tmp_path, doc), "scheduler.grace:", "unknown key",
                 "allowed: type, grace_period, reduction_factor")
    doc = variant(scheduler={"type": "fifo", "grace_period": 1})
    expect_error(write(tmp_path, doc), "scheduler.grace_period:", "allowed: type")


def test_wrong_type_in_scheduler(tmp_path):
    doc = variant(scheduler={"type": "asha", "grace_period": 1.5})
    expect_error(write(tmp_path, doc), "scheduler.grace_period:", "expected int")
    doc = variant(scheduler={"type": "asha", "reduction_factor": float("nan")})
    expect_error(write(tmp_path, doc), "scheduler.reduction_factor:", "finite")


# --- resources and budget

def test_unknown_key_in_resources(tmp_path):
    expect_error(write(tmp_path, variant(resources={"cpus": 1, "tpus": 1})),
                 "resources.tpus:", "unknown key", "allowed: cpus, gpus")


def test_bad_resources(tmp_path):
    expect_error(write(tmp_path, variant(resources={"cpus": "two"})),
                 "resources.cpus:", "expected float")
    expect_error(write(tmp_path, variant(resources={"cpus": 0, "gpus": 0})),
                 "resources:", "cpus > 0 or gpus > 0")
    expect_error(write(tmp_path, variant(resources={"cpus": -1, "gpus": 1})),
                 "resources:", ">= 0")
    expect_error(write(tmp_path, variant(resources={"gpus": 1.5})),
                 "resources.gpus:", "fractions")
    expect_error(write(tmp_path, variant(resources=[1, 0])), "resources:", "cpus, gpus")


@pytest.mark.parametrize("field, value", [
    ("resources", {"cpus": float("nan")}), ("resources", {"cpus": float("inf")}),
    ("budget", {"time_limit_s": float("nan")}), ("budget", {"time_limit_s": float("inf")}),
])
def test_non_finite_numbers(tmp_path, field, value):
    (key,) = value
    expect_error(write(tmp_path, variant(**{field: value})), f"{field}.{key}:", "finite")


def test_unknown_key_in_budget(tmp_path):
    expect_error(write(tmp_path, variant(budget={"num_sample": 2})),
                 "budget.num_sample:", "unknown key",
                 "allowed: num_samples, max_concurrent, time_limit_s, max_failures")


@pytest.mark.parametrize("budget, needle", [
    ({"num_samples": 0}, "budget.num_samples: allowed integers >= 1"),
    ({"num_samples": 1.5}, "budget.num_samples: expected int"),
    ({"max_concurrent": -1}, "budget.max_concurrent: allowed integers >= 0"),
    ({"max_failures": True}, "budget.max_failures: expected int"),
    ({"time_limit_s": -5}, "budget.time_limit_s: allowed seconds >= 0"),
    ({"time_limit_s": "1h"}, "budget.time_limit_s: expected float"),
])
def test_bad_budget(tmp_path, budget, needle):
    expect_error(write(tmp_path, variant(budget=budget)), needle)


# --- seeds

@pytest.mark.parametrize("seeds", [[], [-1], [0, -2], [1.5], ["0"], [True], "0", None])
def test_bad_seeds(tmp_path, seeds):
    doc = variant()
    doc["seeds"] = seeds
    expect_error(write(tmp_path, doc), "seeds:", "non-empty list of integers 0 to")


def test_duplicate_seeds(tmp_path):
    expect_error(write(tmp_path, variant(seeds=[0, 1, 0])), "seeds:", "duplicate seeds")


def test_single_seed_integer_is_a_list(tmp_path):
    assert load_spec(write(tmp_path, variant(seeds=3))).seeds == [3]


# --- --set overrides

def test_set_nonexistent_key(tmp_path):
    path = write(tmp_path, VALID)
    expect_error(path, "--set nonexistent:", "unknown key", "a config field (dataset",
                 overrides=["nonexistent=3"])
    expect_error(path, "--set bogus.x:", "unknown key 'bogus'", "allowed: name, base",
                 overrides=["bogus.x=1"])
    expect_error(path, "budget.nonexistent:", "unknown key", overrides=["budget.nonexistent=3"])
    expect_error(path, "--set name.x:", "not a mapping", overrides=["name.x=1"])


def test_set_malformed(tmp_path):
    path = write(tmp_path, VALID)
    expect_error(path, "--set 'epochs':", "key=value", overrides=["epochs"])
    expect_error(path, "--set epochs:", "not valid YAML", overrides=["epochs=[1"])


def test_set_bad_value_names_field(tmp_path):
    path = write(tmp_path, VALID)
    expect_error(path, "base:", "epochs=0", overrides=["epochs=0"])
    expect_error(path, "base:", "expected int", overrides=["epochs=three"])
    expect_error(path, "base:", "preset='huge'", overrides=["preset=huge"])


def test_set_overrides_parse_values(tmp_path):
    path = write(tmp_path, VALID)
    spec = load_spec(path, ["epochs=3", "lr=1e-3", "download=true", "dataset=mnist"])
    assert spec.base["epochs"] == 3 and type(spec.base["epochs"]) is int
    assert spec.base["lr"] == 1e-3 and type(spec.base["lr"]) is float
    assert spec.base["download"] is True
    assert spec.base_config.epochs == 3 and spec.base_config.lr == 1e-3
    assert spec.base_config.dataset == "mnist"


def test_set_dotted_paths_and_axis_override(tmp_path):
    path = write(tmp_path, VALID)
    spec = load_spec(path, ["budget.max_concurrent=4", "axes.lr=[1e-4, 1e-3]", "a2=5"])
    assert spec.budget["max_concurrent"] == 4
    assert spec.axes == {"lr": [1e-4, 1e-3]}  # a2 fixed by --set leaves the axes
    assert spec.base["a2"] == 5


def test_set_does_not_touch_the_file(tmp_path):
    path = write(tmp_path, VALID)
    before = path.read_text()
    load_spec(path, ["epochs=3"])
    assert path.read_text() == before


def test_apply_override_direct():
    doc = copy.deepcopy(VALID)
    apply_override(doc, "epochs=3", "x.yaml")
    assert doc["base"]["epochs"] == 3
    with pytest.raises(SpecError, match=r"^x\.yaml: --set nope: unknown key"):
        apply_override(doc, "nope=1", "x.yaml")


# --- YAML numbers

def test_yaml_exponent_floats_are_floats(tmp_path):
    # PyYAML alone reads 1e-4 as the string '1e-4'; the loader follows YAML 1.2.
    assert yaml.safe_load("1e-4") == "1e-4"
    for text, value in [("1e-4", 1e-4), ("5.0e-5", 5e-5), ("1E3", 1000.0), ("-2e-2", -0.02),
                        (".5", 0.5), ("3", 3)]:
        parsed = safe_load(text)
        assert parsed == value and type(parsed) is type(value), text
    path = write(tmp_path, text="name: t\nbase: {preset: tiny, lr: 1e-4}\n"
                                "axes: {cls_lr: [1e-3, 1e-2]}\n")
    spec = load_spec(path)
    assert spec.base["lr"] == 1e-4 and isinstance(spec.base["lr"], float)
    assert spec.axes["cls_lr"] == [1e-3, 1e-2]
    assert spec.base_config.lr == 1e-4


def test_every_shipped_sweep_file_loads():
    files = sorted((ROOT / "sweeps").glob("*.yaml"))
    assert files
    for path in files:
        spec = load_spec(path)
        assert spec.num_trials() >= 1, path


def test_parse_spec_names_its_where():
    with pytest.raises(SpecError, match=r"^somewhere\.yaml: unknown key 'x'"):
        parse_spec({"name": "t", "x": 1}, "somewhere.yaml")


def test_spec_error_is_always_one_line(tmp_path):
    # A key is user text and may hold a newline; the message must stay one line.
    path = write(tmp_path, text='name: t\naxes: {"a\\nb": [1]}\n')
    message = expect_error(path, "axes.a\\nb:")
    assert str(SpecError("a\nb\r\nc")) == "a\\nb\\r\\nc"
    assert message


# --- property: anything in, SweepSpec or SpecError out

FIELDS = TrainingConfig.field_names()
WORDS = (list(TOP_KEYS) + FIELDS + list(DATASETS) + list(VARIANTS) + list(PRESETS)
         + list(SEARCHES) + list(SCHEDULERS) + list(MODES) + list(DISTRIBUTIONS)
         + list(EPOCH_METRICS) + list(FINAL_METRICS) + ["preset", "type", "grace_period",
                                                         "reduction_factor", "cpus", "gpus",
                                                         "num_samples", "max_concurrent",
                                                         "time_limit_s", "max_failures", "bogus"])
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 300), st.integers(),
    st.floats(allow_nan=True, allow_infinity=True), st.floats(-10, 1e3),
    st.sampled_from(WORDS), st.text(max_size=8),
    st.sampled_from(["1e-4", "2024-01-01", "2024-13-45", "0x1F", "~", ".inf", "yes", "1_000"]),
)
keys = st.one_of(st.sampled_from(WORDS), st.text(max_size=6), st.integers(-2, 5), st.booleans())
anything = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12)
numbers = st.one_of(st.integers(-5, 50), st.floats(-1.0, 1e3), st.floats())
axis_values = st.one_of(
    st.lists(scalars, max_size=4),
    st.dictionaries(st.sampled_from(list(DISTRIBUTIONS) + ["normal"]),
                    st.lists(numbers, max_size=3), min_size=1, max_size=2),
    anything)
config_keys = st.one_of(st.sampled_from(FIELDS + ["preset"]), keys)
known_keys = st.fixed_dictionaries({}, optional={
    "name": st.one_of(st.sampled_from(["t", "sweep-1", "a.b_c"]), scalars),
    "base": st.one_of(st.dictionaries(config_keys, scalars, max_size=5), anything),
    "axes": st.one_of(st.dictionaries(config_keys, axis_values, max_size=3), anything),
    "seeds": st.one_of(st.lists(st.integers(-2, 5), max_size=4), anything),
    "search": st.one_of(st.sampled_from(SEARCHES), scalars),
    "metric": st.one_of(st.sampled_from(EPOCH_METRICS + FINAL_METRICS),
                        st.lists(st.sampled_from(EPOCH_METRICS + FINAL_METRICS), max_size=3),
                        scalars),
    "mode": st.one_of(st.sampled_from(MODES), st.lists(st.sampled_from(MODES), max_size=3),
                      scalars),
    "scheduler": st.one_of(st.sampled_from(SCHEDULERS),
                           st.dictionaries(st.sampled_from(["type", "grace_period",
                                                            "reduction_factor", "bogus"]),
                                           st.one_of(st.sampled_from(SCHEDULERS), numbers),
                                           max_size=3),
                           anything),
    "resources": st.one_of(st.dictionaries(st.sampled_from(["cpus", "gpus", "tpus"]), numbers,
                                           max_size=2), anything),
    "budget": st.one_of(st.dictionaries(st.sampled_from(["num_samples", "max_concurrent",
                                                         "time_limit_s", "max_failures", "x"]),
                                        numbers, max_size=4), anything),
})
# Mostly the known keys, sometimes with an extra (unknown or duplicate-named) key mixed in.
documents = st.builds(lambda doc, extra: {**extra, **doc},
                      known_keys, st.dictionaries(keys, anything, max_size=1))
overrides = st.lists(
    st.builds(lambda k, v: f"{k}={v}",
              st.one_of(st.sampled_from(FIELDS + ["preset", "budget.max_concurrent", "axes.a2",
                                                  "name", "bogus", "seeds", "scheduler.type",
                                                  "name.x", "base.epochs", ""]),
                        st.text(max_size=6)),
              st.one_of(st.sampled_from(["3", "1e-3", "[1, 2]", "true", "", "{", "mnist",
                                         "asha", "-1"]), st.text(max_size=6))),
    max_size=3)


def _load_one(text: str, sets: list[str] | None = None):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "random.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            spec = load_spec(path, sets)
        except SpecError as err:
            message = str(err)
            assert "\n" not in message, message
            assert message.startswith(str(path)), message
            return None
        assert isinstance(spec, SweepSpec)
        assert spec.num_trials() >= 1
        return spec


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=documents, sets=overrides)
@example(doc={"name": "t", "base": {"name": None}}, sets=[])  # was a TypeError from preset()
def test_random_documents_load_or_raise_spec_error(doc, sets):
    _load_one(yaml.safe_dump(doc, sort_keys=False), sets)


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("name:base{}[]-,.'\"&*!|>#%@` \n\t01eE+_xyz")),
                    max_size=60))
def test_random_text_loads_or_raises_spec_error(text):
    _load_one(text)


def _selectable_by(base: dict) -> list[str]:
    """Epoch metrics the base's variant reports (joint_acc needs a trained head: tested alone)."""
    reporting = base.get("variant", "plain")
    return [m for m in EPOCH_METRICS
            if reporting in VARIANT_METRICS.get(m, VARIANTS) and m not in JOINT_METRICS]


JOINT_METRICS = [m for m, needs in VARIANT_METRICS.items() if needs == ("classifier_loss",)]
valid_bases = st.fixed_dictionaries({"preset": st.sampled_from(list(PRESETS))}, optional={
    "epochs": st.integers(1, 50), "lr": st.floats(1e-6, 1.0),
    # random_encoder trains nothing, so it reports no epoch metric: tested in test_controls.py
    "dataset": st.sampled_from(DATASETS),
    "variant": st.sampled_from([v for v in VARIANTS if _selectable_by({"variant": v})]),
    "a1": st.floats(0, 1e6), "latent_dim": st.integers(1, 512)})
valid_documents = valid_bases.flatmap(lambda base: st.fixed_dictionaries({
    "name": st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,11}", fullmatch=True),
    "base": st.just(base),
    "axes": st.dictionaries(
        st.sampled_from(["a1", "a2", "cls_weight"]),
        st.lists(st.floats(0, 1e6), min_size=1, max_size=3, unique=True), max_size=2),
    "seeds": st.lists(st.integers(0, 10**6), min_size=1, max_size=4, unique=True),
    "metric": st.sampled_from(_selectable_by(base)),
    "mode": st.sampled_from(MODES),
    "scheduler": st.sampled_from(["fifo", "asha"]),
    "resources": st.fixed_dictionaries({"cpus": st.floats(0.5, 8), "gpus": st.sampled_from(
        [0, 0.25, 0.5, 1, 2])}),
    "budget": st.fixed_dictionaries({}, optional={
        "num_samples": st.integers(1, 3), "max_concurrent": st.integers(0, 8),
        "time_limit_s": st.floats(0, 1e5), "max_failures": st.integers(0, 3)}),
}))


@settings(max_examples=200, deadline=None)
@given(doc=valid_documents)
def test_valid_random_documents_load(doc):
    spec = _load_one(yaml.safe_dump(doc, sort_keys=False))
    assert spec is not None, doc
    assert spec.seeds == doc["seeds"]
    n_points = 1
    for values in doc["axes"].values():
        n_points *= len(values)
    assert spec.num_trials() == n_points * len(doc["seeds"]) * doc["budget"].get("num_samples", 1)


# --- launch.py: bad input exits 2 before Ray starts; --dry-run writes nothing
# A launch.py process pays Python + torch start-up (hinr imports torch): the runs that must be
# real processes start at once in one module fixture; the other bad inputs go through
# launch.main() in this process, the same code path.

def _launch_module():
    spec = importlib.util.spec_from_file_location("hinr_launch_under_test", ROOT / "launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Launched:
    def __init__(self, args: list[str], root: Path, results: Path | None = None):
        self.results = results
        self.ray_tmp = root / "ray_tmp"  # Ray's session files would appear here if it started
        env = dict(os.environ, RAY_TMPDIR=str(self.ray_tmp))
        env.pop("RAY_ADDRESS", None)
        self.proc = subprocess.Popen([sys.executable, "launch.py", *args], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait(self) -> "Launched":
        self.stdout, self.stderr = self.proc.communicate(timeout=120)
        self.returncode = self.proc.returncode
        return self


@pytest.fixture(scope="module")
def launched(tmp_path_factory) -> dict[str, Launched]:
    runs: dict[str, Launched] = {}
    root = tmp_path_factory.mktemp("bad_file")
    sweep = write(root, text="name: t\nfoo: 1\n", name="bad.yaml")
    runs["bad"] = Launched(["run", str(sweep), "--results", str(root / "results" / "bad")],
                           root, root / "results" / "bad")
    runs["bad"].sweep = sweep
    root = tmp_path_factory.mktemp("dry_run")
    runs["dry_run"] = Launched(["run", "sweeps/smoke.yaml", "--dry-run",
                                "--results", str(root / "smoke_results")], root,
                               root / "smoke_results")
    root = tmp_path_factory.mktemp("no_args")
    runs["no_args"] = Launched([], root)
    try:
        return {key: run.wait() for key, run in runs.items()}
    finally:
        for run in runs.values():
            if run.proc.poll() is None:
                run.proc.kill()


def test_launch_run_bad_file_exits_2(launched):
    run = launched["bad"]
    assert run.returncode == 2, (run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith(f"error: {run.sweep}: unknown key 'foo'"), run.stderr
    assert run.stdout == ""
    assert not run.results.exists() and not run.results.parent.exists()
    assert not run.ray_tmp.exists(), "Ray was started"


def test_launch_dry_run_prints_trials_writes_nothing(launched):
    run = launched["dry_run"]
    assert run.returncode == 0, run.stderr
    assert "4 trials" in run.stdout
    table = run.stdout.split("results would go to")[0]  # the cost estimate follows it
    rows = [line.split() for line in table.splitlines() if line.startswith("  ")]
    assert rows[0] == ["a2", "seed"]
    assert sorted(map(tuple, rows[1:])) == [("1.0", "0"), ("1.0", "1"), ("100.0", "0"),
                                            ("100.0", "1")]
    assert str(run.results) in run.stdout
    assert not run.results.exists()
    assert not run.ray_tmp.exists()


def test_launch_without_arguments_prints_help(launched):
    run = launched["no_args"]
    assert run.returncode == 0
    assert "usage:" in run.stdout and "demo" in run.stdout
    assert not run.ray_tmp.exists()


@pytest.mark.parametrize("text, needle", [
    ("name: t\nbase: {preset: tiny, latent_dim: 0}\n", "base: latent_dim=0"),
    ("name: t\naxes: {a2: [1.0\n", "malformed YAML"),
    ("- a\n", "YAML mapping"),
])
def test_launch_main_bad_file_exits_2(tmp_path, capsys, text, needle):
    sweep = write(tmp_path, text=text, name="bad.yaml")
    results = tmp_path / "results" / "bad"
    code = _launch_module().main(["run", str(sweep), "--results", str(results)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"error: {sweep}") and needle in err, err
    assert not (tmp_path / "results").exists()
    ray = sys.modules.get("ray")
    assert ray is None or not ray.is_initialized()


def test_launch_main_bad_set_exits_2(tmp_path, capsys):
    results = tmp_path / "res"
    smoke = ROOT / "sweeps" / "smoke.yaml"
    code = _launch_module().main(["run", str(smoke), "--set", "nonexistent=1",
                                  "--results", str(results)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"error: {smoke}: --set nonexistent: "), err
    assert not results.exists()


# --- inputs past what the code can hold (issue 13)

def test_billion_laughs_is_refused_quickly(tmp_path):
    # 9 levels of 10 aliases: 10**9 nodes once expanded, a 1 KB file.
    lines = ['a0: &a0 ["lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    lines += ["name: t", "axes: {a2: *a9}"]
    message = expect_error(write(tmp_path, text="\n".join(lines) + "\n"), "malformed YAML",
                           f"more than {MAX_YAML_NODES} nodes")
    assert len(message) < 400


def test_one_level_of_laughs_gives_a_short_error(tmp_path):
    # Small enough to load; the error must not echo the expanded value.
    text = 'name: t\nbase: {data_root: &x "' + "lol" * 300 + '"}\nsearch: [*x, *x, *x, *x, *x]\n'
    message = expect_error(write(tmp_path, text=text), "search:")
    assert len(message) < 400


def test_recursive_alias_is_malformed(tmp_path):
    expect_error(write(tmp_path, text="name: t\naxes: &a {a2: *a}\n"), "malformed YAML")


@pytest.mark.parametrize("text", [
    "name: t\nbase: {dataset: " + "x" * 100_000 + "}\n",
    "name: t\nbase: {" + "k" * 100_000 + ": 1}\n",
    "name: t\nseeds: [" + ", ".join(["1"] * 2000) + "]\n",
    "name: t\nmetric: " + "m" * 100_000 + "\n",
    "name: " + "n" * 100_000 + "\n",
    "name: t\naxes: {dataset: [" + "d" * 100_000 + "]}\n",
])
def test_echoed_values_are_capped(tmp_path, text):
    assert len(expect_error(write(tmp_path, text=text))) <= 1000


@pytest.mark.parametrize("where, value", [("a2", "1" + "0" * 309), ("lr", "-" + "9" * 400),
                                          ("omega0", "1" + "0" * 1000)])
def test_int_past_float_range_in_float_field(tmp_path, where, value):
    text = f"name: t\nbase: {{preset: tiny, {where}: {value}}}\n"
    message = expect_error(write(tmp_path, text=text), "too large")
    assert len(message) < 300
    text = f"name: t\nbase: {{preset: tiny}}\naxes: {{{where}: [1, {value}]}}\n"
    expect_error(write(tmp_path, text=text), f"axes.{where}", "too large")
    expect_error(write(tmp_path, variant()), "too large", overrides=[f"{where}={value}"])
    expect_error(write(tmp_path, variant()), "too large", overrides=[f"axes.{where}=[{value}]"])


@pytest.mark.parametrize("field", ["resources.cpus", "budget.time_limit_s"])
def test_int_past_float_range_in_spec_float(tmp_path, field):
    expect_error(write(tmp_path, variant()), field, "too large",
                 overrides=[f"{field}=" + "9" * 320])


@pytest.mark.parametrize("seeds", [[2**32], [0, 2**64], [10**30]])
def test_seed_past_torch_and_numpy_range(tmp_path, seeds):
    expect_error(write(tmp_path, variant(seeds=seeds)), "seeds:", "0 to 4294967295")
    assert load_spec(write(tmp_path, variant(seeds=[2**32 - 1]))).seeds == [2**32 - 1]


def test_int_past_int64_in_int_field(tmp_path):
    expect_error(write(tmp_path, with_base(epochs=2**63)), "base:", "too large")
    expect_error(write(tmp_path, variant(budget={"max_failures": 2**64})), "budget.max_failures",
                 "too large")
    expect_error(write(tmp_path, with_base(seed=2**40)), "base.seed", "0 to")


@pytest.mark.parametrize("key", ["cpus", "gpus"])
def test_resource_below_ray_precision(tmp_path, key):
    resources = {"cpus": 1, "gpus": 0, key: 0.00001}
    expect_error(write(tmp_path, variant(resources=resources)), f"resources.{key}", "precision")
    assert load_spec(write(tmp_path, variant(resources={"cpus": 0.0001}))).resources["cpus"] == 1e-4


# --- sweeps that cannot run, or mean nothing (issue 13)

def test_grid_over_the_trial_limit(tmp_path):
    axes = {"a1": [float(i) for i in range(100)], "a2": [float(i) for i in range(100)],
            "cls_weight": [float(i) for i in range(100)]}
    expect_error(write(tmp_path, variant(axes=axes)), "axes:", "2000000 trials",
                 f"at most {MAX_TRIALS}")
    # num_samples multiplies the grid; random search multiplies seeds.
    expect_error(write(tmp_path, variant(budget={"num_samples": MAX_TRIALS})), f"at most {MAX_TRIALS}")
    doc = variant(search="random", axes={"lr": {"loguniform": [1e-4, 1e-2]}},
                  budget={"num_samples": 10**9})
    expect_error(write(tmp_path, doc), "trials", f"at most {MAX_TRIALS}")


def test_trial_count_does_not_expand_the_grid(tmp_path):
    axes = {"a1": [float(i) for i in range(50)], "a2": [float(i) for i in range(50)]}
    spec = load_spec(write(tmp_path, variant(axes=axes, seeds=[0, 1, 2, 3])))
    assert spec.num_trials() == MAX_TRIALS


def test_model_over_the_parameter_limit(tmp_path):
    spec = load_spec(write(tmp_path, with_base(inr_width=4096, hyper_hidden=4096)))
    assert model_params(spec) > MAX_MODEL_PARAMS
    with pytest.raises(SpecError, match="parameters; allowed at most"):
        check_model_size(spec)
    # Past what torch can describe (a weight with more than 2**63 elements) reads the same.
    spec = load_spec(write(tmp_path, with_base(inr_width=2**40)))
    with pytest.raises(SpecError, match="allowed at most"):
        check_model_size(spec)


def test_model_over_the_node_memory(tmp_path):
    spec = load_spec(write(tmp_path, variant(axes={"latent_dim": [16, 512]})))
    params = check_model_size(spec, memory_bytes=2**40)
    assert params == model_params(spec) > model_params(load_spec(write(tmp_path, variant(axes={}))))
    with pytest.raises(SpecError, match=r"GiB to train, and the largest node has 0\.0 GiB"):
        check_model_size(spec, memory_bytes=1000)


@pytest.mark.parametrize("metric", sorted(VARIANT_METRICS))
def test_metric_the_variant_never_reports(tmp_path, metric):
    needs = VARIANT_METRICS[metric]  # the variants that report it; every other one is refused
    missing = [v for v in VARIANTS if v not in needs]
    assert missing, f"{metric} is reported by every variant: it should not be listed"
    for lacking in missing:
        expect_error(write(tmp_path, with_base(variant=lacking) | {"metric": metric}), "metric:",
                     "reported only by variant", needs[0], lacking)
    doc = variant(metric=metric, axes={"variant": [needs[0], missing[0]]})
    expect_error(write(tmp_path, doc), "metric:", missing[0])
    for reporting in needs:
        assert load_spec(write(tmp_path, with_base(variant=reporting) | {"metric": metric}))


def test_asha_on_joint_acc_needs_classifier_loss(tmp_path):
    doc = variant(metric="val_joint_acc", scheduler={"type": "asha"})
    expect_error(write(tmp_path, doc), "metric:", "classifier_loss")


def test_joint_acc_needs_a_trained_head(tmp_path):
    """At cls_weight 0 the joint head is never trained, so it reports nothing to select on."""
    doc = with_base(variant="classifier_loss") | {"metric": "val_joint_acc",
                                                  "axes": {"cls_weight": [0.0, 0.1]}}
    expect_error(write(tmp_path, doc), "metric:", "cls_weight is 0")
    assert load_spec(write(tmp_path, with_base(variant="classifier_loss", cls_weight=0.1)
                           | {"metric": "val_joint_acc"}))


@pytest.mark.parametrize("axis, values", [("a2", [1.0, 100.0, 1.0]), ("a2", [1, 1.0]),
                                          ("variant", ["plain", "plain"]),
                                          ("dataset", ["mnist-5k", "mnist-5k"])])
def test_duplicate_grid_values(tmp_path, axis, values):
    expect_error(write(tmp_path, variant(axes={axis: values})), f"axes.{axis}", "appears twice")


def test_same_metric_maximised_and_minimised(tmp_path):
    doc = variant(search="optuna", axes={"lr": {"loguniform": [1e-4, 1e-2]}},
                  metric=["val_psnr", "val_psnr"], mode=["max", "min"])
    expect_error(write(tmp_path, doc), "metric:", "val_psnr is listed twice")


# --- search: design (sweeps/design.py)

FIVE_AXES = {"a1": [0.0, 0.1], "a2": [1.0, 100.0], "cls_weight": [0.0, 0.1],
             "latent_dim": [8, 16], "inr_depth": [2, 3]}


def designed(design, axes=None, **more) -> dict:
    return variant(search="design", design=design, axes=FIVE_AXES if axes is None else axes, **more)


@pytest.mark.parametrize("doc, needles", [
    (variant(design="full"), ("design: a design needs search: design (got search: 'grid')",)),
    (variant(search="random", design={"type": "lhs", "runs": 4}), ("needs search: design",)),
    (designed(None), ("design: search: design needs design: full, fractional or lhs",)),
    (designed("taguchi"), ("design: 'taguchi' is not a design; allowed: full, fractional, lhs",)),
    (designed({"type": "box-behnken"}), ("is not a design", "allowed: full, fractional, lhs")),
    (designed(["full"]), ("is not a design",)),
    (designed({"type": "full", "resolution": "V"}),
     ("design.resolution: not a key of a full design (only a fractional design has one",
      "allowed: type, factors")),
    (designed({"type": "full", "runs": 16}), ("design.runs: not a key of a full design",)),
    (designed({"type": "fractional", "resolution": "V", "seed": 1}),
     ("design.seed: not a key of a fractional design", "allowed: type, resolution, runs, factors")),
    (designed({"type": "fractional"}), ("design.resolution: a fractional design needs one",
                                        "allowed: III, IV, V (or 3, 4, 5)")),
    (designed({"type": "fractional", "resolution": "VI"}), ("design.resolution: 'VI' is not allowed",)),
    (designed({"type": "fractional", "resolution": 2}), ("design.resolution: 2 is not allowed",)),
    (designed({"type": "fractional", "resolution": 5.0}), ("design.resolution: 5.0 is not allowed",)),
    (designed({"type": "fractional", "resolution": True}), ("design.resolution: True",)),
    (designed({"type": "fractional", "resolution": "V", "runs": 8}),
     ("design.runs: 8 runs of 5 two-level factors reach at most resolution III; resolution V "
      "needs 16 runs",)),
    (designed({"type": "fractional", "resolution": "IV", "runs": 4}),
     ("design.runs: 4 runs of 5 two-level factors reach no resolution; resolution IV needs 16",)),
    (designed({"type": "fractional", "resolution": "V", "runs": 12}),
     ("design.runs: a two-level fraction of 5 factors has 2^m points; allowed: 4, 8, 16, 32",)),
    (designed({"type": "fractional", "resolution": "V", "runs": "16"}),
     ("design.runs: expected an integer >= 2, got '16'",)),
    (designed({"type": "fractional", "resolution": "III"}, axes={"a1": [0.0, 0.1], "a2": [1.0, 100.0]}),
     ("design: a fractional design needs at least 3 two-level factors (got 2); allowed: design: full",)),
    (designed("full", axes={**FIVE_AXES, "a1": [0.0, 0.1, 1.0]}),
     ("axes.a1: a full factorial design needs exactly two levels per factor (got 3 levels)",
      "or leave a1 out of design.factors to cross it as a grid")),
    (designed({"type": "fractional", "resolution": "V"}, axes={**FIVE_AXES, "a2": [1.0]}),
     ("axes.a2: a fractional factorial design needs exactly two levels per factor (got 1 levels)",)),
    (designed("full", axes={"a1": [0.0, 0.1], "lr": {"loguniform": [1e-4, 1e-2]}}),
     ("axes.lr: a full factorial design needs exactly two levels per factor (got a distribution)",)),
    (designed({"type": "full", "factors": ["a1"]},
              axes={"a1": [0.0, 0.1], "lr": {"loguniform": [1e-4, 1e-2]}}),
     ("axes.lr: a distribution outside design.factors cannot be crossed with the design",)),
    (designed({"type": "lhs", "runs": 4}, axes={"a1": [0.0, 0.1]}),
     ("axes.a1: a Latin hypercube samples ranges; allowed: {uniform: [low, high]}",)),
    (designed({"type": "lhs", "runs": 4}, axes={"a1": {"choice": [0.0, 0.1]}}),
     ("axes.a1: a Latin hypercube samples ranges",)),
    (designed("lhs", axes={"a1": {"uniform": [0.0, 0.1]}}),
     ("design.runs: a Latin hypercube needs its number of points",)),
    (designed({"type": "lhs", "runs": 1}, axes={"a1": {"uniform": [0.0, 0.1]}}),
     ("design.runs: expected an integer >= 2, got 1",)),
    (designed({"type": "lhs", "runs": 4, "resolution": "V"}, axes={"a1": {"uniform": [0.0, 0.1]}}),
     ("design.resolution: not a key of a lhs design (a Latin hypercube has no alias structure)",)),
    (designed({"type": "full", "factors": ["a1", "lr"]}),
     ("design.factors: expected a non-empty list of axis names; allowed: a1, a2, cls_weight",)),
    (designed({"type": "full", "factors": ["a1", "a1"]}), ("design.factors: a factor is listed twice",)),
    (designed({"type": "full", "factors": []}), ("design.factors: expected a non-empty list",)),
    (designed("full", axes={}), ("design.factors: expected a non-empty list of axis names; "
                                 "allowed: (no axes)",)),
    (designed("full", axes={**{f: [0.1, 0.2] for f in ("a1", "a2", "cls_weight", "omega0", "lr",
                                                       "cls_lr", "val_fraction")},
                            **{f: [2, 3] for f in ("latent_dim", "inr_depth", "inr_width",
                                                   "hyper_hidden", "probe_epochs",
                                                   "epochs")}}),  # 2^13 points x 2 seeds
     ("axes: the sweep has 16384 trials", "allowed at most 10000")),
])
def test_bad_designs(tmp_path, doc, needles):
    expect_error(write(tmp_path, doc), *needles)


def test_design_loads_and_is_written_back(tmp_path):
    spec = load_spec(write(tmp_path, designed({"type": "fractional", "resolution": 5})))
    assert spec.search == "design" and spec.num_trials() == 16 * 2
    assert spec.raw["design"] == {"type": "fractional", "resolution": "V"}
    # the resolved document loads again as the same sweep (sweep.yaml, resume)
    assert parse_spec(copy.deepcopy(spec.raw), "again.yaml").raw == spec.raw


# --- primary: the confirmatory tests, named before the run (sweeps/primary.py)

PRIMARY_OK = {"stated": "2026-12-01", "tests": [
    {"table": "design", "where": {"metric": "val_psnr", "term": "a2:inr_depth"}}]}


def test_a_primary_family_is_kept_as_written(tmp_path):
    spec = load_spec(write(tmp_path, variant(primary=PRIMARY_OK)))
    assert spec.raw["primary"] == PRIMARY_OK


@pytest.mark.parametrize("section, needles", [
    ({"tests": PRIMARY_OK["tests"]}, ("primary.stated:", "YYYY-MM-DD")),
    ({"stated": "2026-12-01", "tests": []}, ("primary.tests:", "non-empty list")),
    ({"stated": "2026-12-01", "tests": PRIMARY_OK["tests"] * 2},
     ("primary.tests[1]: the same test as primary.tests[0]",)),
    ({"stated": "2026-12-01", "tests": [
        {"table": "design", "where": {"metric": "val_psnr", "term": f"t{i}"}} for i in range(6)]},
     ("primary.tests: 6 tests; allowed at most 5",)),
    ({"stated": "2026-12-01", "tests": [{"table": "anova", "where": {"term": "a2"}}]},
     ("primary.tests[0].table: 'anova' is not allowed", "allowed: effects, design")),
    ({"stated": "2026-12-01", "tests": [{"table": "design", "where": {"factor": "a2"}}]},
     ("primary.tests[0].where.'factor': not a column of design", "allowed: metric, term")),
    ({"stated": "2026-12-01", "tests": [{"table": "equivalence", "where": {"name": "nope"}}]},
     ("primary.tests[0].where.name: 'nope' is not an entry", "allowed: none")),
    ({"stated": "2999-01-01", "tests": PRIMARY_OK["tests"]}, ("primary.stated:", "future")),
    ({"stated": "2026-12-01", "tests": PRIMARY_OK["tests"], "extra": 1},
     ("primary.'extra': unknown key", "allowed: stated, why, tests")),
])
def test_a_bad_primary_family_is_one_line(tmp_path, section, needles):
    expect_error(write(tmp_path, variant(primary=section)), *needles)
