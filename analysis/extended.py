"""What the report says about a sweep that grew after it ran: its extensions
(``launch.py extend``, sweep.yaml's ``extensions``) and its adaptive seeds (``seeds: {min, max,
until}``, ``sweeps/adaptive.py``): the rule, the seeds each point got, and each point's
interval by the method that stays valid under that rule (Stein 1945's two-stage interval).

Reads sweep.yaml's ``extensions`` (a copied trials.parquet alone has the pooled sweep, which
is enough for every table but this list) and the trials.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import yaml

from contract.resultsdir import read_sweep_doc
from contract.schema import CONFIG_PREFIX, metric_column

STEIN = ("Stein, C. (1945). A two-sample test for a linear hypothesis whose power is "
         "independent of the variance. Ann. Math. Statist. 16:243-258")
# Adaptive seeds' rule (sweeps/adaptive.py, which applies it) in the report's words.
RULE = ("Stein's two-stage procedure (Stein 1945, Ann. Math. Statist. 16:243-258): the first "
        "{min} seeds at every point, then n = max({min}, floor((t * s0 / {halfwidth})^2) + 1) "
        "seeds in all, at most {max}, where s0 is the point's standard deviation over its first "
        "{min} seeds and t = t(0.975, {df}); the interval is mean +- t * s0 / sqrt(n), exact "
        "95% coverage under this stopping rule for normal seed-to-seed variation")


def extensions(res) -> list[dict[str, Any]]:
    try:
        doc = read_sweep_doc(res.path)
    except (OSError, yaml.YAMLError, TypeError):
        return []
    value = doc.get("extensions") if isinstance(doc, dict) else None
    return [e for e in value if isinstance(e, dict)] if isinstance(value, list) else []


def extension_lines(res) -> list[str]:
    """One line per extension: what it added, how many trials, when, at which commit."""
    return [f"extension {e.get('number', i + 1)}: {e.get('added')} ({e.get('trials')} trial(s), "
            f"started {e.get('started')}, commit {str(e.get('git_commit'))[:12]})"
            for i, e in enumerate(extensions(res))]


def adaptive_rule(res) -> dict[str, Any] | None:
    seeds = res.spec.get("seeds")
    return seeds if isinstance(seeds, dict) and "until" in seeds else None


def stein_table(res) -> pd.DataFrame:
    """Per point: its seeds, mean, first-stage SD s0, Stein's 95% half-width
    t(0.975, min - 1) * s0 / sqrt(n), and whether it meets the target."""
    from scipy import stats

    rule = adaptive_rule(res)
    metric = rule["until"]["metric"]
    target = float(rule["until"]["halfwidth"])
    t = float(stats.t.ppf(0.975, rule["min"] - 1))
    done = res.trials[res.trials["status"] == "completed"]
    axes = [CONFIG_PREFIX + f for f in res.factors if CONFIG_PREFIX + f in done]
    rows = []
    for key, group in (done.groupby(axes, dropna=False) if axes else [((), done)]):
        key = key if isinstance(key, tuple) else (key,)
        values = group[metric_column(metric)].astype(float)
        first = values[group[CONFIG_PREFIX + "seed"] < rule["min"]].dropna()
        s0 = float(first.std(ddof=1)) if len(first) >= 2 else math.nan
        n = int(values.notna().sum())
        half = t * s0 / math.sqrt(n) if n and math.isfinite(s0) else math.nan
        rows.append({**{a[len(CONFIG_PREFIX):]: v for a, v in zip(axes, key)},
                     "seeds": n, f"mean {metric}": float(values.mean()), "s0 (first stage)": s0,
                     "95% half-width (Stein)": half,
                     "target met": ("yes" if half <= target else
                                    f"no (capped at max {rule['max']})" if n >= rule["max"]
                                    else "no") if math.isfinite(half) else "unknown"})
    return pd.DataFrame(rows)


def section(doc, res) -> None:
    """The report's paragraph (and table) on extensions and adaptive seeds, if any."""
    lines = extension_lines(res)
    if lines:
        doc.p("This sweep was extended after it first ran (`launch.py extend`); every table "
              "here pools its first run and its extensions as one sweep:")
        doc.bullets(lines)
    rule = adaptive_rule(res)
    if rule is None:
        return
    doc.h(3, "Adaptive seeds")
    doc.p("Seeds per point were chosen by " + RULE.format(
        min=rule["min"], max=rule["max"], halfwidth=rule["until"]["halfwidth"],
        df=rule["min"] - 1) + f" ({STEIN}).  The target: a 95% half-width of "
          f"{rule['until']['halfwidth']:g} on {rule['until']['metric']}.  The t-intervals in "
          "the other tables use each point's n - 1 degrees of freedom and ignore the stopping "
          "rule, so they are not valid under it; the Stein intervals below are.")
    doc.table(stein_table(res), "Seeds each point got, and its interval under the stopping rule.")
