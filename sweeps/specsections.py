"""The sections of a sweep file, one validator each, in the order ``sweeps.spec.parse_spec``
calls them; the allowed values they check against.  Each raises the ``SpecError`` of its own
section, naming the file, the field and what is allowed; later sections are checked against
earlier ones (the metric against the axes, the size against the search).
"""

from __future__ import annotations

import re
from typing import Any

from contract import metrics as metrics_registry
from hinr.config import PRESETS, TrainingConfig

from . import equivalence, primary
from . import searchtypes as searches
from .estimate import DATASET_SHAPES
from .searchtypes import SEARCHES
from .specerror import MAX_SEED, SpecError, nearest, show
from .specfields import axis_values, bounds, parse_axis, training_config, typed

TOP_KEYS = ("name", "base", "axes", "seeds", "search", "design", "metric", "mode", "scheduler",
            "resources", "budget", "equivalence", "primary")
SCHEDULERS = ("fifo", "asha")
MODES = ("max", "min")
BUDGET_KEYS = {"num_samples": int, "max_concurrent": int, "time_limit_s": float, "max_failures": int,
               "checkpoint_every_s": float}
# A minute of training is what a crash may cost at most (or one epoch, if epochs are longer).
CHECKPOINT_EVERY_S = 60.0
RESOURCE_KEYS = {"cpus": float, "gpus": float}
ASHA_KEYS = {"type": str, "grace_period": int, "reduction_factor": float}
# Metrics a search may select on, from the one registry (contract.metrics): those reported after
# every epoch (usable by ASHA), on the validation split or on training, and validation
# metrics known only at the end.
EPOCH_METRICS = metrics_registry.names(when="epoch", selectable=True)
FINAL_METRICS = metrics_registry.names(when="final", selectable=True)
# Metrics measured on the test split, once at the end: reported, never selected on (a search
# on them would tune to the test set).  Each maps to its validation twin, if any.
TEST_METRICS = {m.name: m.val_twin for m in metrics_registry.METRICS if m.split == "test"}
# Metrics only some trials report; a search or scheduler on one needs every trial to report
# it (the joint head exists only in variant classifier_loss, and is trained only at cls_weight > 0).
VARIANT_METRICS = {m.name: m.variants for m in metrics_registry.METRICS
                   if m.variants and m.selectable}
# Fields that make no sense as a sweep axis: they are set per trial by the framework, or
# (label_counts) say which probes every trial runs, not a setting compared between trials.
NOT_AXES = ("seed", "threads", "device", "label_counts")
# Tune expands a grid into memory and, past a size, gives up on resumable experiment state;
# a sweep beyond this many trials is also beyond any budget this project plans for.
MAX_TRIALS = 10_000
# Ray tracks resources in units of 1e-4; a smaller request rounds to nothing.
RESOURCE_PRECISION = 1e-4
# A name is one directory under results/: one path component, never "." or "..", no option-like
# or hidden name.
NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")


def parse_margins(doc: dict, base: dict[str, Any], axes: dict[str, Any],
                 where: str) -> dict[str, dict[str, Any]] | None:
    """The pre-stated margins (sweeps/equivalence.py); kept in raw, so sweep.yaml and
    trials.parquet's contract carry them to analysis."""
    try:
        return equivalence.parse(doc.get("equivalence"), base, axes)
    except ValueError as err:
        raise SpecError(f"{where}: {err}") from None


def parse_primary(doc: dict, margins: dict[str, Any] | None, where: str) -> dict[str, Any] | None:
    """The confirmatory tests named before the run (sweeps/primary.py); kept in raw, for
    analysis.family."""
    try:
        return primary.parse(doc.get("primary"), set(margins or {}))
    except ValueError as err:
        raise SpecError(f"{where}: {err}") from None


def check(problem: str | None, where: str) -> None:
    """A ``field: message`` from a checker that knows no file (``sweeps.searchtypes``) ->
    SpecError."""
    if problem:
        raise SpecError(f"{where}: {problem}")


def _section(doc: dict, key: str) -> Any:
    """A mapping section; absent or empty (``budget:``) is {}, while ``budget: []`` stays an
    error for the caller to report."""
    return {} if doc.get(key) is None else doc[key]


