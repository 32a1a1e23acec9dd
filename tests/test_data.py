"""Datasets: offline mnist-5k, the CIFAR-10 fixture through torchvision's reader, missing data,
and the coordinate grid."""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from hinr import DatasetNotFound, preset
from hinr import data as data_mod
from hinr.data import grid

from .fixtures import CIFAR10_DIR, CIFAR10_LABEL_NAMES


def test_mnist_5k_split_sizes_range_and_shape(mnist5k):
    d = mnist5k
    assert d.name == "mnist-5k"
    assert d.train_x.shape == (4000, 1, 28, 28)
    assert d.test_x.shape == (1000, 1, 28, 28)
    assert d.train_y.shape == (4000,) and d.test_y.shape == (1000,)
    assert d.train_x.dtype == torch.float32 and d.train_y.dtype == torch.int64
    for x in (d.train_x, d.test_x):
        assert x.min().item() == -1.0 and x.max().item() == 1.0  # 0 -> -1, 255 -> +1
    assert d.channels == 1 and d.size == (28, 28) and d.num_classes == 10


def test_mnist_5k_is_stratified_80_20(mnist5k):
    train_counts = torch.bincount(mnist5k.train_y, minlength=10)
    test_counts = torch.bincount(mnist5k.test_y, minlength=10)
    assert len(train_counts) == 10 and len(test_counts) == 10
    assert (train_counts > 0).all() and (test_counts > 0).all()
    for tr, te in zip(train_counts.tolist(), test_counts.tolist()):
        assert tr / (tr + te) == pytest.approx(0.8, abs=0.01)


def test_mnist_5k_splits_are_disjoint_and_shuffled(mnist5k):
    def digests(x):
        return {hashlib.md5(img.numpy().tobytes()).hexdigest() for img in x}
    train, test = digests(mnist5k.train_x), digests(mnist5k.test_x)
    assert len(train) == 4000 and len(test) == 1000
    assert not train & test
    # shuffled across classes: the tiny preset's first 256 images hold every digit
    assert len(torch.unique(mnist5k.train_y[:256])) == 10
    assert len(torch.unique(mnist5k.test_y[:128])) == 10


def test_mnist_5k_idx_files_read_by_torchvision(mnist5k, hinr_data):
    from torchvision.datasets import MNIST

    raw = Path(os.environ["HINR_DATA"]) / "mnist-5k" / "MNIST" / "raw"
    assert raw == hinr_data / "mnist-5k" / "MNIST" / "raw"
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        assert (raw / name).is_file()
    assert (raw / "train-images-idx3-ubyte").stat().st_size == 16 + 4000 * 28 * 28
    train = MNIST(str(hinr_data / "mnist-5k"), train=True, download=False)
    test = MNIST(str(hinr_data / "mnist-5k"), train=False, download=False)
    assert len(train) == 4000 and len(test) == 1000
    assert train.data.dtype == torch.uint8
    torch.testing.assert_close(train.data.float() / 127.5 - 1, mnist5k.train_x[:, 0])
    torch.testing.assert_close(test.targets, mnist5k.test_y)
    img, label = test[0]  # the ordinary per-item path works too
    assert img.size == (28, 28) and label == int(mnist5k.test_y[0])


def test_subsets_take_the_first_images(mnist5k):
    d = data_mod.load(preset("tiny"))  # 256 / 128
    assert d.train_x.shape == (256, 1, 28, 28) and d.test_x.shape == (128, 1, 28, 28)
    assert torch.equal(d.train_x, mnist5k.train_x[:256])
    assert torch.equal(d.test_y, mnist5k.test_y[:128])


def test_write_mnist_5k_is_idempotent(hinr_data, mnist5k):
    raw = hinr_data / "mnist-5k" / "MNIST" / "raw"
    before = {p.name: p.stat().st_mtime_ns for p in raw.iterdir()}
    data_mod.write_mnist_5k(hinr_data / "mnist-5k")
    assert {p.name: p.stat().st_mtime_ns for p in raw.iterdir()} == before


