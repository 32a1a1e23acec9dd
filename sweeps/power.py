"""``launch.py run SWEEP --dry-run --pilot RESULTS_DIR``: what a sweep will be able to tell.

From a pilot (the results of an earlier sweep on the same metric), the spread between seeds
at one point, pooled over the pilot's points (the within-point standard deviation ``s``,
``df = sum(n_i - 1)``), for the sweep's metric(s) and every metric its report tests
(``report_metrics``), each with its one-sided 95% upper bound ``s * sqrt(df / chi2(0.05,
df))``: with few pilot seeds the estimate itself is uncertain, and a plan on ``s`` alone is
optimistic half of the time.  From them:

* the 95% interval half-width of a point's mean with the sweep's seeds,
  ``t(0.975, n - 1) * s / sqrt(n)``, and the seeds per point needed for a target half-width
  (``--halfwidth``; by default the sweep's adaptive ``until.halfwidth``, else half the width
  its seeds give), at ``s`` and at its upper bound;
* the smallest difference detected at 80% power (two-sided two-sample t, the noncentral t's
  power solved for the effect), for 2-12 seeds per point and the sweep's own count: after
  the report's correction (alpha / m, Holm's strictest step, m ~ the tests the report will
  correct together: ``family_size``) and alone (alpha 0.05), between two levels of each
  kind of listed axis (n = points per level x seeds) and between two points.  A two-sample t
  bound: the report's paired tests (seed pairs) are more sensitive when seeds share their
  luck across points, and Holm's later steps are looser than its first;
* for each ``equivalence:`` test, its power line: the 90% half-width its TOST will have with
  the sweep's seeds (at alpha / k in a ``primary:`` family of k), so the largest difference
  it can still call equivalent and the smallest it can call different (``equivalence_lines``);
* the checkpoint disk: bytes per checkpoint x checkpoints kept per trial x trials.  Bytes per
  checkpoint are measured on the pilot's own checkpoints (bytes per model parameter) and
  scaled to this sweep's largest model.

``s`` is the pilot's estimate, not the truth: the lines give its degrees of freedom and
its upper bound; the seeds needed at ``s`` are a plug-in estimate, at the bound a cautious one.
"""

from __future__ import annotations

import math
from pathlib import Path

from contract import metrics as metrics_registry
from contract import schema
from contract.resultsdir import ResultsDirError, read_trials_file

from .modelsize import model_params
from .spec import CHECKPOINTS_KEPT, parse_spec
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


def detectable(s: float, n: int, alpha: float = ALPHA) -> float:
    """The smallest true difference a two-sided two-sample t-test with ``n`` per group finds
    with POWER at ``alpha``, in the metric's units: the power from the noncentral t (what
    statsmodels' ``TTestIndPower.power`` computes), solved for the effect by bracketing.
    statsmodels' own ``solve_power`` fails at small n and corrected alphas (0.05 / 45 with
    2 seeds needs d ~ 35), and its power returns NaN there; scipy's tails do not."""
    from scipy import stats
    from scipy.optimize import brentq

    if n < 2:
        return math.inf
    df, crit = 2 * n - 2, float(stats.t.ppf(1 - alpha / 2, 2 * n - 2))

    def power(d: float) -> float:
        nc = d / math.sqrt(2 / n)
        upper = float(stats.nct.sf(crit, df, nc))
        lower = float(stats.nct.cdf(-crit, df, nc))  # NaN far out, where it is ~0
        return (1.0 if math.isnan(upper) else upper) + (0.0 if math.isnan(lower) else lower)

    d = brentq(lambda e: power(e) - POWER, 1e-6, 1e3, xtol=1e-10)
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


def spread_upper(s: float, df: int, level: float = 0.95) -> float:
    """The one-sided ``level`` upper confidence bound on the true spread from a pooled SD
    ``s`` on ``df`` degrees of freedom: s * sqrt(df / chi2(1 - level, df)) (normal seeds)."""
    from scipy import stats
    return s * math.sqrt(df / float(stats.chi2.ppf(1 - level, df)))


