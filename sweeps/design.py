"""Designed experiments as a search type: ``search: design`` in a sweep file.

::

    search: design
    design: {type: fractional, resolution: V}   # or: full | lhs, or {type: lhs, runs: 20}
    axes:
      a1: [0.0, 1.0e-3]        # a factorial factor: exactly two levels, low (-1) first
      a2: [1.0, 100.0]
      ...

* ``full``: every combination of the two-level factors (pyDOE3's ``ff2n``), 2^k points.
* ``fractional``: the smallest 2^(k-p) fraction (pyDOE3's ``fracfact`` from generators chosen
  here) whose shortest defining word has at least ``resolution`` letters (III, IV, V, or 3, 4,
  5); ``runs: N`` (a power of two) asks for that size and is refused if it cannot reach the
  resolution.  The resolution and the alias structure are computed from the defining relation
  and checked against the matrix itself, not taken from the library: pyDOE3 1.6.2's
  ``fracfact_by_res(5, 5)`` raises "design not possible" because ``_n_fac_at_res`` and its
  generator list sum over ``range(res - 1, n)``, never offering the word of all n base
  factors, which is exactly the 2^(5-1) resolution-V generator E = ABCD.
  ``fraction: complementary`` runs the other fraction (every generator negated, E = -ABCD),
  ``fraction: both`` the two together: for a half-fraction the full 2^k, so a sweep of one
  half extended by the other (``launch.py extend --fraction complementary``) has every
  interaction clear.
* ``lhs``: a Latin hypercube of ``runs`` points (``scipy.stats.qmc``, fixed seed 0, so a
  resumed sweep draws the same points) over ``uniform`` / ``loguniform`` / ``randint`` axes.

``factors: [..]`` names the axes in the design (default: every axis); the other list axes are
crossed with it as a full grid (a three-level factor kept beside a two-level design).  Every
design point runs once per seed (seed as a block) and ``budget.num_samples`` repeats the whole
design, as for a grid.  Trials hold the real factor values in their config (``config.a2`` is
the level, not a code), so analysis reads them as any other axis.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .specerror import SpecError, show

TYPES = ("full", "fractional", "lhs")
KEYS = {"full": ("type", "factors"),
        "fractional": ("type", "resolution", "runs", "factors", "fraction"),
        "lhs": ("type", "runs", "factors")}
ROMAN = {"III": 3, "IV": 4, "V": 5}
LHS_DISTRIBUTIONS = ("uniform", "loguniform", "randint")
# Letters naming factors in the alias table: the usual DOE alphabet, without I (the identity).
LETTERS = "ABCDEFGHJKLMNOPQRSTUVWXYZ"
# 2^15 points is past MAX_TRIALS already; the generator search also stays fast below it.
MAX_FACTORS = 15
# Generator sets tried per fraction size before a larger one is taken (bounds the search).
SEARCH_BUDGET = 20_000
LHS_SEED = 0
# Which fraction of a 2^(k-p) design runs: the principal one (every generator +: E = ABCD),
# the complementary one (every generator -: E = -ABCD; for a half-fraction, the other half),
# or both (for a half-fraction, the full 2^k; ``launch.py extend --fraction complementary``
# turns a sweep of the principal fraction into this).
FRACTIONS = ("principal", "complementary", "both")


@dataclass
class Design:
    kind: str
    factors: list[str]
    coded: list[list[float]]  # (points, factors): -1/+1 for factorial, [0, 1) for lhs
    points: list[dict[str, Any]]  # the real factor values of each design point
    crossed: dict[str, list]  # list axes outside the design, crossed as a grid
    words: list[frozenset] = field(default_factory=list)  # defining relation (factor indices)
    generators: dict[int, frozenset] = field(default_factory=dict)  # added factor -> base word
    resolution: int | None = None  # None: full factorial (no defining word)
    fraction: str = "principal"  # FRACTIONS; the words above are those of this fraction

    @property
    def runs(self) -> int:
        return len(self.points)

    @property
    def num_points(self) -> int:  # counted, not expanded: the crossed grid may be refused for size
        return self.runs * math.prod(len(v) for v in self.crossed.values())

    def crossed_points(self) -> list[dict[str, Any]]:
        keys = list(self.crossed)
        combos = [dict(zip(keys, c)) for c in itertools.product(*self.crossed.values())]
        return [{**point, **combo} for point in self.points for combo in combos]


def _error(where: str, message: str) -> SpecError:
    return SpecError(f"{where}: {message}")


def roman(n: int) -> str:
    numerals = [(10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]
    out = ""
    for value, text in numerals:
        while n >= value:
            out, n = out + text, n - value
    return out


def parse(section: Any, axes: dict[str, Any], where: str) -> dict:
    """The ``design`` section of a ``search: design`` sweep (``sweeps.searchtypes`` refuses one
    missing, or given to another search type), validated against the axes."""
    if isinstance(section, str):
        section = {"type": section}
    if not isinstance(section, dict) or section.get("type") not in TYPES:
        kind = section.get("type") if isinstance(section, dict) else section
        raise _error(where, f"design: {show(kind)} is not a design; allowed: {', '.join(TYPES)}")
    kind = section["type"]
    _check_keys(section, kind, where)
    out: dict[str, Any] = {"type": kind}
    factors = _factors(section, kind, axes, where)
    if "factors" in section:
        out["factors"] = list(factors)
    if kind == "fractional":
        out.update(_fraction(section, factors, where))
    if "runs" in section:
        out["runs"] = _runs(section["runs"], kind, factors, where)
    elif kind == "lhs":
        raise _error(where, "design.runs: a Latin hypercube needs its number of points "
                     "(design: {type: lhs, runs: N})")
    if kind != "lhs" and len(factors) > MAX_FACTORS:
        raise _error(where, f"design.factors: {len(factors)} two-level factors; allowed at most "
                     f"{MAX_FACTORS}")
    build(out, axes, where)  # a design that cannot be built is refused here, before any run
    return out


def _check_keys(section: dict, kind: str, where: str) -> None:
    for key in section:
        if key not in KEYS[kind]:
            hint = {"resolution": " (only a fractional design has one: a full design estimates "
                                  "every interaction)",
                    "runs": " (a full design runs all 2^k points)"}.get(key, "") if kind != "lhs" \
                else (" (a Latin hypercube has no alias structure)" if key == "resolution" else "")
            raise _error(where, f"design.{key}: not a key of a {kind} design{hint}; allowed: "
                         f"{', '.join(KEYS[kind])}")


def _factors(section: dict, kind: str, axes: dict[str, Any], where: str) -> list[str]:
    """The design's factors (default: every axis), each checked, and the axes crossed with
    them checked too."""
    factors = section.get("factors", list(axes))
    if (not isinstance(factors, list) or not factors
            or not all(isinstance(f, str) and f in axes for f in factors)):
        raise _error(where, f"design.factors: expected a non-empty list of axis names; allowed: "
                     f"{', '.join(map(str, axes)) or '(no axes)'}")
    if len(set(factors)) != len(factors):
        raise _error(where, "design.factors: a factor is listed twice")
    for name in factors:
        _check_factor(kind, name, axes[name], where)
    for name, value in axes.items():
        if name not in factors and not isinstance(value, list):
            raise _error(where, f"axes.{name}: a distribution outside design.factors cannot be "
                         "crossed with the design; allowed: a list, or add it to design.factors")
    return factors


def _fraction(section: dict, factors: list[str], where: str) -> dict[str, Any]:
    """A fractional design's resolution (as a numeral) and fraction (unless principal)."""
    if "resolution" not in section:
        raise _error(where, "design.resolution: a fractional design needs one; allowed: "
                     "III, IV, V (or 3, 4, 5)")
    res = section["resolution"]
    res = ROMAN.get(res, res) if isinstance(res, str) else res
    if not isinstance(res, int) or isinstance(res, bool) or res not in ROMAN.values():
        raise _error(where, f"design.resolution: {show(section['resolution'])} is not allowed; "
                     "allowed: III, IV, V (or 3, 4, 5)")
    out: dict[str, Any] = {"resolution": roman(res)}
    if "fraction" in section:
        if section["fraction"] not in FRACTIONS:
            raise _error(where, f"design.fraction: {show(section['fraction'])} is not a "
                         f"fraction; allowed: {', '.join(FRACTIONS)}")
        if section["fraction"] != "principal":  # the default is left unwritten
            out["fraction"] = section["fraction"]
    if len(factors) < 3:
        raise _error(where, f"design: a fractional design needs at least 3 two-level factors "
                     f"(got {len(factors)}); allowed: design: full")
    return out