def test_write_idx_header(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    data_mod.write_idx(tmp_path / "x", arr)
    raw = (tmp_path / "x").read_bytes()
    assert raw[:4] == bytes([0, 0, 0x08, 3])
    assert raw[4:16] == (2).to_bytes(4, "big") + (3).to_bytes(4, "big") + (4).to_bytes(4, "big")
    assert raw[16:] == arr.tobytes()


# --------------------------------------------------------------------------------------
# CIFAR-10 fixture

def test_cifar10_fixture_layout(cifar10_root):
    folder = cifar10_root / CIFAR10_DIR
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch", "batches.meta"])
    # like the real (Python 2) files: bytes keys when read with encoding="bytes" ...
    with open(folder / "data_batch_1", "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    assert batch[b"data"].shape == (40, 3072) and batch[b"data"].dtype == np.uint8
    assert isinstance(batch[b"labels"], list) and len(batch[b"labels"]) == 40
    # ... and str keys with latin1, which is what torchvision uses
    with open(folder / "batches.meta", "rb") as f:
        meta = pickle.load(f, encoding="latin1")
    assert meta["label_names"] == CIFAR10_LABEL_NAMES


def test_cifar10_fixture_rows_are_channel_first(cifar10_fixture):
    with open(cifar10_fixture.root / CIFAR10_DIR / "test_batch", "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    row = batch[b"data"][0]
    img = cifar10_fixture.test_images[0]  # (32, 32, 3) HWC
    assert np.array_equal(row[:1024].reshape(32, 32), img[..., 0])  # red plane first
    assert np.array_equal(row[1024:2048].reshape(32, 32), img[..., 1])
    assert np.array_equal(row[2048:].reshape(32, 32), img[..., 2])
    assert batch[b"labels"][0] == cifar10_fixture.test_labels[0]


def test_cifar10_fixture_loads_through_hinr(cifar10_fixture):
    cfg = preset("tiny", dataset="cifar10", data_root=str(cifar10_fixture.root),
                 verify_data=False, train_subset=0, test_subset=0)
    d = data_mod.load(cfg)
    assert d.name == "cifar10"
    assert d.train_x.shape == (200, 3, 32, 32) and d.test_x.shape == (100, 3, 32, 32)
    assert d.channels == 3 and d.size == (32, 32)
    for x, images, y, labels in ((d.train_x, cifar10_fixture.train_images, d.train_y,
                                  cifar10_fixture.train_labels),
                                 (d.test_x, cifar10_fixture.test_images, d.test_y,
                                  cifar10_fixture.test_labels)):
        expected = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1
        torch.testing.assert_close(x, expected)
        # and the exact uint8 values come back
        assert torch.equal(torch.round((x + 1) * 127.5).to(torch.uint8),
                           torch.from_numpy(images).permute(0, 3, 1, 2))
        assert torch.equal(y, torch.from_numpy(labels))
    # the images are not all alike: the classes differ on average
    means = torch.stack([d.train_x[d.train_y == c].mean(0) for c in range(10)])
    assert torch.cdist(means.flatten(1), means.flatten(1)).triu(1).max() > 1.0


def test_cifar10_fixture_subset(cifar10_root):
    cfg = preset("tiny", dataset="cifar10", data_root=str(cifar10_root), verify_data=False,
                 train_subset=50, test_subset=20)
    d = data_mod.load(cfg)
    assert d.train_x.shape == (50, 3, 32, 32) and d.test_x.shape == (20, 3, 32, 32)


def test_cifar10_fixture_fails_md5_verification(cifar10_root):
    cfg = preset("tiny", dataset="cifar10", data_root=str(cifar10_root), verify_data=True)
    with pytest.raises(DatasetNotFound) as err:
        data_mod.load(cfg)
    assert str(cifar10_root) in str(err.value)


# --------------------------------------------------------------------------------------
# Missing data

@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_missing_dataset_raises_with_path_and_remedy(tmp_path, dataset):
    empty = tmp_path / "empty_root"
    empty.mkdir()
    cfg = preset("tiny", dataset=dataset, data_root=str(empty), download=False)
    with pytest.raises(DatasetNotFound) as err:
        data_mod.load(cfg)
    msg = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    assert str(empty) in msg
    assert dataset in msg
    assert "download" in msg and "true" in msg.lower()
    assert list(empty.iterdir()) == []  # nothing was downloaded or created


def test_data_root_resolution(tmp_path, monkeypatch):
    assert data_mod.data_root(str(tmp_path)) == tmp_path
    monkeypatch.setenv("HINR_DATA", str(tmp_path / "env"))
    assert data_mod.data_root("") == tmp_path / "env"
    monkeypatch.delenv("HINR_DATA")
    assert data_mod.data_root("") == Path.home() / ".cache" / "hinr"


@pytest.mark.parametrize("bad", ["/tmp/a\nb", "/tmp/a\rb", "/tmp/\x1b[31mred", "/tmp/x\x7f"])
def test_a_data_root_from_the_environment_with_a_control_character_is_one_line(
        bad, tmp_path, monkeypatch):
    """Issue 45: a path taken from the environment is refused like a results path: one line
    naming HINR_DATA, and the sweep stops before Ray starts or anything is written."""
    from hinr.fetch import FetchError

    monkeypatch.setenv("HINR_DATA", bad)
    with pytest.raises(FetchError, match="^HINR_DATA: .* control character"):
        data_mod.data_root("")
    assert data_mod.data_root(str(tmp_path)) == tmp_path  # a config's data_root is not the env's


def test_a_sweep_under_a_bad_hinr_data_is_refused_before_anything(tmp_path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "HINR_DATA": str(tmp_path / "a\nb")}
    proc = subprocess.run([sys.executable, "launch.py", "run", "sweeps/smoke.yaml", "--results",
                           str(tmp_path / "r")], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "HINR_DATA" in lines[0] and "control character" in lines[0], lines
    # nothing but the driver lock beside it (sweeps.guard: every run takes it first)
    assert [p.name for p in tmp_path.iterdir()] in ([], [".r.lock"])


# --------------------------------------------------------------------------------------

def test_grid_shape_and_corners():
    h, w = 3, 5
    g = grid(h, w)
    assert g.shape == (h * w, 2)
    # row-major (y, x): index i*w + j holds (y_i, x_j)
    assert g[0].tolist() == [-1.0, -1.0]  # top-left
    assert g[w - 1].tolist() == [-1.0, 1.0]  # top-right
    assert g[(h - 1) * w].tolist() == [1.0, -1.0]  # bottom-left
    assert g[-1].tolist() == [1.0, 1.0]  # bottom-right
    assert g[w + 2].tolist() == pytest.approx([0.0, 0.0])  # centre of a 3x5 grid
    img = g.reshape(h, w, 2)
    assert (img[:, :, 0].diff(dim=0) > 0).all() and (img[:, :, 0].diff(dim=1) == 0).all()
    assert (img[:, :, 1].diff(dim=1) > 0).all() and (img[:, :, 1].diff(dim=0) == 0).all()
    assert grid(28, 28).shape == (784, 2)
