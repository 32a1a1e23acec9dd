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
* Where trials saved per-image test outputs, ``two_level_bootstrap`` puts it in: seeds and
  test images resampled (scipy.stats.bootstrap), the interval the union with the seed-only
  one (``union``), for one variant and for paired differences on the same images.
* Equivalence with a pre-stated margin (``equivalence``): two one-sided tests (TOST), read
  as "equivalent", "better", "worse" or "inconclusive".
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
          "mapped back), so an accuracy's interval never leaves [0, 100]%. Over seeds alone, "
          "the test set's own sampling error (the set is shared by all seeds) is not in an "
          "interval. Seeds that agree exactly get no interval and no test (their spread is "
          "unknown, not zero), and an interval over one seed's test images says so in its "
          "'interval over' column.")


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

    Fewer than two values: NaN interval.  No spread (every seed the same value, e.g. a
    deterministic step or a cached baseline): t is undefined and the seed-to-seed variance
    is unknown, not zero, so neither interval nor p is given (NaN; with per-image files the
    bootstrap over test images still gives both, ``union``).  It used to be p = 0, which made
    identical seeds a significant finding."""
    d = _finite(values)
    if len(d) < 2:
        return Interval(float(d.mean()) if len(d) else np.nan, np.nan, np.nan, np.nan)
    if np.ptp(d) == 0:
        return Interval(float(d[0]), np.nan, np.nan, np.nan)
    res = stats.ttest_1samp(d, 0.0)
    ci = res.confidence_interval(1 - ALPHA)
    return Interval(float(d.mean()), float(ci.low), float(ci.high), float(res.pvalue))


def welch_interval(a: Iterable[float], b: Iterable[float]) -> Interval:
    """mean(a) - mean(b) with Welch's 95% CI and p (unpaired, unequal variances)."""
    a, b = _finite(a), _finite(b)
    diff = float(a.mean() - b.mean()) if len(a) and len(b) else np.nan
    if len(a) < 2 or len(b) < 2:
        return Interval(diff, np.nan, np.nan, np.nan)
    if np.ptp(a) == 0 and np.ptp(b) == 0:  # no spread in either: no test (t_interval)
        return Interval(diff, np.nan, np.nan, np.nan)
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


