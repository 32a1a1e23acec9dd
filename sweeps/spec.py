"""A YAML sweep file -> a validated ``SweepSpec``.

Every error is a ``SpecError`` whose one-line message names the file, the field and what is
allowed; it is raised before anything starts or is written.  The file format::

    name: demo                       # results go to results/<name>/ by default
    base: {preset: small, epochs: 4} # a preset (paper | small | tiny) + TrainingConfig overrides
    axes:                            # the ablation factors, any TrainingConfig field
      a2: [1.0, 100.0]               #   a grid (list) ...
      lr: {loguniform: [1e-4, 1e-2]} #   ... or a distribution: choice | uniform | loguniform | randint
    seeds: [0, 1]                    # replicates of every point (own trials, never averaged away)
                                     # or {min: 3, max: 10, until: {metric: val_psnr, halfwidth: 0.2}}
                                     # (adaptive, sweeps/adaptive.py)
    search: grid                     # grid | random | optuna | design (see sweeps/searchtypes.py)
    design: {type: fractional, resolution: V}   # search: design only (sweeps/design.py)
    metric: val_psnr                 # what search and scheduler optimise (or a list for optuna)
    mode: max                        # max | min (a list matching metric for optuna)
    scheduler: fifo                  # fifo | {type: asha, grace_period: 1, reduction_factor: 2}
    resources: {cpus: 1, gpus: 0}    # per trial; gpus may be a fraction (0.25: 4 trials per GPU)
    budget: {num_samples: 1, max_concurrent: 0, time_limit_s: 0, max_failures: 2,
             checkpoint_every_s: 60}
    equivalence:                     # optional: margins stated before the run (sweeps/equivalence.py)
      latent_acc: {where: {variant: plain}, reference: 0.9842, margin: 0.005,
                   source: "paper sec. 4.1", stated: 2026-12-04}

``num_samples`` repeats the search (grid: the whole grid; random/optuna: points drawn).
``checkpoint_every_s``: a trial checkpoints its last epoch and otherwise at most once per that
many seconds (0: every epoch); a crash loses at most that much training or one epoch, the
longer of the two.  Why not every epoch: ``CHECKPOINTS_KEPT``.

``parse_spec`` checks one section at a time, in file order (a small validator each); what is
particular to a search type is asked of ``sweeps.searchtypes``, the ``design:``, adaptive
``seeds:`` and ``equivalence:`` sections of ``sweeps.design``, ``sweeps.adaptive`` and
``sweeps.equivalence``.  Every refusal is a ``SpecError`` (``sweeps.specerror``, below all of
them).
"""

from __future__ import annotations

import copy
import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from contract import metrics as metrics_registry
from hinr.config import (DATASETS, PRESETS, TINY_SPEED, VARIANTS, ConfigError, TrainingConfig,
                         coerce, preset)

from . import equivalence, primary
from . import searchtypes as searches
from .adaptive import parse as parse_adaptive
from .design import parse as parse_design
from .design import tiny as tiny_design
from .estimate import DATASET_SHAPES
from .searchtypes import SEARCHES
from .specerror import MAX_SEED, MAX_SHOWN, SpecError, nearest, show

TOP_KEYS = ("name", "base", "axes", "seeds", "search", "design", "metric", "mode", "scheduler",
            "resources", "budget", "equivalence", "primary")
DISTRIBUTIONS = ("choice", "uniform", "loguniform", "randint")
SCHEDULERS = ("fifo", "asha")
MODES = ("max", "min")
BUDGET_KEYS = {"num_samples": int, "max_concurrent": int, "time_limit_s": float, "max_failures": int,
               "checkpoint_every_s": float}