def report_metrics(spec) -> list[str]:
    """The metrics the report tests level against level for this sweep (contract.metrics:
    a designed sweep's model metrics on validation, else the effect metrics)."""
    if spec.design:
        return [metrics_registry.get(n).val_twin or n for n in metrics_registry.names("design")]
    return list(metrics_registry.names("effect"))


def family_size(spec, metrics: list[str]) -> int:
    """About how many tests the report corrects together for this sweep: each listed axis's
    levels against its reference (a designed sweep: its main effects and two-factor
    interactions), on each of ``metrics``, plus the pre-stated equivalence tests.  What
    ``--pilot`` divides alpha by (Holm's strictest step); the report's Methods give the
    exact count after the run."""
    listed = {k: v for k, v in spec.axes.items() if isinstance(v, list) and len(v) > 1}
    if spec.design:
        k = len(listed)
        contrasts = k + k * (k - 1) // 2
    else:
        contrasts = sum(len(v) - 1 for v in listed.values())
    return max(1, contrasts * len(metrics) + len(spec.raw.get("equivalence") or {}))


def pilot_metrics(spec, pilot: Path) -> tuple[list[str], int]:
    """(the sweep's objectives, then the metrics its report tests, those the pilot has; the
    report's approximate family size)."""
    columns = set(read_trials_file(pilot / schema.TRIALS_FILE, pilot)[0].column_names)
    tested = [m for m in report_metrics(spec) if schema.metric_column(m) in columns]
    wanted = list(dict.fromkeys([*spec.metric, *tested]))
    return [m for m in wanted if schema.metric_column(m) in columns], family_size(spec, tested)


SEED_RANGE = (2, 3, 4, 6, 8, 12)  # the seeds per point each power row is computed for


def describe(spec, pilot: Path, target: float | None = None) -> str:
    """The --dry-run --pilot lines for ``spec``: each metric's spread with its upper bound,
    the seeds a target half-width needs (the sweep's metric), and the smallest detectable
    difference for a range of seeds, after the report's correction and alone."""
    s, df, points, trials = pilot_spread(pilot, spec.metric[0])  # PilotError without it
    metrics, m = pilot_metrics(spec, pilot)
    lines = [f"pilot {pilot}: spread between seeds at one point, pooled over its points "
             f"({points} points, {trials} completed trials of {spec.metric[0]}); each with "
             "its one-sided 95% upper bound (chi-square): a plug-in estimate, plan on the "
             "bound"]
    spreads = {}
    for metric in metrics:
        try:
            spreads[metric] = pilot_spread(pilot, metric)
        except PilotError as err:  # a secondary metric no point has two seeds of
            lines.append(f"  {metric}: {str(err).split('--pilot: ')[-1]}")
            continue
        ms, mdf = spreads[metric][:2]
        fmt = _formatter(metric)
        lines.append(f"  {metric}: s = {fmt(ms)} (df {mdf}), at most {fmt(spread_upper(ms, mdf))}")
    lines += _seed_lines(spec, spec.metric[0], s, df, target)
    lines += _detectable_lines(spec, {k: v[0] for k, v in spreads.items()}, m)
    lines += equivalence_lines(spec, pilot)
    lines.append(_disk_line(spec, pilot))
    return "\n".join(lines)


def _formatter(metric: str):
    """Value (Parquet units) -> text in the metric's shown unit (accuracy: percentage points)."""
    info = metrics_registry.get(metric)
    scale, unit = (info.scale, "pp" if info.unit == "%" else info.unit) if info else (1.0, "")
    return lambda x: f"{x * scale:.3g} {unit}".strip()


