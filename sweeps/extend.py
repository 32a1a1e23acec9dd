"""``launch.py extend RESULTS_DIR``: more of a finished sweep, in its own results directory
(the planning and the checks; ``sweeps.commands.extend`` holds the lock and drives it).

An extension adds trials to a grid or designed sweep and pools them with the old ones as one
sweep: ``--seeds N`` (every point ends with N seeds: the next unused seed numbers),
``--set axes.X=[old levels..., new levels]`` (a grid axis gains levels; every new point runs
with every seed) or ``--fraction complementary`` (a fractional design gains the other
fraction: a half-fraction becomes the full 2^k, ``sweeps.design``).  ``--repeat N`` adds N of
the sweep's points again, with every seed (``repeated_points``): the extension runs on
another day, maybe another machine, and the repeats measure that shift on the same
configurations (each row's ``stage`` column says which run made it).

How the pooled result stays one sweep:

* ``sweep.yaml`` becomes the pooled sweep (what ``status``, ``report`` and ``resume`` read),
  with its first run's ``provenance`` kept and one ``extensions`` entry per extension: what
  was added, when, at which commit, by which command, the Tune experiment that runs it
  (``extensions/<n>/``) and its points (``sweeps.sweepdoc``; ``sweeps.life`` plans the stage
  that runs them).
* Each extension is its own Tune experiment over exactly the trials it adds (a grid over the
  list of its points, ``sweeps.tune.search.points_space``), so Tune's state of the earlier runs is
  never touched, and a resume of an interrupted extension is a resume of that experiment.
* Old trials are kept by id (``ParquetResults.kept``): their rows in ``trials.parquet`` are
  written back as they were read, their ``epochs/``, ``tb/`` and ``images/`` files are not
  touched.  trials.parquet's contract metadata becomes the pooled sweep's, so ``analysis``
  reads one sweep.

Refused, with one line and nothing changed, where pooling would be wrong.  The product knows
by comparing, not by trust:

* the sweep's settings: only axes (levels appended), seeds and the design fraction may
  change; ``--set`` of anything else (a base field, the preset, the dataset, the validation
  split's ``val_fraction``, epochs, the metric...) is refused;
* the code that computes the numbers: the git trees of ``NUMERIC_CODE`` at the commit in the
  sweep's provenance and at HEAD must be the same objects (``git rev-parse COMMIT:hinr``), the
  working tree may hold no uncommitted change there, and ``NUMERIC_PACKAGES`` must be the
  versions the sweep recorded.  A sweep whose commit is unknown (none recorded, or not in this
  repository) is refused too: whether its numbers would change cannot be told;
* what a design cannot absorb: a third level of a two-level factor, a new axis.

The dataset's files are identified by name (and ``download``'s md5 check for full MNIST), not
hashed here.
"""

from __future__ import annotations

import collections
import copy
import itertools
import math
from importlib import metadata
from typing import Any

from . import searchtypes
from .spec import SpecError, apply_override, parse_spec
from .specerror import show
from .sweepdoc import ROOT, ExtendError, git

#: the paths whose code computes a trial's numbers (hinr: data, model, training;
#: sweeps/trial.py: a trial's config -> TrainingConfig; sweeps/tune/trainable.py: its CPU
#: share's threads, its data and the checkpoint it resumes from; the contract's metric registry
#: and fields: which probes and label counts a trial runs); a change there changes results
NUMERIC_CODE = ("hinr", "sweeps/trial.py", "sweeps/tune/trainable.py", "contract/metrics.py",
                "contract/fields.py")
#: packages whose version changes the numbers (kernels, data transforms)
NUMERIC_PACKAGES = ("torch", "torchvision")
FRACTIONS = ("complementary",)
#: subsets of points ``repeated_points`` compares at most (C(16, 4) = 1,820; C(32, 8) ~ 10.5M
#: would take minutes: beyond this bound the points are taken evenly spaced)
MAX_REPEAT_CHOICES = 50_000


# ------------------------------------------------------------------------------ planning
def _norm(value: Any) -> Any:
    """A config value as a key: 1, 1.0 and a Parquet float column's 1.0 are one value."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return str(value)


def point_key(values: dict[str, Any], names: list[str]) -> tuple:
    """A trial's (point, seed) as a key, read off ``names`` of ``values`` (a point of the
    spec, or a row's config): what extend pools by and a continuation matches rows by."""
    return tuple(_norm(values.get(n)) for n in names)


def trial_points(spec) -> list[dict[str, Any]]:
    """Every trial of a grid or designed sweep as its axis values and seed."""
    return [dict(r) for r in spec.trial_configs()]