# A minute of training is what a crash may cost at most (or one epoch, if epochs are longer).
CHECKPOINT_EVERY_S = 60.0
# Checkpoints Tune keeps per trial (its num_to_keep).  Tune snapshots its whole experiment
# state (every trial, ~50 KB each) whenever a trial has made num_to_keep checkpoints since the
# last snapshot: so that the state never names a checkpoint already pruned.  With one kept,
# that is a snapshot per checkpoint, O(trials) work per result and quadratic in all
# (benchmarks/scale.py: 1,505 snapshots for 1,500 results, half the driver's time at 300
# trials).  Two kept, with trials checkpointing at most every budget.checkpoint_every_s
# (sweeps/trial.CheckpointClock), means a trial would need two checkpoints inside one of Tune's
# snapshot periods (10 s, or 19x a snapshot's time) to force one: snapshots stay on Tune's own
# clock, ~5% of the driver.  The price is the disk of one more checkpoint per trial
# (sweeps/power.py counts it).
CHECKPOINTS_KEPT = 2
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
# Bounds on what a sweep file may ask for.  A sweep file is a few dozen lines: a document that
# expands (through YAML aliases) to more nodes than this is an attack, not a sweep.
MAX_YAML_NODES = 10_000
# Tune expands a grid into memory and, past a size, gives up on resumable experiment state;
# a sweep beyond this many trials is also beyond any budget this project plans for.
MAX_TRIALS = 10_000
# Parameters of the largest model a trial may build (the paper's model has 65 M); training
# holds at least 16 bytes per parameter (weights, gradients, two Adam moments).
MAX_MODEL_PARAMS = 1_000_000_000
TRAIN_BYTES_PER_PARAM = 16
# Integers other than seeds (MAX_SEED, sweeps.specerror) land in int64 Parquet columns.
MAX_INT = 2**63 - 1
# Ray tracks resources in units of 1e-4; a smaller request rounds to nothing.
RESOURCE_PRECISION = 1e-4
# Model-size fields: the parameter count grows with each, so the largest model of a sweep is
# the one with each at its largest value.
SIZE_FIELDS = ("latent_dim", "inr_depth", "inr_width", "hyper_hidden", "hyper_layers",
               "encoder_channels", "encoder_blocks", "encoder_kernel")
# A name is one directory under results/: one path component, never "." or "..", no option-like
# or hidden name.
NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")


class SafeLoaderWithFloats(yaml.SafeLoader):
    """yaml.safe_load's loader, plus YAML 1.2 floats: PyYAML reads ``1e-4`` as a *string*,
    which would turn every learning rate written the usual way into a type error."""


SafeLoaderWithFloats.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                  |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                  |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                  |[-+]?\.(?:inf|Inf|INF)
                  |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def _construct_mapping_no_duplicates(loader, node, deep=False):
    """A key written twice in one mapping is an error (PyYAML silently keeps the last one, so a
    second ``axes:`` or ``a2:`` would drop the first without a word).  ``<<`` merges may still
    be overridden."""
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = loader.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # unhashable: the base constructor reports it
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"duplicate key {show(key)}", key_node.start_mark)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


SafeLoaderWithFloats.construct_mapping = _construct_mapping_no_duplicates


def _compose_bounded(loader) -> Any:
    """Compose the document, then count its nodes as the constructor would expand them (an
    alias counts as a full copy of its anchor): a "billion laughs" file of 1 KB expands to
    10**9 nodes and would exhaust memory, so it is refused before anything is built."""
    node = yaml.SafeLoader.compose_document(loader)
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(n) -> int:
        if id(n) in sizes:
            return sizes[id(n)]
        if id(n) in active:
            raise yaml.composer.ComposerError(None, None, "an alias refers to its own anchor",
                                              n.start_mark)
        active.add(id(n))
        total = 1
        if isinstance(n, yaml.SequenceNode):
            total += sum(size(child) for child in n.value)
        elif isinstance(n, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in n.value)
        active.discard(id(n))
        sizes[id(n)] = min(total, MAX_YAML_NODES + 1)  # saturate: the sum cannot explode
        return sizes[id(n)]

    if node is not None and size(node) > MAX_YAML_NODES:
        raise yaml.composer.ComposerError(
            None, None, f"the document expands to more than {MAX_YAML_NODES} nodes "
            "(YAML aliases); a sweep file is small", node.start_mark)
    return node


SafeLoaderWithFloats.compose_document = _compose_bounded


def safe_load(text: str) -> Any:
    return yaml.load(text, Loader=SafeLoaderWithFloats)  # noqa: S506 - a SafeLoader subclass