def _seed_lines(spec, metric: str, s: float, df: int, target: float | None) -> list[str]:
    """The sweep's metric: its half-width with the sweep's seeds, and the seeds a target
    half-width needs at the estimate and at its upper bound."""
    fmt, seeds = _formatter(metric), len(spec.seeds)
    now = halfwidth(s, seeds)
    if target is None:
        rule = getattr(spec, "adaptive", None)
        target = rule["until"]["halfwidth"] if rule else now / 2
    need, need_high = seeds_needed(s, target), seeds_needed(spread_upper(s, df), target)
    say = (lambda n: str(n) if n else f"more than {MAX_SEEDS_SHOWN}")  # noqa: E731
    return [f"  95% half-width of a point's mean of {metric} with {seeds} seeds: "
            + (fmt(now) if math.isfinite(now) else "none (one seed: no interval)"),
            f"  seeds per point needed for a 95% half-width of {fmt(target)}: {say(need)} "
            f"at s, {say(need_high)} at its upper bound"]


def _detectable_lines(spec, spreads: dict[str, float], m: int) -> list[str]:
    """Smallest differences detectable at POWER by seeds per point: after the report's
    correction (alpha / m, Holm's strictest step) and, in brackets, alone (alpha), between
    two levels of each kind of axis and between two points."""
    counts = sorted({*SEED_RANGE, len(spec.seeds)})
    points = max(spec.num_trials() // max(len(spec.seeds), 1), 1)
    kinds: dict[int, list[str]] = {}  # points per level -> the axes with that many
    for name, levels in spec.axes.items():
        if isinstance(levels, list) and len(levels) > 1:
            kinds.setdefault(max(points // len(levels), 1), []).append(name)
    # with a primary family these tests are secondary: Benjamini-Hochberg, whose strictest
    # step is Holm's (alpha / m)
    how = "Benjamini-Hochberg" if (spec.raw.get("primary") or {}).get("tests") else "Holm"
    lines = [f"  smallest difference detectable at {POWER:.0%} power (two-sided t), after "
             f"{how} over the report's ~{m} tests (alpha/{m}) [alone: alpha {ALPHA}], by seeds "
             f"per point (this sweep: {len(spec.seeds)}); a level's mean pools its points:"]
    lines += [f"    levels of {per} point(s): {', '.join(axes)}" for per, axes in kinds.items()]
    lines.append("    " + " " * 36 + "".join(f"{n:>22}" for n in counts))
    for metric, s in spreads.items():
        fmt = _formatter(metric)
        for label, per in [*((f"levels of {per} point(s)", per) for per in kinds),
                           ("two points", 1)]:
            cells = [f"{fmt(detectable(s, per * n, ALPHA / m))} [{fmt(detectable(s, per * n))}]"
                     for n in counts]
            lines.append(f"    {metric + ', ' + label:<36}" + "".join(f"{c:>22}" for c in cells))
    return lines


def _disk_line(spec, pilot: Path) -> str:
    total = spec.num_trials()
    per_param = checkpoint_bytes_per_param(pilot)
    measured = per_param is not None
    per_param = per_param or FALLBACK_BYTES_PER_PARAM
    one = per_param * model_params(spec)
    kept = CHECKPOINTS_KEPT  # Tune's num_to_keep
    return (f"  checkpoint disk: {_size(one)} per checkpoint x {kept} kept x {total} trials "
            f"= {_size(one * kept * total)} ("
            + (f"{per_param:.1f} bytes per parameter measured on the pilot's checkpoints"
               if measured else f"no checkpoint in the pilot: {FALLBACK_BYTES_PER_PARAM} "
               "bytes per parameter assumed, weights and Adam's moments")
            + f", {model_params(spec):,} parameters)")


def equivalence_lines(spec, pilot: Path) -> list[str]:
    """The power line of each pre-stated equivalence test, before the run: with the sweep's
    seeds and the pilot's spread of its metric, the 90% half-width its TOST will have (at
    alpha / k in a primary family of k, Holm's strictest step), hence the largest difference
    it can still call equivalent (margin - half-width) and the smallest it can call
    different (margin + half-width).  A no-effect test (``versus``) differences two
    settings: sd s * sqrt(2), the unpaired bound (seed pairing can only narrow it)."""
    from scipy import stats

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
