"""Tiny mode (``launch.py run --tiny``): the same sweep shrunk to seconds, for laptops, CI and
the tests that run every file in sweeps/ (big_vision's ``runlocal``, Ray's ``--smoke-test``)."""

from __future__ import annotations

import copy

from hinr.config import TINY_SPEED

from . import equivalence
from .design import tiny as tiny_design
from .spec import SweepSpec, parse_spec

# Fields the tiny preset sets for speed; a tiny-mode run drops the sweep's own values for them.
TINY_FIELDS = tuple(TINY_SPEED)
# Datasets that need a download get their offline stand-in in tiny mode.
TINY_DATASETS = {"mnist": "mnist-5k"}
# Label counts a tiny-mode split holds class-balanced (256 training images less validation:
# 229, at least 10 of each class); tiny mode keeps only these of the sweep's label_counts,
# as it keeps only the first values of a grid axis (the other counts run the same code).
TINY_LABEL_COUNTS = (100, "all")
# Points a searched sweep draws in tiny mode: importance (the report's Explore section) ranks
# factors over 3 points at least (analysis.importance), so 2 left the section out (issue 43).
TINY_POINTS = 3


def tiny_mode(spec: SweepSpec) -> SweepSpec:
    """The same sweep shrunk to seconds (big_vision's ``runlocal``): the tiny preset and one
    epoch, the first seed, up to three values of the first grid axis and the first value of
    the others, three searched points (the fewest the Explore section ranks), one CPU per
    trial, and mnist-5k for full MNIST (a design:
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
    _enough_points(axes, doc["axes"], keep)
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
    doc["budget"] = {**doc["budget"], "num_samples": min(doc["budget"]["num_samples"], TINY_POINTS),
                     "time_limit_s": 0.0}
    return parse_spec(doc, spec.path)


def _enough_points(axes: dict, full: dict, keep: list[str]) -> None:
    """A grid shrunk below TINY_POINTS points (its first axis has two levels, say) keeps a
    second level of the next list axes until it has them, or has every point the sweep has:
    the report's Explore section ranks factors over 3 points at least."""
    if keep:
        return
    lists = [k for k, v in axes.items() if isinstance(v, list)]
    points = 1
    for k in lists:
        points *= len(axes[k])
    for k in lists[1:]:
        if points >= TINY_POINTS:
            return
        levels = list(dict.fromkeys(full[k]))
        if len(levels) > 1:
            if k == "dataset":
                levels = [TINY_DATASETS.get(v, v) for v in levels]
            axes[k] = list(dict.fromkeys(levels))[:2]
            points *= len(axes[k])  # the axis had one level