def benjamini_hochberg(pvalues: Iterable[float]) -> np.ndarray:
    """Benjamini-Hochberg q-values (statsmodels' ``multipletests``, fdr_bh): the secondary
    family's correction, which bounds the share of false discoveries instead of the chance
    of any; NaN stays NaN and does not count."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(list(pvalues), dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="fdr_bh")[1]
    return out


# ------------------------------------------------------------------------------------
# Test-set sampling error: a two-level bootstrap over seeds and test images

#: resamples per bootstrap: a percentile p-value cannot go below 1 / (N_RESAMPLES + 1), and a
#: family of ~50 Holm tests needs p ~ 1e-4 to stay below 0.05 after multiplying
N_RESAMPLES = 9999
#: the bootstrap's generator is seeded, so a report is the same every time it is written
BOOT_SEED = 20261204
#: cells held in memory per vectorised batch of resamples (float64: 8 bytes each)
BATCH_CELLS = 4_000_000

BOOT_METHOD = (
    "Where per-image test outputs exist (predictions/<trial>.parquet), intervals of accuracy "
    "and PSNR also carry the test set's own sampling error: a two-level bootstrap "
    f"(scipy.stats.bootstrap, percentile method, {N_RESAMPLES} resamples, fixed seed) draws "
    "the seeds with replacement and, independently, the test images with replacement, and "
    "applies the one image draw to every drawn seed and to both sides of a difference (the "
    "test set is shared by all seeds and variants, so its error is common to them, and a "
    "difference is paired on the same images). With 3 seeds the seed draw has only 10 "
    "distinct outcomes and no small-sample (t) correction, so the interval reported is the "
    "union of that bootstrap interval and the seed-only t-interval, and each p-value the "
    "larger of the two: no narrower than either. Rows without per-image files say 'seeds "
    "only'.")


class Boot(NamedTuple):
    """A two-level bootstrap of the mean of a (clusters x images) table of values."""
    mean: float
    low: float  # 95% percentile interval
    high: float
    distribution: np.ndarray  # the bootstrap replicates of the mean
    clusters: int
    images: int

    def quantiles(self, confidence: float) -> tuple[float, float]:
        """The percentile interval at ``confidence`` from the same replicates."""
        tail = (1 - confidence) / 2
        lo, hi = np.quantile(self.distribution, [tail, 1 - tail])
        return float(lo), float(hi)

    def p_above(self, bound: float) -> float:
        """One-sided p of H0: mean <= bound (small when the replicates sit above it)."""
        d = self.distribution
        return float((1 + np.sum(d <= bound)) / (len(d) + 1))

    def p_below(self, bound: float) -> float:
        """One-sided p of H0: mean >= bound."""
        d = self.distribution
        return float((1 + np.sum(d >= bound)) / (len(d) + 1))

    def p_zero(self) -> float:
        """Two-sided p of H0: mean == 0."""
        return min(1.0, 2 * min(self.p_above(0.0), self.p_below(0.0)))


def two_level_bootstrap(cells: np.ndarray, confidence: float = 1 - ALPHA,
                        n_resamples: int = N_RESAMPLES) -> Boot:
    """Bootstrap the grand mean of ``cells`` (rows: seeds, or seed pairs of a difference;
    columns: the same test images in every row) by resampling rows and columns independently
    (crossed: one image draw serves every row, since every seed was scored on the same
    images).  scipy.stats.bootstrap draws the indices; the statistic gathers the cells.

    A single row (one seed) is resampled over images only."""
    cells = np.asarray(cells, dtype=float)
    k, n = cells.shape
    if n < 2:
        raise ValueError(f"a bootstrap over test images needs at least 2 images, got {n}")

    def row_means(ii):
        # one image draw for every row; np.take per row is about twice as fast as one
        # broadcast gather of cells[ci][:, ii] (measured: 1.7 s against 3.6 s for 3 x 10,000)
        return np.stack([np.take(row, ii).mean(axis=-1) for row in cells])  # (k, batch)

    def over_images(ii, axis=-1):
        return row_means(np.asarray(ii, dtype=int))[0]

    def both(ci, ii, axis=-1):
        rows = row_means(np.asarray(ii, dtype=int))
        ci = np.asarray(ci, dtype=int)
        if ci.ndim == 1:
            return rows[ci].mean(axis=0)
        return np.take_along_axis(rows.T, ci, axis=-1).mean(axis=-1)

    data = (np.arange(k), np.arange(n)) if k > 1 else (np.arange(n),)
    res = stats.bootstrap(data, both if k > 1 else over_images, n_resamples=n_resamples,
                          vectorized=True, paired=False, method="percentile",
                          confidence_level=confidence, batch=max(1, BATCH_CELLS // (k * n)),
                          rng=np.random.default_rng(BOOT_SEED))
    ci = res.confidence_interval
    return Boot(float(cells.mean()), float(ci.low), float(ci.high),
                np.asarray(res.bootstrap_distribution, dtype=float), k, n)


def union(a: Interval, b: Boot | None) -> Interval:
    """The seed-only interval ``a`` widened to contain the bootstrap's (None: ``a``); the p of
    a difference against 0 is the larger of the two."""
    if b is None:
        return a
    low = np.nanmin([a.low, b.low]) if np.isfinite(b.low) else a.low
    high = np.nanmax([a.high, b.high]) if np.isfinite(b.high) else a.high
    p = np.nanmax([a.p, b.p_zero()]) if np.isfinite(a.p) else b.p_zero()
    return Interval(b.mean, float(low), float(high), float(p))


# ------------------------------------------------------------------------------------
# Equivalence: a pre-stated margin, two one-sided tests (TOST)

#: what an equivalence row's interval and p cover, by the data it had
EVIDENCE = {"both": "seeds and test images", "seeds": "seeds only",
            "images": "test images only (one seed: a claim about this trained model, not about "
                      "training it again)",
            "none": "no test (fewer than two seeds, or seeds without spread, and no per-image "
                    "files)"}

def coverage(values: Iterable[float], boot: Boot | None) -> str:
    """What an interval of ``values`` (per seed) and ``boot`` (or None) covers, in EVIDENCE's
    words: one seed with per-image files is the test images only, seeds without spread and
    without them no test at all."""
    x = _finite(values)
    if boot is not None:
        return EVIDENCE["both" if len(x) >= 2 else "images"]
    return EVIDENCE["seeds" if len(x) >= 2 and np.ptp(x) > 0 else "none"]


#: the verdicts of an equivalence row; never "matched"
VERDICTS = ("equivalent", "better", "worse", "inconclusive")

EQUIVALENCE_METHOD = (
    "Equivalence with a number (the paper's, or no difference) is tested against a margin "
    "written in the sweep file before the run (its equivalence: section), by two one-sided "
    "tests (TOST; interval-inclusion form: equivalent when the 90% interval lies inside "
    "reference +- margin, Schuirmann 1987). Seed-only rows use statsmodels' "
    "DescrStatsW.ttost_mean / ttest_mean over seeds (a single proportion on the logit scale, "
    "like its interval); rows with per-image files take the larger p of that and the two-level "
    "bootstrap's. Verdicts: equivalent (inside the margin), better / worse (the whole 90% "
    "interval beyond the margin, higher is better), otherwise inconclusive; each row's p is "
    "that of its most likely verdict, Holm-corrected with the document's other tests.")


class Equivalence(NamedTuple):
    estimate: float
    low: float  # the 90% interval the verdict rests on (union of seed-only and bootstrap)
    high: float
    lower: float  # reference - margin
    upper: float  # reference + margin
    p_equivalent: float
    p_better: float
    p_worse: float
    evidence: str  # EVIDENCE: what the interval and the p cover

    @property
    def p(self) -> float:
        """The p of the verdict the data point to (the smallest of the three)."""
        ps = [p for p in (self.p_equivalent, self.p_better, self.p_worse) if np.isfinite(p)]
        return min(ps) if ps else float("nan")

    @property
    def candidate(self) -> str:
        ps = {"equivalent": self.p_equivalent, "better": self.p_better, "worse": self.p_worse}
        ps = {k: v for k, v in ps.items() if np.isfinite(v)}
        return min(ps, key=ps.get) if ps else "inconclusive"

    def verdict(self, p_holm: float, alpha: float = ALPHA) -> str:
        """The candidate verdict when it survives (Holm-corrected) ``alpha``, else
        inconclusive (also when there is no test at all: too few seeds)."""
        if not np.isfinite(p_holm) or p_holm >= alpha:
            return "inconclusive"
        return self.candidate


def _seed_tests(values: np.ndarray, lower: float, upper: float,
                transform=None) -> tuple[float, float, float]:
    """(p equivalent, p better, p worse) of the mean of ``values`` against [lower, upper] by
    t-tests over seeds (statsmodels); ``transform`` maps values and bounds first (logit)."""
    from statsmodels.stats.weightstats import DescrStatsW

    x = _finite(values)
    if transform is not None:
        x, lower, upper = transform(x), float(transform(np.array([lower]))[0]), \
            float(transform(np.array([upper]))[0])
    if len(x) < 2:
        return (np.nan, np.nan, np.nan)
    if np.ptp(x) == 0:  # no spread: t is undefined, the seed variance unknown (t_interval)
        return (np.nan, np.nan, np.nan)
    d = DescrStatsW(x)
    p_eq = float(d.ttost_mean(lower, upper)[0])
    p_better = float(d.ttest_mean(upper, alternative="larger")[1])
    p_worse = float(d.ttest_mean(lower, alternative="smaller")[1])
    return p_eq, p_better, p_worse


def equivalence(values: Iterable[float], reference: float, margin: float,
                boot: Boot | None = None, bounded: bool = False,
                scale: float = 1.0) -> Equivalence:
    """TOST of the mean of ``values`` (per seed, in display units; a difference for a
    no-effect claim with ``reference`` 0) against ``reference`` +- ``margin``.

    ``boot``: the two-level bootstrap of the same mean (per-image files), combined with the
    seed-only tests by taking the wider interval and the larger p.  ``bounded``: a single
    proportion in ``scale`` units (100: percent), tested on the logit scale over seeds."""
    x = _finite(values)
    lower, upper = reference - margin, reference + margin
    transform = (lambda v: _logit(np.asarray(v, dtype=float) / scale)) if bounded else None
    p_eq, p_better, p_worse = _seed_tests(x, lower, upper, transform)
    seed = _interval_at(x, 1 - 2 * ALPHA, bounded, scale)  # TOST at alpha: the 90% interval
    estimate = float(x.mean()) if len(x) else np.nan
    tested = len(x) >= 2 and np.ptp(x) > 0
    low, high = seed.low, seed.high
    evidence = EVIDENCE["seeds" if tested else "none"]
    if boot is not None:
        blo, bhi = boot.quantiles(1 - 2 * ALPHA)
        low = blo if not np.isfinite(low) else min(low, blo)
        high = bhi if not np.isfinite(high) else max(high, bhi)
        estimate = boot.mean
        b_eq = max(boot.p_above(lower), boot.p_below(upper))
        p_eq = b_eq if not np.isfinite(p_eq) else max(p_eq, b_eq)
        p_better = boot.p_above(upper) if not np.isfinite(p_better) else \
            max(p_better, boot.p_above(upper))
        p_worse = boot.p_below(lower) if not np.isfinite(p_worse) else \
            max(p_worse, boot.p_below(lower))
        evidence = EVIDENCE["both" if len(x) >= 2 else "images"]
    return Equivalence(estimate, float(low), float(high), lower, upper, p_eq, p_better, p_worse,
                       evidence)


def _interval_at(x: np.ndarray, confidence: float, bounded: bool, scale: float) -> Interval:
    """The report's interval for one cell at another confidence (TOST uses 90%); none (NaN)
    below two seeds or without spread (``t_interval``)."""
    if len(x) < 2 or np.ptp(x) == 0:
        return Interval(float(x.mean()) if len(x) else np.nan, np.nan, np.nan)
    q = stats.t.ppf(1 - (1 - confidence) / 2, len(x) - 1)
    if bounded:
        z = _logit(x / scale)
        half = q * z.std(ddof=1) / np.sqrt(len(z))
        mean = float(x.mean() / scale)
        low, high = float(_expit(z.mean() - half)), float(_expit(z.mean() + half))
        return Interval(mean * scale, min(low, mean) * scale, max(high, mean) * scale)
    half = q * x.std(ddof=1) / np.sqrt(len(x))
    return Interval(float(x.mean()), float(x.mean() - half), float(x.mean() + half))
