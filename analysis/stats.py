"""The interval arithmetic of the report, in one place (tables, claims and figures use it).

* Unbounded quantities (PSNR in dB, differences of anything) get the t-based 95% interval
  over seeds, mean +- t(0.975, n-1) * sd / sqrt(n): seeds are few (2-10), where the normal
  approximation is visibly too narrow.
* Proportions (accuracies, fractions of images: values in [0, 1]) get a logit-scale
  t-interval: each seed's value is clipped to [EPS, 1 - EPS], mapped to log(p / (1 - p)),
  the t-interval is taken there and mapped back.  The interval therefore always lies inside
  (0, 1), and it is asymmetric where it should be (93% +- 8 pp with 2 seeds would pass 100%;
  on the logit scale the upper end saturates towards 100% instead).  The point estimate
  stays the arithmetic mean over seeds, which is what the tables and the paper report.
  What it does not capture: the test set is shared by every seed, so its own sampling error
  (binomial over n test images) is common to all trials and not part of the spread.
"""

from __future__ import annotations

from typing import Any, Iterable, NamedTuple

import numpy as np
from scipy import stats

ALPHA = 0.05
#: proportions are clipped to [EPS, 1 - EPS] before the logit (a seed at 100% would be +inf)
EPS = 1e-3

METHOD = ("95% intervals over seeds: t-based for PSNR and for every difference; for "
          "accuracies and other proportions a logit-scale t-interval (each seed's value "
          f"clipped to [{EPS:g}, {1 - EPS:g}], the t-interval taken on log(p/(1-p)) and "
          "mapped back), so an accuracy's interval never leaves [0, 100]%. The test set is "
          "shared by all seeds: its own sampling error is not in these intervals.")


class Interval(NamedTuple):
    mean: float
    low: float
    high: float
    p: float = float("nan")  # two-sided p of mean == 0 (t-intervals of differences only)


def t_halfwidth(sd: Any, n: Any) -> Any:
    """Half-width of the t-based 95% CI of a mean; NaN below two observations."""
    sd, n = np.asarray(sd, dtype=float), np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = stats.t.ppf(1 - ALPHA / 2, np.where(n > 1, n - 1, np.nan))
        return q * sd / np.sqrt(n)


def _finite(values: Iterable[float]) -> np.ndarray:
    x = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float)
    return x[np.isfinite(x)]


def t_interval(values: Iterable[float]) -> Interval:
    """Mean, t-based 95% CI and the one-sample t-test's p (against 0) of one sample.

    Fewer than two values: NaN interval.  No spread: the interval is the value itself
    (t is undefined), p 1 if that value is 0 else 0."""
    d = _finite(values)
    if len(d) < 2:
        return Interval(float(d.mean()) if len(d) else np.nan, np.nan, np.nan, np.nan)
    if np.ptp(d) == 0:
        return Interval(float(d[0]), float(d[0]), float(d[0]), 1.0 if d[0] == 0 else 0.0)
    res = stats.ttest_1samp(d, 0.0)
    ci = res.confidence_interval(1 - ALPHA)
    return Interval(float(d.mean()), float(ci.low), float(ci.high), float(res.pvalue))


def welch_interval(a: Iterable[float], b: Iterable[float]) -> Interval:
    """mean(a) - mean(b) with Welch's 95% CI and p (unpaired, unequal variances)."""
    a, b = _finite(a), _finite(b)
    diff = float(a.mean() - b.mean()) if len(a) and len(b) else np.nan
    if len(a) < 2 or len(b) < 2:
        return Interval(diff, np.nan, np.nan, np.nan)
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return Interval(diff, diff, diff, 1.0 if diff == 0 else 0.0)
    res = stats.ttest_ind(a, b, equal_var=False)
    ci = res.confidence_interval(1 - ALPHA)
    return Interval(diff, float(ci.low), float(ci.high), float(res.pvalue))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p / (1 - p))


def _expit(x: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def proportion_interval(values: Iterable[float], scale: float = 1.0) -> Interval:
    """Arithmetic mean and logit-scale t 95% CI of proportions given as ``fraction * scale``
    (scale 100 for percent); the result is in the same units and inside [0, scale]."""
    x = _finite(values) / scale
    if len(x) == 0:
        return Interval(np.nan, np.nan, np.nan)
    mean = float(x.mean())
    if len(x) < 2:
        return Interval(mean * scale, np.nan, np.nan)
    z = _logit(x)
    centre, half = float(z.mean()), float(t_halfwidth(z.std(ddof=1), len(z)))
    low, high = float(_expit(centre - half)), float(_expit(centre + half))
    # The back-transformed centre is a geometric-type mean; the arithmetic mean reported can
    # sit outside a very narrow interval around it (values near a bound): widen to contain it.
    return Interval(mean * scale, min(low, mean) * scale, max(high, mean) * scale)


def interval(values: Iterable[float], bounded: bool, scale: float = 1.0) -> Interval:
    """The report's interval for one cell: bounded (proportion) or t-based."""
    return proportion_interval(values, scale) if bounded else t_interval(values)


def holm(pvalues: Iterable[float]) -> np.ndarray:
    """Holm-adjusted p-values (NaN stays NaN and does not count towards the family)."""
    p = np.asarray(list(pvalues), dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adjusted = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(adjusted)  # step-down: never below a smaller p's
    return out