def _runs(runs: Any, kind: str, factors: list[str], where: str) -> int:
    if not isinstance(runs, int) or isinstance(runs, bool) or runs < 2:
        raise _error(where, f"design.runs: expected an integer >= 2, got {show(runs)}")
    if kind == "fractional" and (runs & (runs - 1) or runs > 2 ** len(factors)):
        raise _error(where, f"design.runs: a two-level fraction of {len(factors)} factors has "
                     f"2^m points; allowed: "
                     f"{', '.join(str(2 ** m) for m in range(2, len(factors) + 1))}")
    return runs


def _check_factor(kind: str, name: str, value: Any, where: str) -> None:
    if kind == "lhs":
        dist = next(iter(value)) if isinstance(value, dict) else None
        if dist not in LHS_DISTRIBUTIONS:
            raise _error(where, f"axes.{name}: a Latin hypercube samples ranges; allowed: "
                         f"{', '.join(f'{{{d}: [low, high]}}' for d in LHS_DISTRIBUTIONS)}, "
                         "or leave it out of design.factors to cross it as a grid")
        return
    if not isinstance(value, list) or len(value) != 2:
        got = f"{len(value)} levels" if isinstance(value, list) else "a distribution"
        raise _error(where, f"axes.{name}: a {kind} factorial design needs exactly two levels per "
                     f"factor (got {got}); allowed: a list of two values (low first), or leave "
                     f"{name} out of design.factors to cross it as a grid")


