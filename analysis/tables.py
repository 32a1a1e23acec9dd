"""Ablation tables as DataFrames: per-factor statistics, effects with tests, the paper's
numbers beside ours, the Pareto front, failures.

Every function takes a ``Results`` (``analysis.load``) and returns a tidy DataFrame, so a
notebook gets the same numbers the report prints.  Only *completed* trials enter the
statistics: a diverged or errored trial has no comparable final metrics (they are listed by
``failures_table``).

Units: PSNRs in dB; accuracies are stored as fractions in Parquet and shown here in percent
(the paper reports percent), so differences of accuracies are percentage points.

Statistics (why these):
* 95% confidence intervals (``analysis.stats``): t-based, mean +- t(0.975, n-1) * sd /
  sqrt(n), for PSNR and differences (seeds per cell are few, 2-10, where the normal
  approximation is visibly too narrow); a logit-scale t-interval for accuracies and other
  proportions, so that their interval never leaves [0, 100]%.  ``ci_half`` is half the
  interval's width (the bounded one is asymmetric: print ``ci_low``/``ci_high``).
* Joint-head metrics (``joint_acc``) are null where cls_weight is 0: that head was never
  trained (``analysis.load`` applies this to older files too).
* An effect is "level minus reference".  Trials that share a seed (and the levels of every
  other factor) are paired: seeds fix initialisation, data order, masks and noise, so the
  paired difference removes that shared variance and a paired t-test is the right test.
  Without enough matches the two groups are compared by Welch's t-test (no equal-variance
  assumption: an ablation often changes the spread too).
* Many effects are tested at once (factors x levels x metrics), so p-values are corrected by
  Holm's step-down method over the whole effects table of a sweep: it controls the
  family-wise error like Bonferroni but is uniformly more powerful, and needs no
  independence assumption between the tests (metrics of one trial are correlated).  The
  report corrects once over every test it prints instead (``analysis.family``).
* Where trials saved per-image test outputs (``analysis.images``), paired effects and the
  paper's rows also carry the test set's sampling error (``stats.two_level_bootstrap``);
  an ``interval`` column says "seeds and test images" or "seeds only".
* A comparison with the paper's number, or a no-effect claim, is an equivalence test
  against the margin the sweep file stated before the run (``paper_comparison``,
  ``equivalence_table``; ``stats.equivalence``).

(Each table lives in the module its name says: ``analysis.levels`` (the per-factor table),
``analysis.effects``, ``analysis.paper`` (the paper's numbers and the pre-stated margins),
``analysis.selection`` (best points, the Pareto front), ``analysis.failures`` and
``analysis.compare``; the metric columns they read in ``analysis.columns``.  This module is
their index: ``all_tables``.)
"""

from __future__ import annotations

import pandas as pd

from .effects import effects_table
from .failures import failures_table
from .levels import factor_table
from .load import Results
from .paper import equivalence_table, paper_comparison
from .selection import pareto_front


def all_tables(results: Results) -> dict[str, pd.DataFrame]:
    """Every table of one sweep, by name (what the report prints; the benchmark's unit)."""
    return {"factors": factor_table(results), "effects": effects_table(results),
            "paper": paper_comparison(results), "equivalence": equivalence_table(results),
            "pareto": pareto_front(results), "failures": failures_table(results)}