def plan(doc: dict[str, Any], where: str, seeds: int | None = None,
         sets: list[str] | None = None, fraction: str | None = None, repeat: int | None = None
         ) -> tuple[dict[str, Any], str, list[dict[str, Any]], list[dict[str, Any]]]:
    """(the pooled sweep document, what was added in words, the added trials' points, the
    repeated ones among them).  ``doc`` is the sweep as run so far (``sweep_part``);
    ``repeat``: that many of its points run again with every seed (``repeated_points``)."""
    old = parse_spec(copy.deepcopy(doc), where)
    _check_extensible(old, where, seeds, sets, fraction)
    if repeat is not None and not 1 <= repeat <= len(old.points()):
        raise ExtendError(f"--repeat: allowed 1 to {len(old.points())} (the sweep's "
                          f"points; got {repeat})")
    new = copy.deepcopy(doc)
    what = []
    if seeds is not None:
        what.append(_more_seeds(old, new, seeds))
    for item in sets or []:
        what.append(_more_levels(old, new, item, where))
    if fraction is not None:
        what.append(_other_fraction(old, new, fraction))
    try:
        pooled = parse_spec(new, where)
    except SpecError as err:
        raise ExtendError(str(err)) from None
    names = sorted(trial_points(old)[0]) if trial_points(old) else []
    have = collections.Counter(point_key(p, names) for p in trial_points(old))
    added = []
    for point in trial_points(pooled):
        key = point_key(point, names)
        if have[key]:
            have[key] -= 1
        else:
            added.append(point)
    if not added:
        raise ExtendError(f"{where}: the extension adds no trial")
    repeats = []
    if repeat is not None:
        chosen = repeated_points(old, repeat)
        repeats = [dict(point, seed=seed) for point in chosen for seed in old.seeds]
        what.append(f"{repeat} of its points run again with every seed (the shift between "
                    f"its runs: {len(repeats)} trials)")
    # The repeats first: a chunked extension then measures the shift in its first stage,
    # beside the stage that ran the originals' successors.
    return pooled.raw, "; ".join(what), repeats + added, repeats


def repeated_points(spec, count: int) -> list[dict[str, Any]]:
    """``count`` of the sweep's points to run again in an extension, so that the shift
    between the two runs (another day, machine or load: the block) is measured on the same
    configurations, not only through the design's defining contrast.  Chosen as balanced as
    the points allow: every axis's levels as equally often as possible, then the axes as
    little correlated as possible (on two-level axes, the repeated points then estimate the
    block free of every main effect); ties go to the earliest points.  Deterministic."""
    points = spec.points()  # every point of the grid or design, once
    names = [n for n in spec.axes if isinstance(spec.axes[n], list)]
    coded = [[spec.axes[n].index(p[n]) if p[n] in spec.axes[n] else 0 for n in names]
             for p in points]

    def imbalance(subset: tuple[int, ...]) -> tuple[float, float]:
        spread = 0.0
        for j, name in enumerate(names):
            counts = collections.Counter(coded[i][j] for i in subset)
            levels = len(spec.axes[name])
            spread += max(counts.values()) - (min(counts.values())
                                              if len(counts) == min(levels, len(subset)) else 0)
        corr = 0.0
        for a, b in itertools.combinations(range(len(names)), 2):
            corr += abs(sum((2 * coded[i][a] - 1) * (2 * coded[i][b] - 1) for i in subset))
        return spread, corr

    if math.comb(len(points), count) > MAX_REPEAT_CHOICES:  # too many subsets: evenly spaced
        step = len(points) / count
        return [points[int(i * step)] for i in range(count)]
    best = min(itertools.combinations(range(len(points)), count), key=imbalance)
    return [points[i] for i in best]


def _check_extensible(old, where: str, seeds: int | None, sets: list[str] | None,
                      fraction: str | None) -> None:
    """Refuse a sweep that cannot be extended at all, and an extension that adds nothing."""
    if not old.search_type.enumerates:
        names = [t.name for t in searchtypes.TYPES.values() if t.enumerates]
        raise ExtendError(f"{where}: search: {old.search}: extend adds trials to "
                          f"{' and '.join(names)} sweeps (a searched sweep's points depend on "
                          f"its results so far); allowed: {', '.join(names)}")
    if old.adaptive is not None:
        raise ExtendError(f"{where}: seeds: adaptive seeds choose each point's seeds by their "
                          "own rule (sweeps/adaptive.py), and added trials would break it; run a "
                          "new sweep instead")
    if seeds is None and not sets and fraction is None:
        raise ExtendError(f"{where}: nothing to add; allowed: --seeds N, --set axes.NAME=[...], "
                          "--fraction complementary (--repeat N goes with one of them)")