def tiny(doc: dict) -> list[str]:
    """Tiny mode for a designed sweep (``doc`` is the resolved document, changed in place):
    the factors keep their levels (a factorial needs both), a fraction becomes the smallest one
    (resolution III), a Latin hypercube 3 points; returns the factors, which the caller leaves
    whole while it cuts every other axis to its first value."""
    section = doc.get("design")
    if not section:
        return []
    section = dict(section)
    if section["type"] == "fractional":
        section.update(resolution="III")
        section.pop("runs", None)
    if section["type"] == "lhs":
        section["runs"] = min(section["runs"], 3)
    doc["design"] = section
    return list(section.get("factors", doc["axes"]))


# ------------------------------------------------------------------------------ generation
_CACHE: dict[str, Design] = {}


def build(section: dict, axes: dict[str, Any], where: str = "") -> Design:
    """The design's points (deterministic: the same section and axes give the same points)."""
    key = repr((sorted(section.items()), sorted(axes.items())))
    if key not in _CACHE:
        _CACHE[key] = _build(section, axes, where)
    return _CACHE[key]


def _build(section: dict, axes: dict[str, Any], where: str) -> Design:
    kind = section["type"]
    factors = section.get("factors", list(axes))
    crossed = {k: v for k, v in axes.items() if k not in factors}
    k = len(factors)
    if kind == "lhs":
        from scipy.stats import qmc

        unit = qmc.LatinHypercube(d=k, rng=LHS_SEED).random(section["runs"])  # (runs, k)
        points = [{name: _from_unit(axes[name], u) for name, u in zip(factors, row)}
                  for row in unit]
        return Design(kind, factors, unit.tolist(), points, crossed)
    import pyDOE3

    if kind == "full":
        coded, words, generators, res = pyDOE3.ff2n(k), [], {}, None
    else:
        want = ROMAN[section["resolution"]]
        generators, words = _generators(k, want, section.get("runs"), where)
        base = k - len(generators)
        letters = "abcdefghijklmnopqrstuvwxyz"
        gen = " ".join([letters[i] for i in range(base)]
                       + ["".join(letters[i] for i in sorted(generators[j]))
                          for j in range(base, k)])
        principal = pyDOE3.fracfact(gen)  # (2^base, k)
        _verify(principal, words, base)
        fraction = section.get("fraction", "principal")
        # The complementary fraction negates every generated column (E = -ABCD): the same
        # base-factor runs, the generated factors at their other level.
        other = np.array(principal, copy=True)
        other[:, base:] *= -1
        coded = {"principal": principal, "complementary": other,
                 "both": np.concatenate([principal, other])}[fraction]
        # The complementary fraction has the principal's aliases, with signs (I = -ABCDE):
        # every word's product is constant on its points.  Both together keep only the words
        # that are +1 on both (an even number of generators), so a half-fraction's two halves
        # have none: the full 2^k.
        for word in words:
            if len(set(np.prod(coded[:, sorted(word)], axis=1))) != 1 and fraction != "both":
                raise AssertionError(f"fractional design: word {sorted(word)} is not constant")
        if fraction == "both":
            words = [w for w in words if np.all(np.prod(coded[:, sorted(w)], axis=1) == 1)]
            if not words:
                generators = {}
        res = min(map(len, words)) if words else None
        points = [{name: axes[name][int(c > 0)] for name, c in zip(factors, row)} for row in coded]
        return Design(kind, factors, np.asarray(coded).tolist(), points, crossed, words,
                      generators, res, fraction)
    points = [{name: axes[name][int(c > 0)] for name, c in zip(factors, row)} for row in coded]
    return Design(kind, factors, np.asarray(coded).tolist(), points, crossed, words, generators, res)


