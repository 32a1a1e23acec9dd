"""The Parquet contract between ``sweeps`` (writer) and ``analysis`` (reader).

This module is the single definition of the results layout.  It imports only pyarrow and the
rest of the contract (``contract.atomic``, ``contract.metrics``), so ``analysis`` can use it on
a laptop without torch or Ray.

Layout of one results directory::

    results/<sweep>/
      sweep.yaml            the resolved spec as run + provenance
      tune/                 Ray Tune's experiment directory (what resume restores from)
      extensions/<n>/       the Tune experiment of the sweep's n-th extension (launch.py extend)
      continued/<n>/        the Tune experiment of its n-th continuation from the records
      trials.parquet        one row per trial
      epochs/<trial>.parquet  one row per (trial, epoch), one file per trial
      tb/<trial>/           TensorBoard event files
      images/<trial>/<name>.png  a few fixed test images, written once by the trial at its
                            last epoch (``IMAGES_DIR``, ``image_path``): ``reconstruction.png``
                            (row 1 the originals, row 2 the reconstructions) and one per image
                            operation, ``superres.png``, ``inpainting.png``, ``denoising.png``
                            (row 1 the originals, row 2 the operation's input, which is also its
                            naive baseline, row 3 the output).  Pixels in [0, 1], 8 images a
                            row; written atomically like the Parquet files.
      predictions/<trial>.parquet  one row per test image, written once by the trial at its
                            last epoch (``PREDICTIONS_DIR``, ``predictions_path``,
                            ``predictions_table``; columns below), so that analysis can
                            resample test images and pair variants on the same images.
      driver.log            Ray's own log and the trial workers' output (the console stays quiet)

Schema version ``SCHEMA_VERSION`` is stored in every file's key-value metadata under
``hinr_schema_version``; a reader refuses versions it does not know.

trials.parquet also carries what its columns mean, so a reader needs no other file (all JSON
text, ``sweep_contract`` computes them, ``read_contract`` reads them back):
  * ``hinr_spec``: the resolved sweep document as run (name, base, axes, seeds, search,
    metric, mode, scheduler, resources, budget): sweep.yaml without its provenance.
  * ``hinr_factors``: the sweep's factors (its axes), in order: ``{"a2": {"levels": [1.0,
    100.0]}, "lr": {"sampled": {"loguniform": [0.0001, 0.01]}}}``.  Seeds are replicates,
    never a factor.
  * ``hinr_references``: each listed-levels factor's reference level and where it comes
    from: ``{"a2": {"value": 100.0, "source": "base config"}}`` (the value ``base`` sets
    when the sweep runs it, else ``"first axis value"``).  A sampled factor has none.
  * ``hinr_seeds``: the replicate seeds, ``[0, 1]``.
Files written before these keys existed lack them; ``analysis`` then derives the same from
sweep.yaml.

trials.parquet columns
  * ``TRIAL_CORE``: trial_id, sweep, status, epochs_done, wall_seconds, node, device, error,
    retries, diverged_epoch, diverged_step (types below).  ``status`` is one of ``STATUSES``.
  * ``TRIAL_OPTIONAL``: ``stage`` (int64), the number of the stage (sweep.yaml's ``stages``:
    the first run 1, each resume, continuation or extension the next) in which the trial was
    created: the block a designed sweep run in chunks is analysed with.  Files written
    before the column existed lack it (their rows read as null: the sweep's first stage,
    unless they ran in an extension).  ``finished_at`` (timestamp, ms, UTC): when the
    trial's last result reached the driver (Tune's ``timestamp`` of it), so its start is
    ``finished_at - wall_seconds``; null in rows written before the column existed.
  * ``config.<field>`` for every TrainingConfig field (str / float64 / int64 / bool), plus
    ``config.preset``.
  Metric names are those of ``contract.metrics`` (the one registry: label, unit, split, per-epoch
  or final); the writer stores exactly the registered metrics a trial reports.
  ``metric_column(name)`` / ``metric_name(column)`` convert, nobody strips prefixes by hand.
  Files written before the theta/latent prior got their one name call them ``*_weight_reg``
  / ``*_latent_reg``; ``analysis.load`` reads them under the current names.
  * ``metric.<name>`` float64 for every final metric the trial reported: the last epoch's
    train_* / val_* values and the results of ``hinr.evaluate.finish()`` (test_*, latent_acc,
    weight_acc, joint_acc, val_latent_acc, val_weight_acc, pretrain_mlp_acc, sr_psnr,
    sr_bilinear_psnr, inpaint_psnr, inpaint_meanfill_psnr, denoise_psnr, denoise_noisy_psnr,
    *_gain_db, ...).  A metric a trial did not produce is null.

predictions/<trial>.parquet columns (``PREDICTION_CORE`` then ``pred.*``)
  * ``trial_id`` string; ``image`` int64, the image's index in the test split (``test_subset``
    keeps the first N, so an index names the same image in every trial of a dataset);
    ``label`` int64, its class.
  * ``psnr`` float64: the image's reconstruction PSNR in dB (``hinr.losses.psnr``, per image);
    the trial's ``test_psnr`` is their mean (computed in float32 per batch: equal to ~1e-5
    relative).  Null in every row of a trial that reconstructs nothing (variant
    ``random_encoder``).
  * ``pred.<probe>`` int64, the class the probe predicts, for every probe of
    ``contract.metrics.PROBES`` the trial ran, in that order: ``pred.latent_mlp`` (latent_acc),
    ``pred.weight_cnn`` (weight_acc), ``pred.joint`` (joint_acc; only where the joint head
    trained), ``pred.pretrain_mlp`` (pretrain_mlp_acc; variant pretrained), ``pred.pixel_mlp``
    and ``pred.pixel_cnn`` (pixel_mlp_acc, pixel_cnn_acc; pixel_baselines on).  The share of a
    probe's predictions equal to ``label`` is exactly its accuracy metric.  The controls have
    no ``pred.weight_cnn`` (no theta: variants autoencoder, random_encoder).
  * label efficiency (config ``label_counts``, issue 28): ``pred.latent_linear`` and
    ``pred.weight_linear`` (linear_acc, weight_linear_acc: the linear probes with every
    label) and, per probe and smaller count, ``pred.<probe>_n<count>`` (``pred.latent_mlp_n100``
    -> latent_acc_n100, ``pred.weight_cnn_n1000`` -> weight_acc_n1000, ``pred.pixel_cnn_n300``
    -> pixel_cnn_acc_n300, ...; ``contract.metrics.label_probe`` / ``label_metric``).  Files
    written before have none of them and read as before.
  A trial that diverged or was stopped early has no file (it never scored the test split).

epochs/<trial>.parquet columns
  * ``EPOCH_CORE``: trial_id, sweep, epoch, wall_seconds (since the trial started).
  * ``metric.<name>`` float64 for every per-epoch metric (train_loss, train_mse,
    train_latent_prior, train_theta_prior, train_cls_ce, train_images_per_s, val_mse,
    val_psnr, val_loss, val_joint_acc, ...; the last epoch also carries the test_* and final
    metrics).
  (trial_id, epoch) is unique across the directory: a retried or resumed trial replaces the
  epochs it repeats, it never duplicates them.

Writes are atomic: a temp file in the same directory, fsync, then rename (``contract.atomic``,
the one implementation; its hidden ``.<name>.*.tmp`` files are skipped by every reader).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

# The one atomic write (contract.atomic: hinr uses it too, without pyarrow); the bytes and
# text forms are re-exported here for the writers of the results directory.
from .atomic import atomic_file, write_bytes_atomic, write_text_atomic  # noqa: F401
from .metrics import PROBES

SCHEMA_VERSION = 1
VERSION_KEY = b"hinr_schema_version"
CONFIG_PREFIX = "config."
METRIC_PREFIX = "metric."
PRED_PREFIX = "pred."
# The key of a trial's first result (in each process it runs in) holding its resolved config,
# every TrainingConfig field as the trial used it: the writer's config.* columns come from it.
RESOLVED_CONFIG_KEY = "resolved_config"
# Keys of a trial's Tune config that are not TrainingConfig fields (a sweep's own values).
NOT_FIELDS = ("preset", "design_point")
TRIALS_FILE = "trials.parquet"
EPOCHS_DIR = "epochs"
SPEC_FILE = "sweep.yaml"
TUNE_DIR = "tune"
EXTENSIONS_DIR = "extensions"  # one Tune experiment per extension (sweeps/extend.py)
CONTINUED_DIR = "continued"  # one Tune experiment per continuation from the records (sweeps/life.py)
TB_DIR = "tb"
IMAGES_DIR = "images"
#: the example grids every completed trial writes (names of ``hinr.evaluate.Evaluation.examples``)
IMAGE_NAMES = ("reconstruction", "superres", "inpainting", "denoising")
IMAGE_SUFFIX = ".png"
PREDICTIONS_DIR = "predictions"
DRIVER_LOG = "driver.log"
REPORT_DIR = "report"  # written by ``python launch.py report`` (analysis), not by the sweep
#: everything a sweep (and its report) writes in its results directory: ``--overwrite`` may
#: delete these and nothing else (a file of any other name is the user's)
SWEEP_ENTRIES = (SPEC_FILE, TUNE_DIR, EXTENSIONS_DIR, CONTINUED_DIR, TRIALS_FILE, EPOCHS_DIR,
                 TB_DIR, IMAGES_DIR, PREDICTIONS_DIR, DRIVER_LOG, REPORT_DIR)

STATUSES = ("completed", "stopped", "diverged", "errored", "running", "pending")
# stopped: ended early by the scheduler (ASHA); running: still training, or interrupted.

TRIAL_CORE = pa.schema([
    ("trial_id", pa.string()),
    ("sweep", pa.string()),
    ("status", pa.string()),
    ("epochs_done", pa.int64()),
    ("wall_seconds", pa.float64()),
    ("node", pa.string()),
    ("device", pa.string()),
    ("error", pa.string()),
    ("retries", pa.int64()),
    ("diverged_epoch", pa.int64()),
    ("diverged_step", pa.int64()),
])

# trials.parquet columns a writer adds where it knows them; a reader checks their type where
# they are present and reads a file without them as before.
TRIAL_OPTIONAL = pa.schema([
    ("stage", pa.int64()),
    ("finished_at", pa.timestamp("ms", tz="UTC")),
])

PREDICTION_CORE = pa.schema([
    ("trial_id", pa.string()),
    ("image", pa.int64()),
    ("label", pa.int64()),
    ("psnr", pa.float64()),
])

EPOCH_CORE = pa.schema([
    ("trial_id", pa.string()),
    ("sweep", pa.string()),
    ("epoch", pa.int64()),
    ("wall_seconds", pa.float64()),
])


def metric_column(name: str) -> str:
    """The column of metric ``name`` (a name of ``contract.metrics``): ``metric.<name>``."""
    return METRIC_PREFIX + name


def metric_name(column: str) -> str | None:
    """The metric a ``metric.*`` column holds, None for any other column."""
    return column[len(METRIC_PREFIX):] if column.startswith(METRIC_PREFIX) else None


class SchemaError(ValueError):
    """A Parquet file that does not follow this contract; the message names the file."""


def _value_type(value) -> pa.DataType:
    if isinstance(value, bool):
        return pa.bool_()
    if isinstance(value, int):
        return pa.int64()
    if isinstance(value, float):
        return pa.float64()
    return pa.string()


def build_table(rows: list[dict], core: pa.Schema,
                metadata: dict[bytes, bytes] | None = None,
                optional: pa.Schema | None = None) -> pa.Table:
    """Rows (dicts) -> a table: core columns first with their fixed types, then the
    ``optional`` ones some row holds, then ``config.*`` typed from the values, then
    ``metric.*`` as float64, each group sorted by name.  ``metadata``: more key-value
    metadata beside the version (``sweep_contract``)."""
    config_cols = sorted({k for r in rows for k in r if k.startswith(CONFIG_PREFIX)})
    metric_cols = sorted({k for r in rows for k in r if k.startswith(METRIC_PREFIX)})
    fields = list(core)
    fields += [f for f in (optional or []) if any(r.get(f.name) is not None for r in rows)]
    for name in config_cols:
        sample = next(r[name] for r in rows if r.get(name) is not None) if any(
            r.get(name) is not None for r in rows) else ""
        fields.append(pa.field(name, _value_type(sample)))
    fields += [pa.field(name, pa.float64()) for name in metric_cols]
    schema = pa.schema(fields, metadata={**(metadata or {}),
                                         VERSION_KEY: str(SCHEMA_VERSION).encode()})
    columns = {f.name: [r.get(f.name) for r in rows] for f in fields}
    return pa.table(columns, schema=schema)


CONTRACT_KEYS = ("spec", "factors", "references", "seeds")  # under b"hinr_<key>"


def sweep_contract(doc: dict[str, Any]) -> dict[str, Any]:
    """What trials.parquet's columns mean, from a resolved sweep document (``SweepSpec.raw``,
    or sweep.yaml as read): {"spec", "factors", "references", "seeds"}, as in the module doc.

    The one derivation of factors and reference levels: the writer stores its result, and a
    reader of older files (no metadata) runs it on their sweep.yaml."""
    spec = {k: v for k, v in doc.items() if k != "provenance"}
    axes = spec.get("axes") if isinstance(spec.get("axes"), dict) else {}
    base = spec.get("base") if isinstance(spec.get("base"), dict) else {}
    factors: dict[str, Any] = {}
    references: dict[str, Any] = {}
    for key, value in axes.items():
        # hand-written files may name a field config.<field>, like its column
        name = str(key)[len(CONFIG_PREFIX):] if str(key).startswith(CONFIG_PREFIX) else str(key)
        if not isinstance(value, list):
            factors[name] = {"sampled": value}  # a distribution: no levels, no reference
            continue
        factors[name] = {"levels": value}
        # The reference is the setting the sweep varies away from: the base's value when the
        # sweep runs it; else the first listed level (how sweep files list a baseline).
        base_value = base.get(name, base.get(CONFIG_PREFIX + name))
        if base_value is not None and any(_same(base_value, v) for v in value):
            references[name] = {"value": base_value, "source": "base config"}
        elif value:
            references[name] = {"value": value[0], "source": "first axis value"}
    seeds = spec.get("seeds") if isinstance(spec.get("seeds"), list) else []
    if isinstance(spec.get("seeds"), dict) and isinstance(spec["seeds"].get("max"), int):
        seeds = list(range(spec["seeds"]["max"]))  # adaptive: the seeds a point may get
    return {"spec": spec, "factors": factors, "references": references, "seeds": seeds}


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def contract_metadata(doc: dict[str, Any]) -> dict[bytes, bytes]:
    """``sweep_contract(doc)`` as Parquet key-value metadata (JSON text per key)."""
    contract = sweep_contract(doc)
    # default=str: a value JSON cannot hold (never in a validated spec) is kept as its text
    return {f"hinr_{k}".encode(): json.dumps(contract[k], default=str).encode()
            for k in CONTRACT_KEYS}


def read_contract(table_or_schema) -> dict[str, Any] | None:
    """The contract stored in a trials.parquet schema, or None for a file written before it."""
    schema = getattr(table_or_schema, "schema", table_or_schema)
    meta = schema.metadata or {}
    if not all(f"hinr_{k}".encode() in meta for k in CONTRACT_KEYS):
        return None
    return {k: json.loads(meta[f"hinr_{k}".encode()]) for k in CONTRACT_KEYS}


def write_atomic(table: pa.Table, path: str | os.PathLike) -> None:
    """Write ``table`` to ``path`` so that readers see the old file or the new one, never half."""
    with atomic_file(path) as handle:
        pq.write_table(table, handle)


#: Ray Tune's trial ids (``1a2b3_00004``): letters, digits, ``_`` and ``-``, never a path.  An
#: id names files under epochs/, tb/ and images/, so one read from a file is checked first.
TRIAL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def is_trial_id(value: object) -> bool:
    return isinstance(value, str) and TRIAL_ID.fullmatch(value) is not None


def image_dir(root: str | os.PathLike, trial_id: str) -> Path:
    """The folder of trial ``trial_id``'s example grids in the results directory ``root``."""
    return Path(root) / IMAGES_DIR / trial_id