def check_top_keys(doc: dict, where: str) -> None:
    unknown = [k for k in doc if k not in TOP_KEYS]
    if unknown:
        raise SpecError(f"{where}: unknown key {show(unknown[0])}"
                        f"{nearest(unknown[0], TOP_KEYS)}; allowed: {', '.join(TOP_KEYS)}")


def parse_name(doc: dict, where: str) -> str:
    name = doc.get("name")
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise SpecError(f"{where}: name: expected a non-empty string of letters, digits, - _ . "
                        "(at most 100, not starting with . or -: it names the results "
                        f"directory; got {show(name)})")
    return name


def parse_base(doc: dict, where: str) -> tuple[str, dict[str, Any], TrainingConfig]:
    """A preset plus config overrides, validated by TrainingConfig itself."""
    base = _section(doc, "base")
    if not isinstance(base, dict):
        raise SpecError(f"{where}: base: expected a mapping of config fields")
    base = dict(base)
    preset_name = base.pop("preset", "small")
    if not isinstance(preset_name, str):
        raise SpecError(f"{where}: base.preset: allowed values are {', '.join(PRESETS)} "
                        f"(got {show(preset_name)})")
    bad_keys = [k for k in base if not isinstance(k, str)]
    if bad_keys:
        raise SpecError(f"{where}: base: unknown config key {show(bad_keys[0])}; allowed: "
                        f"preset, {', '.join(TrainingConfig.field_names())}")
    base_cfg = training_config(preset_name, base, "base", where)
    if base_cfg.seed > MAX_SEED:
        raise SpecError(f"{where}: base.seed: allowed integers 0 to {MAX_SEED}")
    return preset_name, base, base_cfg


def parse_axes(doc: dict, preset_name: str, base: dict[str, Any], where: str) -> dict[str, Any]:
    axes = _section(doc, "axes")
    if not isinstance(axes, dict):
        raise SpecError(f"{where}: axes: expected a mapping of config field -> list or distribution")
    types = TrainingConfig.field_types()
    clean_axes: dict[str, Any] = {}
    for key, value in axes.items():
        field_ = f"axes.{key}"
        if key not in types or key in NOT_AXES:
            allowed = [f for f in types if f not in NOT_AXES]
            hint = " (use seeds: for replicates)" if key == "seed" else nearest(key, allowed)
            raise SpecError(f"{where}: {field_}: unknown or fixed config field{hint}; "
                            f"allowed: {', '.join(allowed)}")
        clean_axes[key] = parse_axis(value, key, types[key], where)
        # Every grid value must make a valid config on top of the base.
        for probe in (clean_axes[key] if isinstance(clean_axes[key], list) else bounds(clean_axes[key])):
            training_config(preset_name, {**base, key: probe}, field_, where)
    return clean_axes


def parse_seeds(doc: dict, where: str) -> list[int]:
    seeds = doc.get("seeds", [0])
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = [seeds]
    if (not isinstance(seeds, list) or not seeds
            or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= MAX_SEED
                       for s in seeds)):
        raise SpecError(f"{where}: seeds: expected a non-empty list of integers 0 to {MAX_SEED} "
                        "(torch's and numpy's seed range)")
    if len(set(seeds)) != len(seeds):
        raise SpecError(f"{where}: seeds: duplicate seeds {show(seeds)}; replicates need "
                        "distinct seeds")
    return seeds


def parse_search(doc: dict, where: str) -> searches.SearchType:
    search = doc.get("search", "grid")
    if search not in SEARCHES:
        raise SpecError(f"{where}: search: {show(search)} is not allowed{nearest(search, SEARCHES)}; "
                        f"allowed: {', '.join(SEARCHES)}")
    return searches.get(search)