def _from_unit(dist: dict, u: float) -> Any:
    (kind, (low, high)), = dist.items()
    if kind == "uniform":
        return float(low + u * (high - low))
    if kind == "loguniform":
        return float(math.exp(math.log(low) + u * (math.log(high) - math.log(low))))
    return int(min(high - 1, low + math.floor(u * (high - low))))  # randint: high exclusive


def _relation(defining: list[frozenset]) -> list[frozenset]:
    """Every product of defining words (products of +-1 columns: symmetric differences)."""
    words: list[frozenset] = []
    for word in defining:
        words += [word] + [word ^ w for w in words]
    return words


def _generators(k: int, want: int, runs: int | None, where: str):
    """Generators of the smallest 2^(k-p) fraction with resolution >= ``want``: for each added
    factor j a word of base factors (E = ABCD is {0, 1, 2, 3} for j = 4).  Among the sets tried
    at that size, the highest resolution, then the fewest shortest words (minimum aberration)."""
    sizes = [int(math.log2(runs))] if runs else range(max(2, math.ceil(math.log2(k + 1))), k)
    for base in sizes:
        best = _search(k, base, want)
        if best is not None:
            return best
        if runs:
            reach = max((r for r in range(3, want) if _search(k, base, r) is not None), default=None)
            reached = f"reach at most resolution {roman(reach)}" if reach else "reach no resolution"
            need = next((2 ** b for b in range(base + 1, k) if _search(k, b, want)), 2 ** k)
            raise _error(where, f"design.runs: {runs} runs of {k} two-level factors {reached}; "
                         f"resolution {roman(want)} needs {need} runs")
    return {}, []  # no fraction reaches it: the full 2^k


def _search(k: int, base: int, want: int):
    p = k - base
    if p == 0:
        return {}, []
    candidates = [frozenset(c) for size in range(base, max(2, want - 1) - 1, -1)
                  for c in itertools.combinations(range(base), size)]
    best, best_key, tried = None, None, 0
    for combo in itertools.combinations(candidates, p):
        tried += 1
        if tried > SEARCH_BUDGET:
            break
        defining = [word | {base + j} for j, word in enumerate(combo)]
        words = _relation(defining)
        shortest = min(map(len, words))
        if shortest < want:
            continue
        key = (-shortest, sum(len(w) == shortest for w in words))
        if best_key is None or key < best_key:
            best_key = key
            best = ({base + j: word for j, word in enumerate(combo)}, words)
    return best


def _verify(coded, words: list[frozenset], base: int) -> None:
    """The matrix is what the generators say: 2^base distinct points, and the product of the
    columns of every defining word is +1 on every point (that word is aliased with I)."""
    coded = np.asarray(coded)
    if len({tuple(r) for r in coded}) != 2 ** base:
        raise AssertionError("fractional design: repeated points")
    for word in words:
        if not np.all(np.prod(coded[:, sorted(word)], axis=1) == 1):
            raise AssertionError(f"fractional design: word {sorted(word)} is not aliased with I")


# ------------------------------------------------------------------------------ printing
def _name(effect, letters: str) -> str:
    return "".join(letters[i] for i in sorted(effect))


def describe(design: Design, seeds: list[int], repeats: int = 1, max_order: int = 4) -> str:
    """The --dry-run text: what design, its matrix (coded and real), its alias structure, and
    the trials against a full grid."""
    crossed = math.prod(len(v) for v in design.crossed.values())
    lines = [_headline(design)] + _matrix(design)
    if design.kind != "lhs":
        lines.append("  levels: " + ", ".join(f"{LETTERS[i]} = {n}"
                                              for i, n in enumerate(design.factors))
                     + " (- is the first value listed)")
        lines += _aliases(design, max_order)
    else:
        lines.append("  no alias structure: a space-filling design (one point per stratum of "
                     "each factor) for response surfaces, not factorial effects")
    if design.crossed:
        lines.append(f"  crossed with the grid {' x '.join(f'{n} {v}' for n, v in design.crossed.items())}"
                     f": {design.runs * crossed} points")
    lines.append(_trials_line(design, crossed, len(seeds), repeats))
    return "\n".join(lines)