@dataclass
class SweepSpec:
    path: str
    name: str
    preset: str
    base: dict[str, Any]  # TrainingConfig overrides on top of the preset
    axes: dict[str, Any]  # field -> list (grid) or {distribution: [args]}
    seeds: list[int]
    search: str = "grid"
    metric: list[str] = field(default_factory=lambda: [metrics_registry.DEFAULT_METRIC])
    mode: list[str] = field(default_factory=lambda: ["max"])
    scheduler: dict[str, Any] = field(default_factory=lambda: {"type": "fifo"})
    resources: dict[str, float] = field(default_factory=lambda: {"cpus": 1.0, "gpus": 0.0})
    budget: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)  # the resolved document, as written back
    design: dict[str, Any] | None = None  # search: design's section (sweeps/design.py)
    #: name -> pre-stated equivalence margin (sweeps/equivalence.py); None when absent
    equivalence: dict[str, dict[str, Any]] | None = None
    # seeds: {min, max, until} (sweeps/adaptive.py); ``seeds`` is then the first stage's
    adaptive: dict[str, Any] | None = None
    # trials decided after the sweep started (adaptive seeds' second stage: sweepdoc.read_spec)
    extra_trials: int = 0

    @property
    def search_type(self) -> searches.SearchType:
        """What is particular to this sweep's search (``sweeps.searchtypes``)."""
        return searches.get(self.search)

    def points(self) -> list[dict[str, Any]]:
        """The points (the values of every list axis), one dict per point: every point of a
        grid or a design, or the list axes of one draw (``SearchType.points``)."""
        return self.search_type.points(self.axes, self.design)

    @property
    def base_config(self) -> TrainingConfig:
        return preset(self.preset, **self.base)

    @property
    def num_samples(self) -> int:
        return int(self.budget.get("num_samples", 1))

    def num_trials(self) -> int:
        return self.search_type.num_trials(self.axes, len(self.seeds), self.num_samples,
                                           self.design) + self.extra_trials

    def trial_configs(self) -> list[dict[str, Any]]:
        """For --dry-run: the trials a grid search would run (distributions shown as drawn)."""
        out = []
        for _ in range(self.num_samples if self.search_type.enumerates else 1):
            for point in self.points():
                for seed in self.seeds:
                    row = dict(point)
                    row.update({k: _describe(v) for k, v in self.axes.items() if not isinstance(v, list)})
                    row["seed"] = seed
                    out.append(row)
        return out


# Fields the tiny preset sets for speed; a tiny-mode run drops the sweep's own values for them.
TINY_FIELDS = tuple(TINY_SPEED)
# Datasets that need a download get their offline stand-in in tiny mode.
TINY_DATASETS = {"mnist": "mnist-5k"}
# Label counts a tiny-mode split holds class-balanced (256 training images less validation:
# 229, at least 10 of each class); tiny mode keeps only these of the sweep's label_counts,
# as it keeps only the first values of a grid axis (the other counts run the same code).
TINY_LABEL_COUNTS = (100, "all")


def tiny_mode(spec: SweepSpec) -> SweepSpec:
    """The same sweep shrunk to seconds (big_vision's ``runlocal``): the tiny preset and one
    epoch, the first seed, up to three values of the first grid axis and the first value of
    the others, two searched points, one CPU per trial, and mnist-5k for full MNIST (a design:
    see ``sweeps.design.tiny``).  Every axis and the search, scheduler and variant code paths
    stay in the run."""
    doc = copy.deepcopy(spec.raw)
    base = {k: v for k, v in doc["base"].items() if k not in TINY_FIELDS}
    base.update(preset="tiny", epochs=1)
    if base.get("label_counts"):
        counts = [c for c in base["label_counts"] if c in TINY_LABEL_COUNTS]
        base["label_counts"] = counts or ["all"]
    base["dataset"] = TINY_DATASETS.get(base.get("dataset", "mnist-5k"), base.get("dataset", "mnist-5k"))
    keep = tiny_design(doc)  # a design's factors keep both levels
    axes = {}
    for key, value in doc["axes"].items():
        if isinstance(value, list):
            value = [TINY_DATASETS.get(v, v) for v in value] if key == "dataset" else value
            if key not in keep:
                value = list(dict.fromkeys(value))[:3 if not axes and not keep else 1]
        axes[key] = value
    # One CPU per trial: tiny mode is for laptops and CI, which have no GPU.
    doc.update(name=f"{spec.name}-tiny", base=base, axes=axes, seeds=spec.seeds[:1],
               resources={"cpus": 1.0, "gpus": 0.0})
    if doc.get("equivalence"):
        # a margin about a level the shrunk sweep no longer runs has nothing to test
        kept = {}
        for name, entry in doc["equivalence"].items():
            try:
                equivalence.parse({name: entry}, {"preset": "tiny", **base}, axes)
                kept[name] = entry
            except ValueError:
                continue
        doc["equivalence"] = kept or None
        if doc.get("primary"):  # and a primary test of a margin that was dropped
            tests = [t for t in doc["primary"]["tests"] if t["table"] != "equivalence"
                     or t["where"].get("name") in kept]
            doc["primary"] = {**doc["primary"], "tests": tests} if tests else None
    doc["budget"] = {**doc["budget"], "num_samples": min(doc["budget"]["num_samples"], 2),
                     "time_limit_s": 0.0}
    return parse_spec(doc, spec.path)