def parse_objectives(doc: dict, search: searches.SearchType, base_cfg: TrainingConfig,
                axes: dict[str, Any], where: str) -> tuple[list[str], list[str]]:
    """``metric`` and ``mode``: one mode per metric, each metric one a search may select on."""
    metric = doc.get("metric", metrics_registry.DEFAULT_METRIC)
    mode = doc.get("mode", "max")
    metrics = metric if isinstance(metric, list) else [metric]
    modes = mode if isinstance(mode, list) else [mode] * len(metrics)
    known = EPOCH_METRICS + FINAL_METRICS
    for m in metrics:
        if isinstance(m, str) and m in TEST_METRICS:
            instead = (f"use {TEST_METRICS[m]}" if TEST_METRICS[m]
                       else f"allowed: {', '.join(known)}")
            raise SpecError(f"{where}: metric: {m} selects on the test split; {instead}")
        if m not in known:
            raise SpecError(f"{where}: metric: {show(m)} is not allowed{nearest(m, known)}; "
                            f"allowed: {', '.join(known)}")
    for m in modes:
        if m not in MODES:
            raise SpecError(f"{where}: mode: {show(m)} is not allowed; allowed: max, min")
    if len(modes) != len(metrics) or not metrics:
        raise SpecError(f"{where}: mode: give one mode per metric ({len(metrics)} metrics, "
                        f"{len(modes)} modes)")
    fractions = axes.get("val_fraction", [base_cfg.val_fraction])
    on_val = [m for m in metrics if m.startswith("val_")]
    if on_val and isinstance(fractions, list) and 0 in fractions:
        raise SpecError(f"{where}: metric: {on_val[0]} needs a validation split, and val_fraction "
                        "0 holds none out; allowed: val_fraction > 0, or a train_* metric")
    check(search.objectives_problem(metrics), where)
    twice = [m for i, m in enumerate(metrics) if m in metrics[:i]]
    if twice:
        raise SpecError(f"{where}: metric: {twice[0]} is listed twice; each objective once, "
                        "with one mode")
    return metrics, modes


def parse_scheduler(doc: dict, metrics: list[str], where: str) -> dict[str, Any]:
    sched = doc.get("scheduler", "fifo")
    if isinstance(sched, str):
        sched = {"type": sched}
    if not isinstance(sched, dict) or sched.get("type") not in SCHEDULERS:
        raise SpecError(f"{where}: scheduler: expected fifo, asha or {{type: asha, grace_period: N, "
                        "reduction_factor: F}")
    for key, value in sched.items():
        if key not in ASHA_KEYS or (sched["type"] == "fifo" and key != "type"):
            allowed = "type" if sched["type"] == "fifo" else ", ".join(ASHA_KEYS)
            raise SpecError(f"{where}: scheduler.{key}: unknown key"
                            f"{nearest(key, allowed.split(', '))}; allowed: {allowed}")
        typed(value, ASHA_KEYS[key], f"scheduler.{key}", where)
    if sched["type"] == "asha":
        if len(metrics) > 1:
            raise SpecError(f"{where}: scheduler: asha needs a single metric")
        if metrics[0] not in EPOCH_METRICS:
            raise SpecError(f"{where}: metric: asha compares trials every epoch, so the metric must "
                            f"be one of {', '.join(EPOCH_METRICS)} (got {show(metrics[0])})")
        if sched.get("grace_period", 1) < 1 or sched.get("reduction_factor", 2) <= 1:
            raise SpecError(f"{where}: scheduler: allowed grace_period >= 1, reduction_factor > 1")
    return sched


def check_reported(metrics: list[str], base_cfg: TrainingConfig, axes: dict[str, Any],
                    where: str) -> None:
    """Refuse a metric that some trials of the sweep never report."""
    _check_variants_report(metrics, base_cfg.variant, axes.get("variant"), where)
    weights = axis_values(axes.get("cls_weight"), base_cfg.cls_weight)
    if "val_joint_acc" in metrics and 0 in weights:
        raise SpecError(f"{where}: metric: val_joint_acc is undefined where cls_weight is 0 (the "
                        "joint head is never trained); allowed: cls_weight > 0, or another metric")


def check_label_counts(base_cfg: TrainingConfig, axes: dict[str, Any], where: str) -> None:
    """Refuse label counts larger than the training split of a dataset the sweep runs (its
    size less the validation carve, after train_subset): such a probe could only be given
    fewer labels than its name says.  A class too small for its balanced share is refused by
    the trial itself (hinr.data.label_subsets), which alone sees the labels."""
    counts = [c for c in base_cfg.label_counts if c != "all"]
    if not counts:
        return

    for dataset in axis_values(axes.get("dataset"), base_cfg.dataset):
        for subset in axis_values(axes.get("train_subset"), base_cfg.train_subset):
            for fraction in axis_values(axes.get("val_fraction"), base_cfg.val_fraction):
                images = DATASET_SHAPES[dataset][0] if dataset in DATASET_SHAPES else None
                if images is None or isinstance(subset, str) or isinstance(fraction, str):
                    continue  # a sampled axis: the trial checks
                images = min(images, subset) if subset else images
                split = images - round(images * fraction)
                if max(counts) > split:
                    raise SpecError(
                        f"{where}: base.label_counts: {max(counts)} labels, but {dataset}'s "
                        f"training split has about {split} images (train_subset "
                        f"{subset or 'all'}, val_fraction {fraction:g}); allowed: counts up "
                        "to the training split, never clipped")