def _headline(design: Design) -> str:
    """What design: its kind and size, and a fraction's generators and shortest words."""
    k, letters = len(design.factors), LETTERS
    if design.kind == "lhs":
        return (f"design: Latin hypercube, {design.runs} points over {k} factor(s) "
                f"(scipy.stats.qmc, seed {LHS_SEED})")
    if design.kind == "full" or not design.words:
        return (f"design: 2^{k} full factorial, {design.runs} points"
                + ("" if design.kind == "full" else
                   " (both fractions of a half-fraction together)" if design.fraction == "both"
                   else " (no smaller fraction reaches the resolution asked for)"))
    p = k - int(math.log2(design.runs))  # "both" of a 2^(k-p) is a 2^(k-p+1)
    sign = "-" if design.fraction == "complementary" else ""
    gens = ", ".join(f"{letters[j]} = {sign}{_name(w, letters)}"
                     for j, w in design.generators.items())
    if design.fraction != "principal":
        gens += f" ({design.fraction} fraction{'s' if design.fraction == 'both' else ''})"
    # A word's sign on this fraction (I = -ABCDE on the complementary half): the product
    # of its columns, the same on every point.
    shortest = sorted(("-" if math.prod(design.coded[0][i] for i in w) < 0 else "")
                      + _name(w, letters) for w in design.words if len(w) == design.resolution)
    return (f"design: 2^({k}-{p}) fractional factorial, resolution "
            f"{roman(design.resolution)}, {design.runs} points (full 2^{k}: {2 ** k}); "
            f"generators {gens}; shortest words I = {' = '.join(shortest)}")


def _matrix(design: Design) -> list[str]:
    """One row per point, coded then real values, in aligned columns."""
    k, letters, names = len(design.factors), LETTERS, design.factors
    if design.kind == "lhs":
        head = [f"u_{letters[i]}" for i in range(k)] + names
        body = [[f"{u:.2f}" for u in code] + [_short(p[n]) for n in names]
                for code, p in zip(design.coded, design.points)]
    else:
        head = list(letters[:k]) + names
        body = [["+" if c > 0 else "-" for c in code] + [_short(p[n]) for n in names]
                for code, p in zip(design.coded, design.points)]
    head = ["pt"] + head
    body = [[str(i)] + row for i, row in enumerate(body)]
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(head)]
    return (["  " + "  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip()]
            + ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in body])


def _trials_line(design: Design, crossed: int, seeds: int, repeats: int) -> str:
    """The trials, and (factorial) what they save against the full grid of the same axes."""
    trials = design.runs * crossed * seeds * repeats
    line = (f"trials: {trials} ({design.runs * crossed} points x {seeds} seeds"
            + (f" x {repeats} repeats" if repeats > 1 else ""))
    if design.kind == "lhs":
        return line + ")"
    grid = 2 ** len(design.factors) * crossed * seeds * repeats
    saved = (f"; saves {grid - trials} ({100 * (grid - trials) / grid:.0f}%)"
             if grid > trials else "")
    return line + f"); the full grid of these axes: {grid}{saved}"


def _aliases(design: Design, max_order: int) -> list[str]:
    k, letters = len(design.factors), LETTERS
    if not design.words:
        return ["  aliases: none (full factorial): every main effect and interaction is estimable"]
    effects = [frozenset([i]) for i in range(k)] + [frozenset(c) for c in itertools.combinations(range(k), 2)]
    shown: set[frozenset] = set()
    classes = []
    for effect in effects:
        if effect in shown:
            continue
        alias = sorted({effect ^ w for w in design.words}, key=lambda e: (len(e), sorted(e)))
        shown.update(alias)
        low = [_name(a, letters) for a in alias if len(a) <= max_order]
        more = len(alias) - len(low)
        classes.append(" = ".join([_name(effect, letters)] + low)
                       + (f" (+{more} of order > {max_order})" if more else ""))
    res = design.resolution
    verdict = {3: "resolution III: main effects aliased with 2-factor interactions",
               4: "resolution IV: main effects clear; 2-factor interactions aliased with each other"}.get(
        res, f"resolution {roman(res)}: main effects and 2-factor interactions clear, "
             "aliased only with 3+ factor ones")
    lines = [f"  aliases ({verdict}):"]
    row: list[str] = []
    for text in classes:  # several short classes per line: the table stays short
        if row and len("   ".join(row + [text])) > 86:
            lines.append("    " + "   ".join(row))
            row = []
        row.append(text)
    if row:
        lines.append("    " + "   ".join(row))
    return lines


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