def _describe(dist: dict) -> str:
    (kind, args), = dist.items()
    return f"{kind}{tuple(args)}"


# --------------------------------------------------------------------------------------

def load_spec(path: str | Path, overrides: list[str] | None = None) -> SweepSpec:
    """Read and validate a sweep file; ``overrides`` are ``key=value`` strings (``--set``)."""
    path = Path(path)
    where = str(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise SpecError(f"{where}: cannot read sweep file ({err.strerror})") from None
    except UnicodeDecodeError:
        raise SpecError(f"{where}: cannot read sweep file (not UTF-8 text)") from None
    try:
        doc = safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        loc = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise SpecError(f"{where}:{loc}: malformed YAML: {problem}") from None
    except (ValueError, RecursionError) as err:  # e.g. a date such as 2024-13-45; deep nesting
        raise SpecError(f"{where}: malformed YAML: {err}") from None
    if not isinstance(doc, dict):
        raise SpecError(f"{where}: a sweep file is a YAML mapping with keys {', '.join(TOP_KEYS)}")
    doc = copy.deepcopy(doc)
    for item in overrides or []:
        apply_override(doc, item, where)
    return parse_spec(doc, where)


def apply_override(doc: dict, item: str, where: str) -> None:
    """``--set key=value``: a config field (goes into base), or a dotted spec path such as
    ``budget.max_concurrent=2`` / ``axes.a2=[1,10]``.  Values are parsed as YAML scalars."""
    if "=" not in item:
        raise SpecError(f"{where}: --set {show(item)}: expected key=value")
    key, _, raw = item.partition("=")
    key = key.strip()
    try:
        value = safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        raise SpecError(f"{where}: --set {key}: value {show(raw)} is not valid YAML") from None
    parts = key.split(".")
    if len(parts) == 1:
        if key in TOP_KEYS and key not in ("base", "axes", "budget", "resources"):
            doc[key] = value
            return
        fields = TrainingConfig.field_names() + ["preset"]
        if key not in fields:
            raise SpecError(f"{where}: --set {key}: unknown key; allowed: a config field "
                            f"({', '.join(fields)}) or one of {', '.join(TOP_KEYS)}, "
                            "or a dotted path such as budget.max_concurrent")
        doc.setdefault("base", {})
        if not isinstance(doc["base"], dict):
            raise SpecError(f"{where}: base: expected a mapping")
        doc["base"][key] = value
        # A field fixed on the command line overrides the sweep's axis for it.
        if isinstance(doc.get("axes"), dict):
            doc["axes"].pop(key, None)
        return
    if parts[0] not in TOP_KEYS:
        raise SpecError(f"{where}: --set {key}: unknown key {show(parts[0])}; "
                        f"allowed: {', '.join(TOP_KEYS)}")
    node = doc
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise SpecError(f"{where}: --set {key}: {part} is not a mapping")
    node[parts[-1]] = value


def parse_spec(doc: dict, where: str) -> SweepSpec:
    """Validate a sweep document, one section at a time.  Each validator below raises the
    ``SpecError`` of its own section; their order is the order errors are reported in, and
    later sections are checked against the earlier ones (the metric against the axes, ...)."""
    _check_top_keys(doc, where)
    name = _name(doc, where)
    preset_name, base, base_cfg = _base(doc, where)
    axes = _axes(doc, preset_name, base, where)
    # seeds: a list, or adaptive seeds (a mapping, sweeps/adaptive.py: its first stage's
    # seeds run first, the rest once their spread is known)
    adaptive = isinstance(doc.get("seeds"), dict)
    seeds = _seeds(doc, where) if not adaptive else []
    search = _search(doc, where)
    metrics, modes = _objectives(doc, search, base_cfg, axes, where)
    if adaptive:
        adaptive = parse_adaptive(doc["seeds"], EPOCH_METRICS + FINAL_METRICS, where)
        seeds = list(range(adaptive["min"]))
        if not search.enumerates:
            known = " or ".join(t.name for t in searches.TYPES.values() if t.enumerates)
            raise SpecError(f"{where}: seeds: adaptive seeds need search: {known} "
                            f"(points known in advance), not {show(search.name)}")
    _check(search.axes_problem(axes), where)
    sched = _scheduler(doc, metrics, where)
    _check_reported(metrics, base_cfg, axes, where)
    _check_label_counts(base_cfg, axes, where)
    resources = _resources(doc, where)
    budget = _budget(doc, where)
    if adaptive and budget["num_samples"] != 1:
        raise SpecError(f"{where}: budget.num_samples: adaptive seeds add seeds to each point "
                        "once; allowed: 1")
    _check(search.sections_problem(doc), where)
    # present exactly where the search type needs it (sections_problem)
    design = parse_design(doc["design"], axes, where) if doc.get("design") is not None else None
    _check_size(search, axes, seeds, budget, design, where)
    equivalence = _equivalence(doc, {"preset": preset_name, **base}, axes, where)
    tests = _primary(doc, equivalence, where)
    raw = {"name": name, "base": {"preset": preset_name, **base}, "axes": axes,
           "seeds": adaptive or seeds, "search": search.name,
           **({"design": design} if design else {}),
           "metric": metrics if len(metrics) > 1 else metrics[0],
           "mode": modes if len(modes) > 1 else modes[0],
           "scheduler": sched, "resources": resources, "budget": budget,
           **({"equivalence": equivalence} if equivalence else {}),
           **({"primary": tests} if tests else {})}
    return SweepSpec(where, name, preset_name, base, axes, seeds, search.name, metrics, modes,
                     sched, resources, budget, raw, design, equivalence, adaptive or None)


def _equivalence(doc: dict, base: dict[str, Any], axes: dict[str, Any],
                 where: str) -> dict[str, dict[str, Any]] | None:
    """The pre-stated margins (sweeps/equivalence.py); kept in raw, so sweep.yaml and
    trials.parquet's contract carry them to analysis."""
    try:
        return equivalence.parse(doc.get("equivalence"), base, axes)
    except ValueError as err:
        raise SpecError(f"{where}: {err}") from None


def _primary(doc: dict, margins: dict[str, Any] | None, where: str) -> dict[str, Any] | None:
    """The confirmatory tests named before the run (sweeps/primary.py); kept in raw, for
    analysis.family."""
    try:
        return primary.parse(doc.get("primary"), set(margins or {}))
    except ValueError as err:
        raise SpecError(f"{where}: {err}") from None


def _check(problem: str | None, where: str) -> None:
    """A ``field: message`` from a checker that knows no file (``sweeps.searchtypes``) ->
    SpecError."""
    if problem:
        raise SpecError(f"{where}: {problem}")


def _section(doc: dict, key: str) -> Any:
    """A mapping section; absent or empty (``budget:``) is {}, while ``budget: []`` stays an
    error for the caller to report."""
    return {} if doc.get(key) is None else doc[key]


def _check_top_keys(doc: dict, where: str) -> None:
    unknown = [k for k in doc if k not in TOP_KEYS]
    if unknown:
        raise SpecError(f"{where}: unknown key {show(unknown[0])}"
                        f"{nearest(unknown[0], TOP_KEYS)}; allowed: {', '.join(TOP_KEYS)}")


def _name(doc: dict, where: str) -> str:
    name = doc.get("name")
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise SpecError(f"{where}: name: expected a non-empty string of letters, digits, - _ . "
                        "(at most 100, not starting with . or -: it names the results "
                        f"directory; got {show(name)})")
    return name


def _base(doc: dict, where: str) -> tuple[str, dict[str, Any], TrainingConfig]:
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
    base_cfg = _config(preset_name, base, "base", where)
    if base_cfg.seed > MAX_SEED:
        raise SpecError(f"{where}: base.seed: allowed integers 0 to {MAX_SEED}")
    return preset_name, base, base_cfg


def _axes(doc: dict, preset_name: str, base: dict[str, Any], where: str) -> dict[str, Any]:
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
        clean_axes[key] = _parse_axis(value, key, types[key], where)
        # Every grid value must make a valid config on top of the base.
        for probe in (clean_axes[key] if isinstance(clean_axes[key], list) else _bounds(clean_axes[key])):
            _config(preset_name, {**base, key: probe}, field_, where)
    return clean_axes


def _seeds(doc: dict, where: str) -> list[int]:
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


def _search(doc: dict, where: str) -> searches.SearchType:
    search = doc.get("search", "grid")
    if search not in SEARCHES:
        raise SpecError(f"{where}: search: {show(search)} is not allowed{nearest(search, SEARCHES)}; "
                        f"allowed: {', '.join(SEARCHES)}")
    return searches.get(search)


def _objectives(doc: dict, search: searches.SearchType, base_cfg: TrainingConfig,
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
    _check(search.objectives_problem(metrics), where)
    twice = [m for i, m in enumerate(metrics) if m in metrics[:i]]
    if twice:
        raise SpecError(f"{where}: metric: {twice[0]} is listed twice; each objective once, "
                        "with one mode")
    return metrics, modes


def _scheduler(doc: dict, metrics: list[str], where: str) -> dict[str, Any]:
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
        _typed(value, ASHA_KEYS[key], f"scheduler.{key}", where)
    if sched["type"] == "asha":
        if len(metrics) > 1:
            raise SpecError(f"{where}: scheduler: asha needs a single metric")
        if metrics[0] not in EPOCH_METRICS:
            raise SpecError(f"{where}: metric: asha compares trials every epoch, so the metric must "
                            f"be one of {', '.join(EPOCH_METRICS)} (got {show(metrics[0])})")
        if sched.get("grace_period", 1) < 1 or sched.get("reduction_factor", 2) <= 1:
            raise SpecError(f"{where}: scheduler: allowed grace_period >= 1, reduction_factor > 1")
    return sched


def _check_reported(metrics: list[str], base_cfg: TrainingConfig, axes: dict[str, Any],
                    where: str) -> None:
    """Refuse a metric that some trials of the sweep never report."""
    _check_variants_report(metrics, base_cfg.variant, axes.get("variant"), where)
    weights = _axis_values(axes.get("cls_weight"), base_cfg.cls_weight)
    if "val_joint_acc" in metrics and 0 in weights:
        raise SpecError(f"{where}: metric: val_joint_acc is undefined where cls_weight is 0 (the "
                        "joint head is never trained); allowed: cls_weight > 0, or another metric")


def _check_label_counts(base_cfg: TrainingConfig, axes: dict[str, Any], where: str) -> None:
    """Refuse label counts larger than the training split of a dataset the sweep runs (its
    size less the validation carve, after train_subset): such a probe could only be given
    fewer labels than its name says.  A class too small for its balanced share is refused by
    the trial itself (hinr.data.label_subsets), which alone sees the labels."""
    counts = [c for c in base_cfg.label_counts if c != "all"]
    if not counts:
        return

    for dataset in _axis_values(axes.get("dataset"), base_cfg.dataset):
        for subset in _axis_values(axes.get("train_subset"), base_cfg.train_subset):
            for fraction in _axis_values(axes.get("val_fraction"), base_cfg.val_fraction):
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


def _resources(doc: dict, where: str) -> dict[str, float]:
    resources = {"cpus": 1.0, "gpus": 0.0}
    res = _section(doc, "resources")
    if not isinstance(res, dict):
        raise SpecError(f"{where}: resources: expected a mapping with {', '.join(RESOURCE_KEYS)}")
    for key, value in res.items():
        if key not in RESOURCE_KEYS:
            raise SpecError(f"{where}: resources.{key}: unknown key; allowed: cpus, gpus")
        resources[key] = float(_typed(value, float, f"resources.{key}", where))
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


def _budget(doc: dict, where: str) -> dict[str, Any]:
    budget = {"num_samples": 1, "max_concurrent": 0, "time_limit_s": 0.0, "max_failures": 2,
              "checkpoint_every_s": CHECKPOINT_EVERY_S}
    bud = _section(doc, "budget")
    if not isinstance(bud, dict):
        raise SpecError(f"{where}: budget: expected a mapping with {', '.join(BUDGET_KEYS)}")
    for key, value in bud.items():
        if key not in BUDGET_KEYS:
            raise SpecError(f"{where}: budget.{key}: unknown key{nearest(key, BUDGET_KEYS)}; "
                            f"allowed: {', '.join(BUDGET_KEYS)}")
        budget[key] = _typed(value, BUDGET_KEYS[key], f"budget.{key}", where)
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


def _check_size(search: searches.SearchType, axes: dict[str, Any], seeds: list[int],
                budget: dict[str, Any], design: dict | None, where: str) -> None:
    trials = search.num_trials(axes, len(seeds), budget["num_samples"], design)
    if trials > MAX_TRIALS:
        raise SpecError(f"{where}: axes: the sweep has {trials} trials (grid x seeds x "
                        f"num_samples); allowed at most {MAX_TRIALS}: split it into several sweeps")


def _typed(value: Any, typ: type, field_: str, where: str) -> Any:
    try:
        out = coerce(field_, value, typ)
    except ConfigError:
        raise SpecError(f"{where}: {field_}: expected {typ.__name__}, got {show(value)}") from None
    except OverflowError:  # an integer past the largest float (1e309 and up)
        raise SpecError(f"{where}: {field_}: {_too_large(value)}") from None
    if typ is float and not math.isfinite(out):  # .nan / .inf pass every < and > check
        raise SpecError(f"{where}: {field_}: expected a finite number, got {show(value)}")
    if typ is int and abs(out) > MAX_INT:
        raise SpecError(f"{where}: {field_}: {_too_large(value)}")
    return out


def _too_large(value: Any) -> str:
    return f"the number {show(value, 24)} is too large; allowed magnitudes below {MAX_INT}"


def _config(preset_name: str, fields: dict, field_: str, where: str) -> TrainingConfig:
    """The preset with ``fields`` applied, or a SpecError naming ``field_``."""
    too_big = [k for k, v in fields.items() if isinstance(v, int) and not isinstance(v, bool)
               and abs(v) > MAX_INT]
    if too_big:  # int64 Parquet columns; float() of one past 1e308 raises OverflowError
        raise SpecError(f"{where}: {field_}: {too_big[0]}: {_too_large(fields[too_big[0]])}")
    try:
        return preset(preset_name, **fields)
    except ConfigError as err:
        raise SpecError(f"{where}: {field_}: {_clip_values(str(err))}") from None


def _clip_values(text: str) -> str:
    """A ConfigError quotes the value (``name='...'``); keep each quoted run short."""
    return re.sub(r"=(.{%d,}?)(: )" % (MAX_SHOWN + 1),
                  lambda m: "=" + m.group(1)[:MAX_SHOWN - 3] + "..." + m.group(2), text, count=1)


def _axis_values(axis: Any, base_value: Any) -> list:
    """The values a field takes in a sweep: its grid or choice list, else the base's value."""
    if axis is None:
        return [base_value]
    return axis if isinstance(axis, list) else list(axis.values())[0]


def _check_variants_report(metrics: list[str], base_variant: str, axis: Any, where: str) -> None:
    """Refuse a search or scheduler on a metric some of the sweep's variants never report."""
    variants = _axis_values(axis, base_variant)
    for m in metrics:
        needs = VARIANT_METRICS.get(m)
        missing = [v for v in variants if needs and v not in needs]
        if missing:
            raise SpecError(f"{where}: metric: {m} is reported only by variant "
                            f"{', '.join(needs)}, and this sweep runs variant {missing[0]}; "
                            "choose another metric or variant")


def _parse_axis(value: Any, key: str, typ: type, where: str) -> Any:
    field_ = f"axes.{key}"
    if isinstance(value, list):
        if not value:
            raise SpecError(f"{where}: {field_}: empty grid; give at least one value")
        values = [_typed(v, typ, field_, where) for v in value]
        if key == "dataset" and any(v not in DATASETS for v in values):
            raise SpecError(f"{where}: {field_}: allowed values are {', '.join(DATASETS)}")
        if key == "variant" and any(v not in VARIANTS for v in values):
            raise SpecError(f"{where}: {field_}: allowed values are {', '.join(VARIANTS)}")
        twice = [v for i, v in enumerate(values) if v in values[:i]]
        if twice:  # the same point twice is a fake replicate with the same seed
            raise SpecError(f"{where}: {field_}: {show(twice[0])} appears twice; give each value "
                            "once (replicates come from seeds:)")
        return values
    if not isinstance(value, dict) or len(value) != 1:
        raise SpecError(f"{where}: {field_}: expected a list (grid) or one of "
                        f"{{{': [...], '.join(DISTRIBUTIONS)}: [...]}}")
    (kind, args), = value.items()
    if kind not in DISTRIBUTIONS:
        raise SpecError(f"{where}: {field_}: unknown distribution {show(kind)}; allowed: "
                        f"{', '.join(DISTRIBUTIONS)}")
    if not isinstance(args, list) or not args:
        raise SpecError(f"{where}: {field_}.{kind}: expected a non-empty list")
    if kind == "choice":
        return {kind: [_typed(v, typ, field_, where) for v in args]}
    if len(args) != 2:
        raise SpecError(f"{where}: {field_}.{kind}: expected [low, high]")
    if kind == "randint":
        if typ is not int:
            raise SpecError(f"{where}: {field_}.randint: {key} is a {typ.__name__} field; "
                            "randint needs an integer field")
        low, high = (_typed(a, int, f"{field_}.{kind}", where) for a in args)
    else:
        if typ is not float:
            raise SpecError(f"{where}: {field_}.{kind}: {key} is a {typ.__name__} field; "
                            f"{kind} needs a float field (use choice or randint)")
        low, high = (_typed(a, float, f"{field_}.{kind}", where) for a in args)
        if not (math.isfinite(low) and math.isfinite(high)):
            raise SpecError(f"{where}: {field_}.{kind}: bounds must be finite")
    if low >= high:
        raise SpecError(f"{where}: {field_}.{kind}: low ({low}) must be below high ({high})")
    if kind == "loguniform" and low <= 0:
        raise SpecError(f"{where}: {field_}.loguniform: bounds must be > 0 (got low={low})")
    return {kind: [low, high]}


def model_params(spec: SweepSpec) -> int:
    """Parameters of the sweep's largest model, counted on torch's meta device (shapes only,
    nothing allocated): every size field at its largest value in the sweep, for each dataset
    and variant it runs."""
    # torch takes 1.6 s to import (measured 2026-12-06): only for the sweep's size check,
    # never to validate a sweep file
    import torch

    from hinr.models import build_model

    sizes = {}
    for key in SIZE_FIELDS:
        if key in spec.axes:
            values = spec.axes[key] if isinstance(spec.axes[key], list) else _bounds(spec.axes[key])
            sizes[key] = max(values)
    options = {k: (spec.axes[k] if isinstance(spec.axes.get(k), list) else
                   _bounds(spec.axes[k]) if k in spec.axes else [getattr(spec.base_config, k)])
               for k in ("dataset", "variant")}
    largest = 0
    for dataset, variant in itertools.product(options["dataset"], options["variant"]):
        cfg = spec.base_config.replace(**sizes, dataset=dataset, variant=variant)
        _, channels, h, w = DATASET_SHAPES[dataset]
        try:
            with torch.device("meta"):
                model = build_model(cfg, channels, (h, w))
        except (RuntimeError, ValueError, TypeError, OverflowError, MemoryError):
            return MAX_MODEL_PARAMS + 1  # shapes past what torch can even describe
        largest = max(largest, sum(p.numel() for p in model.parameters()))
    return largest


def check_model_size(spec: SweepSpec, memory_bytes: int | None = None) -> int:
    """Refuse a sweep whose largest model is over ``MAX_MODEL_PARAMS`` or, given the memory of
    the largest node, needs more than it has just for weights, gradients and Adam state."""
    params = model_params(spec)
    if params > MAX_MODEL_PARAMS:
        raise SpecError(f"{spec.path}: base/axes: the largest model has {params:,} parameters; "
                        f"allowed at most {MAX_MODEL_PARAMS:,} (the paper's has 65 M): lower "
                        f"{', '.join(SIZE_FIELDS)}")
    need = params * TRAIN_BYTES_PER_PARAM
    if memory_bytes is not None and need > memory_bytes:
        raise SpecError(f"{spec.path}: base/axes: the largest model ({params:,} parameters) needs "
                        f"at least {need / 2**30:.1f} GiB to train, and the largest node has "
                        f"{memory_bytes / 2**30:.1f} GiB: lower {', '.join(SIZE_FIELDS)}")
    return params


def _bounds(dist: dict) -> list:
    (kind, args), = dist.items()
    if kind == "choice":
        return args
    if kind == "randint":
        return [args[0], args[1] - 1]  # randint's high is exclusive
    return args
