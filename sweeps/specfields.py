"""One value of a sweep file, parsed: a typed scalar, a TrainingConfig built on a preset, a
grid axis or a distribution.  Every refusal is a ``SpecError`` naming the file and the field;
the section validators (``sweeps.specsections``) are built from these.
"""

from __future__ import annotations

import math
import re
from typing import Any

from hinr.config import DATASETS, VARIANTS, ConfigError, TrainingConfig, coerce, preset

from .specerror import MAX_SHOWN, SpecError, show

DISTRIBUTIONS = ("choice", "uniform", "loguniform", "randint")
# Integers other than seeds (MAX_SEED, sweeps.specerror) land in int64 Parquet columns.
MAX_INT = 2**63 - 1


def typed(value: Any, typ: type, field_: str, where: str) -> Any:
    try:
        out = coerce(field_, value, typ)
    except ConfigError:
        raise SpecError(f"{where}: {field_}: expected {typ.__name__}, got {show(value)}") from None
    except OverflowError:  # an integer past the largest float (1e309 and up)
        raise SpecError(f"{where}: {field_}: {too_large(value)}") from None
    if typ is float and not math.isfinite(out):  # .nan / .inf pass every < and > check
        raise SpecError(f"{where}: {field_}: expected a finite number, got {show(value)}")
    if typ is int and abs(out) > MAX_INT:
        raise SpecError(f"{where}: {field_}: {too_large(value)}")
    return out


def too_large(value: Any) -> str:
    return f"the number {show(value, 24)} is too large; allowed magnitudes below {MAX_INT}"


def training_config(preset_name: str, fields: dict, field_: str, where: str) -> TrainingConfig:
    """The preset with ``fields`` applied, or a SpecError naming ``field_``."""
    too_big = [k for k, v in fields.items() if isinstance(v, int) and not isinstance(v, bool)
               and abs(v) > MAX_INT]
    if too_big:  # int64 Parquet columns; float() of one past 1e308 raises OverflowError
        raise SpecError(f"{where}: {field_}: {too_big[0]}: {too_large(fields[too_big[0]])}")
    try:
        return preset(preset_name, **fields)
    except ConfigError as err:
        raise SpecError(f"{where}: {field_}: {clip_values(str(err))}") from None


def clip_values(text: str) -> str:
    """A ConfigError quotes the value (``name='...'``); keep each quoted run short."""
    return re.sub(r"=(.{%d,}?)(: )" % (MAX_SHOWN + 1),
                  lambda m: "=" + m.group(1)[:MAX_SHOWN - 3] + "..." + m.group(2), text, count=1)


def axis_values(axis: Any, base_value: Any) -> list:
    """The values a field takes in a sweep: its grid or choice list, else the base's value."""
    if axis is None:
        return [base_value]
    return axis if isinstance(axis, list) else list(axis.values())[0]


def parse_axis(value: Any, key: str, typ: type, where: str) -> Any:
    field_ = f"axes.{key}"
    if isinstance(value, list):
        if not value:
            raise SpecError(f"{where}: {field_}: empty grid; give at least one value")
        values = [typed(v, typ, field_, where) for v in value]
        if key == "dataset" and any(v not in DATASETS for v in values):
            raise SpecError(f"{where}: {field_}: allowed values are {', '.join(DATASETS)}")
        if key == "variant" and any(v not in VARIANTS for v in values):
            raise SpecError(f"{where}: {field_}: allowed values are {', '.join(VARIANTS)}")
        twice = [v for i, v in enumerate(values) if v in values[:i]]
        if twice:  # the same point twice is a fake replicate with the same seed
            raise SpecError(f"{where}: {field_}: {show(twice[0])} appears twice; give each value "
                            "once (replicates come from seeds:)")
        return values
    if not isinstance(value, dict) or len(value) != 1:
        raise SpecError(f"{where}: {field_}: expected a list (grid) or one of "
                        f"{{{': [...], '.join(DISTRIBUTIONS)}: [...]}}")
    (kind, args), = value.items()
    if kind not in DISTRIBUTIONS:
        raise SpecError(f"{where}: {field_}: unknown distribution {show(kind)}; allowed: "
                        f"{', '.join(DISTRIBUTIONS)}")
    if not isinstance(args, list) or not args:
        raise SpecError(f"{where}: {field_}.{kind}: expected a non-empty list")
    if kind == "choice":
        return {kind: [typed(v, typ, field_, where) for v in args]}
    if len(args) != 2:
        raise SpecError(f"{where}: {field_}.{kind}: expected [low, high]")
    if kind == "randint":
        if typ is not int:
            raise SpecError(f"{where}: {field_}.randint: {key} is a {typ.__name__} field; "
                            "randint needs an integer field")
        low, high = (typed(a, int, f"{field_}.{kind}", where) for a in args)
    else:
        if typ is not float:
            raise SpecError(f"{where}: {field_}.{kind}: {key} is a {typ.__name__} field; "
                            f"{kind} needs a float field (use choice or randint)")
        low, high = (typed(a, float, f"{field_}.{kind}", where) for a in args)
        if not (math.isfinite(low) and math.isfinite(high)):
            raise SpecError(f"{where}: {field_}.{kind}: bounds must be finite")
    if low >= high:
        raise SpecError(f"{where}: {field_}.{kind}: low ({low}) must be below high ({high})")
    if kind == "loguniform" and low <= 0:
        raise SpecError(f"{where}: {field_}.loguniform: bounds must be > 0 (got low={low})")
    return {kind: [low, high]}


def bounds(dist: dict) -> list:
    (kind, args), = dist.items()
    if kind == "choice":
        return args
    if kind == "randint":
        return [args[0], args[1] - 1]  # randint's high is exclusive
    return args
