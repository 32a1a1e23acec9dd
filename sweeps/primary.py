"""The ``primary:`` section of a sweep file: the confirmatory tests, named before the run.

A report that tests everything it prints and corrects once over all of it (Holm over 48
tests) can no longer reach the verdicts it was built for: a +-0.5 pp margin behaves like
+-0.2 pp (issue 41).  So a sweep names, before it runs, the few tests it is run to answer;
the report corrects those with Holm among themselves and everything else as secondary, with
the Benjamini-Hochberg false-discovery rate, each table saying which family a row is in
(``analysis.family``)::

    primary:
      stated: 2026-12-07                  # the day the tests were named (before the run)
      why: "does depth help under a per-parameter prior"   # optional
      tests:                              # at most MAX_TESTS; each names rows of one table
        - {table: equivalence, where: {name: depth_strong_prior}}
        - {table: design, where: {metric: val_psnr, term: "a2:inr_depth"}}

``table`` is one of the report's tested tables and ``where`` names the row by the table's own
columns (``COLUMNS``): an equivalence entry by its name, a model term by metric and term, a
paired effect by factor, level and metric, a claim by its question, a label-efficiency
difference by variant, control, probe, count and metric.  An equivalence test must name an
entry of the sweep's ``equivalence:`` section.  The same test twice is refused.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .equivalence import stated_date
from .specerror import show as _show

#: the report's tested tables a primary test may name (``analysis.family.KINDS``), and the
#: columns of each that identify a row
COLUMNS = {
    "effects": ("factor", "level", "metric"),
    "design": ("metric", "term"),
    "claims": ("question", "claim"),
    "labels": ("variant", "control", "probe", "count", "metric"),
    "paper": ("claim", "variant", "metric"),
    "equivalence": ("name", "metric"),
}
#: at most this many confirmatory tests: a family that stays small enough to be answered
MAX_TESTS = 5
KEYS = ("stated", "why", "tests")


class _Error(ValueError):
    """``primary...: message``; ``sweeps.spec`` adds the file."""


def parse(section: Any, equivalence_names: set[str] | None = None,
          today: dt.date | None = None) -> dict[str, Any] | None:
    """The validated section (None when absent), as written back to sweep.yaml."""
    if section is None:
        return None
    if not isinstance(section, dict):
        raise _Error("primary: expected a mapping with stated, tests (and optionally why)")
    unknown = [k for k in section if k not in KEYS]
    if unknown:
        raise _Error(f"primary.{_show(unknown[0])}: unknown key; allowed: {', '.join(KEYS)}")
    today = today or dt.datetime.now(dt.timezone.utc).date()
    out: dict[str, Any] = {"stated": stated_date(section.get("stated"), "primary.stated", today)}
    why = section.get("why")
    if why is not None:
        if not isinstance(why, str) or not why.strip():
            raise _Error("primary.why: expected text")
        out["why"] = why.strip()[:300]
    tests = section.get("tests")
    if not isinstance(tests, list) or not tests:
        raise _Error("primary.tests: expected a non-empty list of {table, where}")
    if len(tests) > MAX_TESTS:
        raise _Error(f"primary.tests: {len(tests)} tests; allowed at most {MAX_TESTS} (the "
                     "confirmatory family: everything else is reported as secondary)")
    out["tests"] = []
    for i, test in enumerate(tests):
        parsed = _test(test, f"primary.tests[{i}]", equivalence_names or set())
        if parsed in out["tests"]:
            j = out["tests"].index(parsed)
            raise _Error(f"primary.tests[{i}]: the same test as primary.tests[{j}]; a test "
                         "enters the family once")
        out["tests"].append(parsed)
    return out


def _test(test: Any, at: str, equivalence_names: set[str]) -> dict[str, Any]:
    if not isinstance(test, dict) or set(test) != {"table", "where"}:
        raise _Error(f"{at}: expected {{table: ..., where: {{column: value}}}}")
    table = test["table"]
    if table not in COLUMNS:
        raise _Error(f"{at}.table: {_show(table)} is not allowed; allowed: {', '.join(COLUMNS)}")
    where = test["where"]
    if not isinstance(where, dict) or not where:
        raise _Error(f"{at}.where: expected a mapping of column -> value; columns of {table}: "
                     f"{', '.join(COLUMNS[table])}")
    for column, value in where.items():
        if column not in COLUMNS[table]:
            raise _Error(f"{at}.where.{_show(column)}: not a column of {table}; allowed: "
                         f"{', '.join(COLUMNS[table])}")
        if isinstance(value, (dict, list)) or value is None:
            raise _Error(f"{at}.where.{column}: expected one value, got {_show(value)}")
    if table == "equivalence" and "name" in where and where["name"] not in equivalence_names:
        raise _Error(f"{at}.where.name: {_show(where['name'])} is not an entry of this sweep's "
                     "equivalence: section; allowed: "
                     f"{', '.join(sorted(equivalence_names)) or 'none'}")
    return {"table": table, "where": {k: where[k] for k in COLUMNS[table] if k in where}}