def _more_seeds(old, new: dict[str, Any], seeds: int) -> str:
    """``--seeds N``: the next unused seed numbers, into ``new``; what was added in words."""
    have = list(old.seeds)
    if seeds <= len(have):
        raise ExtendError(f"--seeds {seeds}: the sweep already runs {len(have)} seeds per point "
                          f"({show(have)}); allowed: more than {len(have)}")
    more = [max(have) + 1 + i for i in range(seeds - len(have))]
    new["seeds"] = have + more
    return f"seeds {show(have)} -> {show(new['seeds'])}"


def _more_levels(old, new: dict[str, Any], item: str, where: str) -> str:
    """``--set axes.X=[old levels..., new levels]`` into ``new``; what was added in words."""
    key = item.partition("=")[0].strip()
    parts = key.split(".")
    if len(parts) != 2 or parts[0] != "axes":
        raise ExtendError(f"--set {key}: extend changes only axis levels (--set axes.NAME=[...]), "
                          "seeds (--seeds) or the fraction (--fraction); a changed "
                          f"{key} would pool trials run under different settings: run a new "
                          "sweep (--results NEW_DIR) instead")
    name = parts[1]
    if name not in old.axes:
        raise ExtendError(f"--set {key}: {name} is not an axis of this sweep (its trials ran "
                          f"at one value of it); allowed: {', '.join(old.axes)}")
    if not old.search_type.takes_new_levels:
        raise ExtendError(f"--set {key}: a two-level design cannot absorb a third level of "
                          f"{name}; allowed for a design: --seeds N, --fraction complementary")
    try:
        apply_override(new, item, where)
    except SpecError as err:
        raise ExtendError(str(err)) from None
    levels, before = new["axes"][name], old.axes[name]
    if not isinstance(levels, list) or levels[:len(before)] != before or len(levels) == len(before):
        raise ExtendError(f"--set {key}: the old levels {show(before)} first, in their order, "
                          f"then at least one new one (got {show(levels)})")
    return f"axes.{name} {show(before)} -> {show(levels)}"


def _other_fraction(old, new: dict[str, Any], fraction: str) -> str:
    """``--fraction complementary``: a fractional design runs both fractions; in words."""
    section = dict(old.design or {})  # only a design search has one
    if section.get("type") != "fractional":
        raise ExtendError(f"--fraction {fraction}: only a fractional design has another "
                          f"fraction (this sweep's design: {show(section.get('type'))})")
    if section.get("fraction", "principal") == "both":
        raise ExtendError(f"--fraction {fraction}: this sweep already runs both fractions")
    section["fraction"] = "both"
    new["design"] = section
    return f"the complementary fraction of the {section['resolution']} design"


# ------------------------------------------------------------------------------ code version
def code_problem(provenance: dict[str, Any] | None, where: str) -> str | None:
    """Why this checkout may compute different numbers than the one that ran the sweep (None:
    it computes the same: same git objects for NUMERIC_CODE, no uncommitted change there, same
    NUMERIC_PACKAGES)."""
    provenance = provenance if isinstance(provenance, dict) else {}
    commit = provenance.get("git_commit")
    if not isinstance(commit, str) or not commit:
        return (f"{where}: provenance records no git commit, so whether this code computes the "
                "same numbers cannot be told; run a new sweep instead")
    head = git("rev-parse", "HEAD")
    if head is None:
        return f"{ROOT}: not a git checkout, so its code cannot be compared with the sweep's"
    if git("rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}") is None:
        return (f"{where}: commit {commit[:12]} (the sweep's) is not in this repository, so "
                "its code cannot be compared with this one's; run a new sweep instead")
    for path in NUMERIC_CODE:
        # None where the path did not exist (sweeps/tune/ is younger than some sweeps): changed
        if git("rev-parse", f"{commit}:{path}") != git("rev-parse", f"HEAD:{path}"):
            files = (git("diff", "--name-only", commit, "HEAD", "--", path) or path).split()
            return (f"{where}: the code that computes the numbers changed since the sweep ran "
                    f"(commit {commit[:12]} -> {head[:12]}: {', '.join(files[:3])}"
                    + (f" and {len(files) - 3} more" if len(files) > 3 else "")
                    + "); pooled trials would not be comparable: run a new sweep")
    dirty = git("status", "--porcelain", "--", *NUMERIC_CODE)
    if dirty:
        first = dirty.splitlines()[0][3:]
        return (f"{first}: uncommitted change in the code that computes the numbers; commit or "
                "revert it first, so that the extension records the code that ran")
    packages = provenance.get("packages") if isinstance(provenance.get("packages"), dict) else {}
    for name in NUMERIC_PACKAGES:
        try:
            now = metadata.version(name)
        except metadata.PackageNotFoundError:
            now = None
        if packages.get(name) != now:
            return (f"{where}: {name} {packages.get(name)} ran the sweep, this is {name} {now}; "
                    "pooled trials would not be comparable: run a new sweep")
    return None
