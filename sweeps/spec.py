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

``parse_spec`` checks one section at a time, in file order (a small validator each, in
``sweeps.specsections``, built from the value parsers of ``sweeps.specfields``); what is
particular to a search type is asked of ``sweeps.searchtypes``, the ``design:``, adaptive
``seeds:`` and ``equivalence:`` sections of ``sweeps.design``, ``sweeps.adaptive`` and
``sweeps.equivalence``.  Every refusal is a ``SpecError`` (``sweeps.specerror``, below all of
them).  The file is read by ``sweeps.specyaml``'s hardened loader; tiny mode is
``sweeps.tiny``, the model-size check ``sweeps.modelsize`` (it needs torch).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from contract import metrics as metrics_registry
from hinr.config import TrainingConfig, preset

from . import searchtypes as searches
from . import specsections as sections
from .adaptive import parse as parse_adaptive
from .design import parse as parse_design
from .specerror import SpecError, show
from .specsections import EPOCH_METRICS, FINAL_METRICS, TOP_KEYS
from .specyaml import safe_load

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
    sections.check_top_keys(doc, where)
    name = sections.parse_name(doc, where)
    preset_name, base, base_cfg = sections.parse_base(doc, where)
    axes = sections.parse_axes(doc, preset_name, base, where)
    # seeds: a list, or adaptive seeds (a mapping, sweeps/adaptive.py: its first stage's
    # seeds run first, the rest once their spread is known)
    adaptive = isinstance(doc.get("seeds"), dict)
    seeds = sections.parse_seeds(doc, where) if not adaptive else []
    search = sections.parse_search(doc, where)
    metrics, modes = sections.parse_objectives(doc, search, base_cfg, axes, where)
    if adaptive:
        adaptive = parse_adaptive(doc["seeds"], EPOCH_METRICS + FINAL_METRICS, where)
        seeds = list(range(adaptive["min"]))
        if not search.enumerates:
            known = " or ".join(t.name for t in searches.TYPES.values() if t.enumerates)
            raise SpecError(f"{where}: seeds: adaptive seeds need search: {known} "
                            f"(points known in advance), not {show(search.name)}")
    sections.check(search.axes_problem(axes), where)
    sched = sections.parse_scheduler(doc, metrics, where)
    sections.check_reported(metrics, base_cfg, axes, where)
    sections.check_label_counts(base_cfg, axes, where)
    resources = sections.parse_resources(doc, where)
    budget = sections.parse_budget(doc, where)
    if adaptive and budget["num_samples"] != 1:
        raise SpecError(f"{where}: budget.num_samples: adaptive seeds add seeds to each point "
                        "once; allowed: 1")
    sections.check(search.sections_problem(doc), where)
    # present exactly where the search type needs it (sections_problem)
    design = parse_design(doc["design"], axes, where) if doc.get("design") is not None else None
    sections.check_size(search, axes, seeds, budget, design, where)
    equivalence = sections.parse_margins(doc, {"preset": preset_name, **base}, axes, where)
    tests = sections.parse_primary(doc, equivalence, where)
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


