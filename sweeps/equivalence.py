"""The ``equivalence:`` section of a sweep file: margins stated before the run.

A comparison with a published number, or a claim of "no effect", is an equivalence test: it
needs a margin, and the margin means something only if it was written down before the
results were seen.  So it lives in the sweep file, is validated with the rest of it, and
travels with the results (sweep.yaml and trials.parquet's ``hinr_spec``), where ``analysis``
reads it::

    equivalence:
      latent_acc:                       # a name; also the metric when no metric: is given
        where: {variant: plain}         # the trials it is about (config field: level); optional
        reference: 0.9842               # a published number, in the metric's Parquet units
        margin: 0.005                   # equivalent = inside reference +- margin
        source: "paper sec. 4.1, 98.42%"
        stated: 2026-12-04              # the day the margin was written (before the run)
      cls_loss_psnr:
        metric: test_psnr
        where: {variant: classifier_loss}
        versus: {variant: plain}        # "no effect": where minus versus inside +- margin
        margin: 0.3
        source: "issue 26: the classifier loss costs no PSNR"
        stated: 2026-12-04

Units are the Parquet columns' (accuracies as fractions, PSNR in dB): 0.005 is 0.5 pp.
``metric`` must be a test-split metric where higher is better (``contract.metrics``: better =
max; accuracies and PSNRs): the number the paper reports, and the direction that "better"
and "worse" read.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from contract import metrics as metrics_registry
from hinr.config import TrainingConfig, preset

KEYS = ("metric", "where", "reference", "versus", "margin", "source", "stated")
#: metrics an equivalence may be about: measured once on the test split, higher is better
#: (accuracies, PSNRs; the verdicts better / worse read that way)
METRICS = tuple(m.name for m in metrics_registry.METRICS
                if m.split == "test" and m.better == "max")
NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
MAX_ENTRIES = 100


class _Error(ValueError):
    """``field: message``; the caller adds the file (``sweeps.spec`` raises SpecError)."""


def parse(section: Any, base: dict[str, Any], axes: dict[str, Any],
          today: dt.date | None = None) -> dict[str, dict[str, Any]] | None:
    """The validated section (None when absent), in the form written back to sweep.yaml:
    every entry with its metric, ``stated`` as YYYY-MM-DD text.  Raises ``ValueError`` with
    ``equivalence.<name>.<key>: ...`` (``sweeps.spec`` adds the file)."""
    if section is None:
        return None
    if not isinstance(section, dict) or not section:
        raise _Error("equivalence: expected a mapping of name -> {metric, where, reference or "
                     "versus, margin, source, stated}")
    if len(section) > MAX_ENTRIES:
        raise _Error(f"equivalence: {len(section)} entries; allowed at most {MAX_ENTRIES}")
    today = today or dt.datetime.now(dt.timezone.utc).date()
    out = {}
    for name, entry in section.items():
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise _Error(f"equivalence: entry name {_show(name)}: expected letters, digits, "
                         "_ . - (at most 64)")
        out[name] = _entry(name, entry, base, axes, today)
    return out


def _entry(name: str, entry: Any, base: dict[str, Any], axes: dict[str, Any],
           today: dt.date) -> dict[str, Any]:
    at = f"equivalence.{name}"
    if not isinstance(entry, dict):
        raise _Error(f"{at}: expected a mapping with {', '.join(KEYS)}")
    unknown = [k for k in entry if k not in KEYS]
    if unknown:
        raise _Error(f"{at}.{_show(unknown[0])}: unknown key; allowed: {', '.join(KEYS)}")
    metric = entry.get("metric", name)
    if metric not in METRICS:
        raise _Error(f"{at}.metric: {_show(metric)} is not allowed; allowed (test metrics, "
                     f"higher is better): {', '.join(METRICS)}")
    info = metrics_registry.get(metric)
    proportion = info.unit == "%"
    out: dict[str, Any] = {"metric": metric}
    where = _levels(entry.get("where", {}), f"{at}.where", base, axes)
    if where:
        out["where"] = where
    has_ref, has_vs = "reference" in entry, "versus" in entry
    if has_ref == has_vs:
        raise _Error(f"{at}: give exactly one of reference (a published number) or versus "
                     "(the setting that where is compared with: a no-effect claim)")
    if has_ref:
        ref = _number(entry["reference"], f"{at}.reference")
        if proportion and not 0 <= ref <= 1:
            raise _Error(f"{at}.reference: {metric} is stored as a fraction: allowed 0 to 1 "
                         f"(0.9842 for 98.42%), got {_show(entry['reference'])}")
        out["reference"] = ref
    else:
        versus = _levels(entry["versus"], f"{at}.versus", base, axes)
        if not versus:
            raise _Error(f"{at}.versus: expected a mapping of config field -> level")
        if all(where.get(k, _base_value(base, k)) == v for k, v in versus.items()):
            raise _Error(f"{at}.versus: the same setting as where; a no-effect claim compares "
                         "two settings")
        out["versus"] = versus
    margin = _number(entry.get("margin"), f"{at}.margin")
    if margin <= 0 or (proportion and margin >= 1):
        allowed = "a fraction above 0 and below 1 (0.005 for 0.5 pp)" if proportion else \
            f"above 0, in {info.unit or 'the metric'}'s units"
        raise _Error(f"{at}.margin: allowed {allowed}, got {_show(entry.get('margin'))}")
    out["margin"] = margin
    source = entry.get("source")
    if not isinstance(source, str) or not source.strip():
        raise _Error(f"{at}.source: expected text saying where the reference and margin come "
                     "from (a paper's section, an issue)")
    out["source"] = source.strip()[:300]
    out["stated"] = stated_date(entry.get("stated"), f"{at}.stated", today)
    return out


def _levels(value: Any, at: str, base: dict[str, Any], axes: dict[str, Any]) -> dict[str, Any]:
    """{config field: level}, each level one the sweep runs (an axis value, or the base's)."""
    if value is None or value == {}:
        return {}
    if not isinstance(value, dict):
        raise _Error(f"{at}: expected a mapping of config field -> level, e.g. {{variant: plain}}")
    fields = TrainingConfig.field_names()
    out = {}
    for key, level in value.items():
        if key not in fields:
            raise _Error(f"{at}.{_show(key)}: unknown config field; allowed: "
                         f"{', '.join(fields)}")
        axis = axes.get(key)
        runs = axis if isinstance(axis, list) else None if axis is not None else \
            [_base_value(base, key)]
        if runs is None:
            raise _Error(f"{at}.{key}: a sampled axis has no levels to name; allowed: fields "
                         "with listed levels")
        if not any(_same(level, v) for v in runs):
            raise _Error(f"{at}.{key}: {_show(level)} is not a level this sweep runs; allowed: "
                         f"{', '.join(map(str, runs))}")
        out[key] = next(v for v in runs if _same(level, v))
    return out


def _base_value(base: dict[str, Any], key: str) -> Any:
    if key in base:
        return base[key]
    return getattr(preset(str(base.get("preset", "small"))), key, None)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _number(value: Any, at: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Error(f"{at}: expected a number, got {_show(value)}")
    try:
        value = float(value)
    except OverflowError:
        raise _Error(f"{at}: the number is too large") from None
    if not math.isfinite(value):
        raise _Error(f"{at}: expected a finite number, got {_show(value)}")
    return value


def stated_date(value: Any, at: str, today: dt.date) -> str:
    """YYYY-MM-DD text (YAML reads an unquoted date as a date; both are accepted), not after
    ``today``: the day something was stated before a run (a margin, a primary family)."""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, str) and DATE_RE.fullmatch(value.strip()):
        try:
            value = dt.date.fromisoformat(value.strip())
        except ValueError:
            raise _Error(f"{at}: {_show(value)} is not a date (YYYY-MM-DD)") from None
    if not isinstance(value, dt.date):
        raise _Error(f"{at}: expected the date it was written, YYYY-MM-DD, got "
                     f"{_show(value)}")
    # a day of slack: the writer's calendar day may be ahead of UTC's
    if value > today + dt.timedelta(days=1):
        raise _Error(f"{at}: {value.isoformat()} is in the future; a margin is stated before "
                     "the run, on the day it is written")
    return value.isoformat()


def _show(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
