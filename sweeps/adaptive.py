"""Adaptive seeds: ``seeds: {min: 3, max: 10, until: {metric: val_psnr, halfwidth: 0.2}}``.

Seeds are added where a point's 95% interval is wider than the target, by Stein's two-stage
procedure (C. Stein, "A two-sample test for a linear hypothesis whose power is independent of
the variance", Ann. Math. Statist. 16 (1945) 243-258):

1. every point runs seeds ``0 .. min-1`` (the first stage);
2. from the first stage's standard deviation ``s0`` at each point, the point's total number of
   seeds is ``n = max(min, floor((t * s0 / halfwidth)^2) + 1)`` with ``t = t(0.975, min - 1)``,
   capped at ``max``; the missing seeds ``min .. n-1`` run as one more round (an extension of
   the sweep, ``sweeps/extend.py``: recorded in sweep.yaml, resumable like any).

The point's interval is then ``mean of its n seeds +- t(0.975, min - 1) * s0 / sqrt(n)``.  Why
this and not "one more seed until the t-interval is narrow enough": stopping when the data
says so makes the usual t-interval too narrow (it stops more often after a lucky low spread).
Stein's ``n`` depends on the data only through ``s0``, and (for normal data) the mean of all
``n`` values is independent of ``s0``, so ``(mean - mu) * sqrt(n) / s0`` has exactly the t
distribution with ``min - 1`` degrees of freedom: the interval keeps its 95% coverage whatever
``n`` the rule picked, capped or not.  Where the cap binds, the half-width is
``t * s0 / sqrt(max)``, above the target, and the report says so point by point.  The price:
``min - 1`` degrees of freedom instead of ``n - 1`` (a wider t), and normality within a point.

The report states this rule in one sentence (``analysis.extended.RULE``: analysis reads no
module of sweeps but the results contract) and computes the intervals itself.
"""

from __future__ import annotations

import math
from typing import Any

from .specerror import MAX_SEED, SpecError, show

KEYS = ("min", "max", "until")
UNTIL_KEYS = ("metric", "halfwidth")


def parse(value: Any, allowed_metrics: list[str], where: str) -> dict[str, Any]:
    """The ``seeds:`` mapping, validated: {min, max, until: {metric, halfwidth}}."""
    def bad(field: str, message: str) -> SpecError:
        return SpecError(f"{where}: seeds.{field}: {message}")

    for key in value:
        if key not in KEYS:
            raise bad(str(key), f"unknown key; allowed: {', '.join(KEYS)}")
    out: dict[str, Any] = {}
    for key, low in (("min", 2), ("max", 2)):
        n = value.get(key)
        if not isinstance(n, int) or isinstance(n, bool) or not low <= n <= MAX_SEED:
            raise bad(key, f"expected an integer >= {low} (Stein's first stage needs two seeds "
                      f"for a spread), got {show(n)}")
        out[key] = n
    if out["max"] < out["min"]:
        raise bad("max", f"{out['max']} is below min ({out['min']})")
    until = value.get("until")
    if not isinstance(until, dict):
        raise bad("until", "expected {metric: NAME, halfwidth: NUMBER}")
    for key in until:
        if key not in UNTIL_KEYS:
            raise bad(f"until.{key}", f"unknown key; allowed: {', '.join(UNTIL_KEYS)}")
    if until.get("metric") not in allowed_metrics:
        raise bad("until.metric", f"{show(until.get('metric'))} is not allowed; allowed: "
                  f"{', '.join(allowed_metrics)}")
    width = until.get("halfwidth")
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not (
            math.isfinite(width) and width > 0):
        raise bad("until.halfwidth", f"expected a number > 0, got {show(width)}")
    out["until"] = {"metric": until["metric"], "halfwidth": float(width)}
    return out


def t_value(rule: dict[str, Any]) -> float:
    from scipy import stats
    return float(stats.t.ppf(0.975, rule["min"] - 1))


def seeds_for(values: list[float], rule: dict[str, Any]) -> tuple[int, float | None]:
    """(Stein's total seeds for a point, its first-stage SD s0) from the first-stage values;
    a point with fewer than two finite values gets ``max`` (its spread is unknown)."""
    values = [v for v in values if v is not None and math.isfinite(v)]
    if len(values) < 2:
        return rule["max"], None
    mean = sum(values) / len(values)
    s0 = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    n = math.floor((t_value(rule) * s0 / rule["until"]["halfwidth"]) ** 2) + 1
    return min(rule["max"], max(rule["min"], n)), s0


def point_key(row: dict[str, Any], axes: list[str], prefix: str = "") -> tuple:
    return tuple(repr(row.get(prefix + a)) for a in axes)


def second_stage(spec, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict]]:
    """(the trials to add: point values and seed each, one line per point: its values, s0 and
    n) from the first stage's rows of trials.parquet."""
    # contract.schema imports pyarrow (+0.11 s, measured 2026-12-06), and sweeps.spec imports
    # this module to validate every sweep file: only the second stage, after a sweep, needs it.
    from contract.schema import CONFIG_PREFIX, metric_column

    rule = spec.adaptive
    points = spec.points()  # adaptive seeds need a type that enumerates its points
    axes = list(points[0]) if points else []
    column = metric_column(rule["until"]["metric"])
    first: dict[tuple, list[float]] = {}
    for row in rows:
        if row.get("status") == "completed" and row.get(CONFIG_PREFIX + "seed") in range(rule["min"]):
            first.setdefault(point_key(row, axes, CONFIG_PREFIX), []).append(row.get(column))
    added, table = [], []
    for point in points:
        n, s0 = seeds_for(first.get(point_key(point, axes), []), rule)
        table.append({**point, "s0": s0, "seeds": n})
        added += [{**point, "seed": seed} for seed in range(rule["min"], n)]
    return added, table