def image_path(root: str | os.PathLike, trial_id: str, name: str) -> Path:
    """Where trial ``trial_id`` of the results directory ``root`` keeps its ``name`` grid."""
    return image_dir(root, trial_id) / f"{name}{IMAGE_SUFFIX}"


def predictions_path(root: str | os.PathLike, trial_id: str) -> Path:
    """Where trial ``trial_id`` of the results directory ``root`` keeps its per-image test
    outputs: ``predictions/<trial_id>.parquet`` (the file's stem is the trial id)."""
    return Path(root) / PREDICTIONS_DIR / f"{trial_id}.parquet"


def prediction_column(probe: str) -> str:
    """The column of probe ``probe``'s predictions (a key of ``contract.metrics.PROBES``)."""
    return PRED_PREFIX + probe


def predictions_table(trial_id: str, outputs: dict[str, Any]) -> pa.Table:
    """A trial's per-image test outputs (``hinr.evaluate.Evaluation.outputs``: ``label``,
    ``psnr`` and one array per probe, each of length N, as tensors or anything numpy reads)
    as the predictions file's table, columns in the contract's order."""
    unknown = sorted(set(outputs) - {"label", "psnr"} - set(PROBES))
    if unknown:
        raise SchemaError(f"per-image outputs {', '.join(unknown)} are not probes of "
                          f"contract.metrics.PROBES ({', '.join(PROBES)})")

    def array(name: str, dtype) -> np.ndarray:
        value = outputs[name]
        value = value.numpy() if hasattr(value, "numpy") else value
        return np.asarray(value).astype(dtype)

    n = len(outputs["label"])
    columns = {"trial_id": pa.array([trial_id] * n, pa.string()),
               "image": pa.array(np.arange(n, dtype=np.int64)),
               "label": pa.array(array("label", np.int64)),
               # null: a trial that reconstructs nothing (variant random_encoder) has no PSNR
               "psnr": pa.array(array("psnr", np.float64)) if "psnr" in outputs
               else pa.nulls(n, pa.float64())}
    fields = list(PREDICTION_CORE)
    for probe in PROBES:
        if probe in outputs:
            columns[prediction_column(probe)] = pa.array(array(probe, np.int64))
            fields.append(pa.field(prediction_column(probe), pa.int64()))
    lengths = {name: len(col) for name, col in columns.items()}
    if len(set(lengths.values())) != 1:
        raise SchemaError(f"per-image outputs of trial {trial_id} differ in length: {lengths}")
    schema = pa.schema(fields, metadata={VERSION_KEY: str(SCHEMA_VERSION).encode()})
    return pa.table(columns, schema=schema)


def read_predictions(path: str | os.PathLike) -> pa.Table:
    """One predictions file, its version and core columns checked (SchemaError otherwise)."""
    table = pq.read_table(path)
    check_version(table, path)
    missing = [f.name for f in PREDICTION_CORE if f.name not in table.column_names]
    if missing:
        raise SchemaError(f"{path}: no column {missing[0]}; a predictions file has "
                          f"{', '.join(PREDICTION_CORE.names)} and pred.<probe> columns")
    return table


def check_version(table_or_schema, path: str | os.PathLike) -> None:
    schema = getattr(table_or_schema, "schema", table_or_schema)
    meta = schema.metadata or {}
    version = meta.get(VERSION_KEY)
    if version is None:
        raise SchemaError(f"{path}: no {VERSION_KEY.decode()} in the Parquet metadata; "
                          f"not a hinr-sweeps results file")
    if version.decode() != str(SCHEMA_VERSION):
        raise SchemaError(f"{path}: schema version {version.decode()} is not supported "
                          f"(this version reads {SCHEMA_VERSION})")
