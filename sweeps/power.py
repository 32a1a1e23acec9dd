"""``launch.py run SWEEP --dry-run --pilot RESULTS_DIR``: what a sweep will be able to tell.

From a pilot (the results of an earlier sweep on the same metric), the spread between seeds
at one point, pooled over the pilot's points (the within-point standard deviation ``s``,
``df = sum(n_i - 1)``), gives:

* the 95% interval half-width of a point's mean with the sweep's seeds,
  ``t(0.975, n - 1) * s / sqrt(n)``, and the seeds per point needed for a target half-width
  (``--halfwidth``; by default the sweep's adaptive ``until.halfwidth``, else half the width
  its seeds give);
* the smallest difference the sweep detects at 80% power (two-sided, alpha 0.05 before any
  Holm correction) between two points (n = seeds per point each) and between two levels of
  each listed axis (n = trials per level), from statsmodels' ``TTestIndPower`` on Cohen's d,
  times ``s``.  A two-sample t bound: the report's paired tests (seed pairs) are more
  sensitive when seeds share their luck across points.
* for each ``equivalence:`` test, its power line: the 90% half-width its TOST will have with
  the sweep's seeds (at alpha / k in a ``primary:`` family of k), so the largest difference
  it can still call equivalent and the smallest it can call different (``equivalence_lines``);
* the checkpoint disk: bytes per checkpoint x checkpoints kept per trial x trials.  Bytes per
  checkpoint are measured on the pilot's own checkpoints (bytes per model parameter) and
  scaled to this sweep's largest model.

``s`` is the pilot's estimate, not the truth: with few pilot seeds it is itself uncertain
(the line says its degrees of freedom), so the seeds needed are a plug-in estimate.
"""

from __future__ import annotations

import math
from pathlib import Path

from contract import schema
from contract.resultsdir import ResultsDirError, read_trials_file

from .spec import CHECKPOINTS_KEPT, model_params, parse_spec
from .sweepdoc import read_doc, sweep_part

MAX_SEEDS_SHOWN = 1000
POWER, ALPHA = 0.8, 0.05
FALLBACK_BYTES_PER_PARAM = 12  # float32 weights + Adam's two moments, when no checkpoint is found


class PilotError(ValueError):
    """A pilot that cannot say anything (none, no metric, one seed per point); one line."""


def _t(df: float) -> float:
    from scipy import stats
    return float(stats.t.ppf(0.975, df))


def halfwidth(s: float, n: int) -> float:
    return _t(n - 1) * s / math.sqrt(n) if n > 1 else math.inf


def seeds_needed(s: float, target: float) -> int | None:
    """The fewest seeds whose 95% t half-width is at most ``target`` (None: more than
    MAX_SEEDS_SHOWN)."""
    for n in range(2, MAX_SEEDS_SHOWN + 1):
        if halfwidth(s, n) <= target:
            return n
    return None


def detectable(s: float, n: int) -> float:
    """The smallest true difference a two-sided two-sample t-test with ``n`` per group finds
    with POWER at ALPHA (statsmodels), in the metric's units."""
    from statsmodels.stats.power import TTestIndPower

    if n < 2:
        return math.inf
    d = TTestIndPower().solve_power(effect_size=None, nobs1=n, alpha=ALPHA, power=POWER, ratio=1.0)
    return float(d) * s


def pilot_spread(pilot: Path, metric: str) -> tuple[float, int, int, int]:
    """(pooled within-point SD, its df, points, trials) of ``metric`` in the pilot's completed
    trials; a point is one combination of the pilot's axes."""
    path = pilot / schema.TRIALS_FILE
    if not path.is_file():
        raise PilotError(f"{pilot}: --pilot: no {schema.TRIALS_FILE}; give a sweep's results "
                         "directory")
    try:
        table, _ = read_trials_file(path, pilot)
    except ResultsDirError as err:
        raise PilotError(f"--pilot: {err}") from None
    contract = schema.read_contract(table) or {}
    axes = [schema.CONFIG_PREFIX + f for f in (contract.get("factors") or {})]
    column = schema.metric_column(metric)
    if column not in table.column_names:
        raise PilotError(f"{path}: --pilot: no {metric} in the pilot's trials; allowed: a pilot "
                         "that reports the sweep's metric")
    groups: dict[tuple, list[float]] = {}
    for row in table.to_pylist():
        value = row.get(column)
        if row.get("status") != "completed" or value is None or not math.isfinite(value):
            continue
        groups.setdefault(tuple(repr(row.get(a)) for a in axes), []).append(float(value))
    df = sum(len(v) - 1 for v in groups.values())
    if df < 1:
        raise PilotError(f"{path}: --pilot: every point has at most one completed seed; the "
                         "spread between seeds needs two at one point at least")
    ss = sum(sum((x - sum(v) / len(v)) ** 2 for x in v) for v in groups.values())
    return math.sqrt(ss / df), df, len(groups), sum(map(len, groups.values()))


def checkpoint_bytes_per_param(pilot: Path) -> float | None:
    """Bytes per model parameter of the pilot's checkpoints (their mean size over the pilot's
    largest model's parameters), or None without any."""
    files = [p for p in (pilot / schema.TUNE_DIR).rglob("state.pt") if p.is_file()]
    if not files:
        return None
    try:
        params = model_params(parse_spec(sweep_part(read_doc(pilot)), str(pilot)))
    except Exception:  # noqa: BLE001 - a pilot whose sweep.yaml no longer parses: no measure
        return None
    return max(p.stat().st_size for p in files) / params