def parse_resources(doc: dict, where: str) -> dict[str, float]:
    resources = {"cpus": 1.0, "gpus": 0.0}
    res = _section(doc, "resources")
    if not isinstance(res, dict):
        raise SpecError(f"{where}: resources: expected a mapping with {', '.join(RESOURCE_KEYS)}")
    for key, value in res.items():
        if key not in RESOURCE_KEYS:
            raise SpecError(f"{where}: resources.{key}: unknown key; allowed: cpus, gpus")
        resources[key] = float(typed(value, float, f"resources.{key}", where))
    if resources["cpus"] <= 0 and resources["gpus"] <= 0:
        raise SpecError(f"{where}: resources: a trial needs cpus > 0 or gpus > 0")
    if resources["cpus"] < 0 or resources["gpus"] < 0:
        raise SpecError(f"{where}: resources: cpus and gpus must be >= 0")
    for key, value in resources.items():
        if 0 < value < RESOURCE_PRECISION:
            raise SpecError(f"{where}: resources.{key}: {value:g} is below Ray's resource "
                            f"precision; allowed 0 or >= {RESOURCE_PRECISION:g}")
    if resources["gpus"] > 1 and not float(resources["gpus"]).is_integer():
        raise SpecError(f"{where}: resources.gpus: fractions are allowed only below 1 "
                        f"(got {resources['gpus']})")
    return resources


def parse_budget(doc: dict, where: str) -> dict[str, Any]:
    budget = {"num_samples": 1, "max_concurrent": 0, "time_limit_s": 0.0, "max_failures": 2,
              "checkpoint_every_s": CHECKPOINT_EVERY_S}
    bud = _section(doc, "budget")
    if not isinstance(bud, dict):
        raise SpecError(f"{where}: budget: expected a mapping with {', '.join(BUDGET_KEYS)}")
    for key, value in bud.items():
        if key not in BUDGET_KEYS:
            raise SpecError(f"{where}: budget.{key}: unknown key{nearest(key, BUDGET_KEYS)}; "
                            f"allowed: {', '.join(BUDGET_KEYS)}")
        budget[key] = typed(value, BUDGET_KEYS[key], f"budget.{key}", where)
    if budget["num_samples"] < 1:
        raise SpecError(f"{where}: budget.num_samples: allowed integers >= 1")
    for key in ("max_concurrent", "max_failures"):
        if budget[key] < 0:
            raise SpecError(f"{where}: budget.{key}: allowed integers >= 0 (0 = no limit / no retry)")
    if budget["time_limit_s"] < 0:
        raise SpecError(f"{where}: budget.time_limit_s: allowed seconds >= 0 (0 = no limit)")
    if budget["checkpoint_every_s"] < 0:
        raise SpecError(f"{where}: budget.checkpoint_every_s: allowed seconds >= 0 "
                        "(0 = every epoch)")
    return budget


def check_size(search: searches.SearchType, axes: dict[str, Any], seeds: list[int],
                budget: dict[str, Any], design: dict | None, where: str) -> None:
    trials = search.num_trials(axes, len(seeds), budget["num_samples"], design)
    if trials > MAX_TRIALS:
        raise SpecError(f"{where}: axes: the sweep has {trials} trials (grid x seeds x "
                        f"num_samples); allowed at most {MAX_TRIALS}: split it into several sweeps")


def _check_variants_report(metrics: list[str], base_variant: str, axis: Any, where: str) -> None:
    """Refuse a search or scheduler on a metric some of the sweep's variants never report."""
    variants = axis_values(axis, base_variant)
    for m in metrics:
        needs = VARIANT_METRICS.get(m)
        missing = [v for v in variants if needs and v not in needs]
        if missing:
            raise SpecError(f"{where}: metric: {m} is reported only by variant "
                            f"{', '.join(needs)}, and this sweep runs variant {missing[0]}; "
                            "choose another metric or variant")
