"""Test data helpers shared by the hinr and sweeps tests (``from .fixtures import ...``;
tests/ is a package).

``write_cifar10_fixture`` writes a small CIFAR-10 in the exact file layout of the official
python distribution, so that ``torchvision.datasets.CIFAR10`` (and hinr with
``dataset='cifar10', verify_data=False``) reads it unchanged:

    <root>/cifar-10-batches-py/data_batch_1 .. data_batch_5, test_batch, batches.meta

The official files are Python 2 pickles: their dict keys are Python 2 ``str`` objects, which
load as ``b"data"`` / ``b"labels"`` with ``encoding="bytes"`` and as ``"data"`` / ``"labels"``
with ``encoding="latin1"`` (what torchvision uses; it then reads ``meta["key"] ==
"label_names"`` from ``batches.meta``).  The writer below emits the same Python-2 string
opcodes, so both readings work as they do on the real files.  ``b"data"`` is a (N, 3072)
uint8 array, each row one image as 1024 red, then 1024 green, then 1024 blue values, each
plane row-major; ``b"labels"`` is a list of ints 0-9.

The images are random but structured: each class has its own colour and stripe frequency,
plus noise, so that a classifier can learn something from them.
"""

from __future__ import annotations

import io
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CIFAR10_LABEL_NAMES = ["airplane", "automobile", "bird", "cat", "deer",
                       "dog", "frog", "horse", "ship", "truck"]
CIFAR10_DIR = "cifar-10-batches-py"


@dataclass
class Cifar10Fixture:
    """What was written: images (N, 32, 32, 3) uint8 HWC, as torchvision's ``.data``; labels (N,)."""
    root: Path
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


class _Py2Str(bytes):
    """A byte string pickled as a Python 2 ``str`` (opcodes SHORT_BINSTRING / BINSTRING)."""


class _Py2Pickler(pickle._Pickler):  # the pure-Python pickler: its dispatch table is extensible
    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2str(self, obj: _Py2Str) -> None:
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + bytes(obj))
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + bytes(obj))
        self.memoize(obj)

    dispatch[_Py2Str] = save_py2str


def _py2_pickle(obj: object) -> bytes:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def _py2_dict(d: dict[str, object]) -> dict[_Py2Str, object]:
    return {_Py2Str(k.encode("latin1")): v for k, v in d.items()}


def make_cifar10_images(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` structured images (n, 32, 32, 3) uint8 HWC and their labels (n,), all classes used."""
    labels = np.arange(n) % 10
    labels = rng.permutation(labels)
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float64) / 31.0  # (32, 32) each
    colours = np.random.default_rng(1234).uniform(40, 215, size=(10, 3))  # fixed per class
    images = np.empty((n, 32, 32, 3), dtype=np.uint8)
    for i, label in enumerate(labels):
        freq = 1 + label % 5
        horizontal = label < 5
        stripes = np.sin(2 * np.pi * freq * (yy if horizontal else xx))  # (32, 32)
        img = colours[label][None, None, :] + 35.0 * stripes[..., None]
        img = img + rng.normal(0.0, 12.0, size=img.shape)
        images[i] = np.clip(np.round(img), 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64)


def write_cifar10_fixture(root: str | Path, n_train: int = 200, n_test: int = 100,
                          seed: int = 0) -> Cifar10Fixture:
    """Write ``n_train`` / ``n_test`` images as CIFAR-10 python batches under ``root``.

    The training images are spread over the five ``data_batch_*`` files in order, so reading
    them back in file order gives the images in the order returned here."""
    root = Path(root)
    folder = root / CIFAR10_DIR
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    train_x, train_y = make_cifar10_images(n_train, rng)
    test_x, test_y = make_cifar10_images(n_test, rng)

    def batch(label: str, x: np.ndarray, y: np.ndarray, names: list[str]) -> bytes:
        # (n, 32, 32, 3) HWC -> (n, 3, 32, 32) CHW -> (n, 3072): the official row layout
        data = np.ascontiguousarray(x.transpose(0, 3, 1, 2).reshape(len(x), 3072), dtype=np.uint8)
        return _py2_pickle(_py2_dict({
            "batch_label": _Py2Str(label.encode()),
            "labels": [int(v) for v in y],
            "data": data,
            "filenames": [_Py2Str(n.encode()) for n in names]}))

    parts = np.array_split(np.arange(n_train), 5)
    for k, idx in enumerate(parts, start=1):
        names = [f"fixture_train_{i:05d}.png" for i in idx]
        (folder / f"data_batch_{k}").write_bytes(
            batch(f"training batch {k} of 5", train_x[idx], train_y[idx], names))
    names = [f"fixture_test_{i:05d}.png" for i in range(n_test)]
    (folder / "test_batch").write_bytes(batch("testing batch 1 of 1", test_x, test_y, names))
    (folder / "batches.meta").write_bytes(_py2_pickle(_py2_dict({
        "label_names": [_Py2Str(n.encode()) for n in CIFAR10_LABEL_NAMES],
        "num_cases_per_batch": len(parts[0]),
        "num_vis": 3072})))
    return Cifar10Fixture(root, train_x, train_y, test_x, test_y)