def describe(spec, pilot: Path, target: float | None = None) -> str:
    """The --dry-run --pilot lines for ``spec``."""
    metric = spec.metric[0]
    s, df, points, trials = pilot_spread(pilot, metric)
    seeds = len(spec.seeds)
    unit = "dB" if "psnr" in metric else ""
    fmt = (lambda x: f"{x:.3g} {unit}".strip())  # noqa: E731
    now = halfwidth(s, seeds)
    if target is None:
        rule = getattr(spec, "adaptive", None)
        target = rule["until"]["halfwidth"] if rule else now / 2
    need = seeds_needed(s, target)
    lines = [f"pilot {pilot}: {metric} spread between seeds at one point s = {fmt(s)} "
             f"(pooled over {points} points, {trials} completed trials, df {df}; a plug-in "
             "estimate)"]
    lines.append(f"  95% half-width of a point's mean with {seeds} seeds: "
                 + (fmt(now) if math.isfinite(now) else "none (one seed: no interval)"))
    lines.append(f"  seeds per point needed for a 95% half-width of {fmt(target)}: "
                 + (str(need) if need else f"more than {MAX_SEEDS_SHOWN}"))
    lines.append(f"  smallest difference detectable at {POWER:.0%} power (two-sided t, alpha "
                 f"{ALPHA}, before Holm; statsmodels TTestIndPower):")
    lines.append(f"    between two points ({seeds} seeds each): {fmt(detectable(s, seeds))}")
    total = spec.num_trials()
    for name, levels in spec.axes.items():
        if isinstance(levels, list) and len(levels) > 1:
            per = total // len(levels)
            lines.append(f"    between two levels of {name} ({per} trials each): "
                         f"{fmt(detectable(s, per))}")
    lines += equivalence_lines(spec, pilot)
    per_param = checkpoint_bytes_per_param(pilot)
    measured = per_param is not None
    per_param = per_param or FALLBACK_BYTES_PER_PARAM
    one = per_param * model_params(spec)
    kept = CHECKPOINTS_KEPT  # Tune's num_to_keep
    lines.append(f"  checkpoint disk: {_size(one)} per checkpoint x {kept} kept x {total} trials "
                 f"= {_size(one * kept * total)} ("
                 + (f"{per_param:.1f} bytes per parameter measured on the pilot's checkpoints"
                    if measured else f"no checkpoint in the pilot: {FALLBACK_BYTES_PER_PARAM} "
                    "bytes per parameter assumed, weights and Adam's moments")
                 + f", {model_params(spec):,} parameters)")
    return "\n".join(lines)


def equivalence_lines(spec, pilot: Path) -> list[str]:
    """The power line of each pre-stated equivalence test, before the run: with the sweep's
    seeds and the pilot's spread of its metric, the 90% half-width its TOST will have (at
    alpha / k in a primary family of k, Holm's strictest step), hence the largest difference
    it can still call equivalent (margin - half-width) and the smallest it can call
    different (margin + half-width).  A no-effect test (``versus``) differences two
    settings: sd s * sqrt(2), the unpaired bound (seed pairing can only narrow it)."""
    from scipy import stats

    from contract import metrics as metrics_registry

    entries = spec.raw.get("equivalence") or {}
    tests = (spec.raw.get("primary") or {}).get("tests", [])
    primary = {t["where"].get("name") for t in tests if t["table"] == "equivalence"}
    n = len(spec.seeds)
    if not entries or n < 2:
        return []
    lines = ["  equivalence tests (TOST, 90% interval inside the margin), with "
             f"{n} seeds and the pilot's spread:"]
    for name, entry in entries.items():
        info = metrics_registry.get(entry["metric"])
        try:
            sd = pilot_spread(pilot, entry["metric"])[0] * (math.sqrt(2) if "versus" in entry
                                                            else 1.0)
        except PilotError:
            lines.append(f"    {name}: the pilot has no {entry['metric']}: no power line")
            continue
        k = len(tests) if name in primary else 1
        half = float(stats.t.ppf(1 - 0.05 / k, n - 1)) * sd / math.sqrt(n)
        margin, unit = entry["margin"] * info.scale, "pp" if info.unit == "%" else info.unit
        where = f"in the primary family of {k} (alpha/{k})" if k > 1 else "alone"
        lines.append(f"    {name} (margin +-{margin:.3g} {unit}, {where}): half-width "
                     f"{half * info.scale:.3g} {unit}; equivalent only if |diff| <= "
                     f"{max(margin - half * info.scale, 0):.3g} {unit}, different only if "
                     f"|diff| >= {margin + half * info.scale:.3g} {unit}")
    return lines


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def cli(spec, pilot: str, target: float | None) -> str:
    """What launch.py prints (raises PilotError for a pilot that cannot say anything)."""
    if target is not None and not (math.isfinite(target) and target > 0):
        raise PilotError(f"--halfwidth: allowed finite numbers > 0 (got {target})")
    if pilot is None:
        raise PilotError("--halfwidth: needs --pilot RESULTS_DIR (the spread comes from a pilot)")
    path = Path(pilot)
    if not path.is_dir():
        raise PilotError(f"{pilot}: --pilot: no such results directory")
    return describe(spec, path, target)
