"""contract.atomic, the one atomic write: whole files only, and the permissions a plain open()
gives."""

import os
import stat

import pytest

from contract.atomic import write_bytes_atomic, write_text_atomic


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_file_gets_the_mode_open_would_give(tmp_path):
    # Results directories are shared between researchers: a 0600 trials.parquet (mkstemp's
    # mode) is unreadable to everyone but the user who ran the sweep.
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    write_text_atomic("y", tmp_path / "sweep.yaml")
    write_bytes_atomic(b"z", tmp_path / "sub" / "trials.parquet")
    assert _mode(tmp_path / "sweep.yaml") == _mode(plain)
    assert _mode(tmp_path / "sub" / "trials.parquet") == _mode(plain)


def test_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    from contract.atomic import atomic_file

    target = tmp_path / "trials.parquet"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as handle:
            handle.write(b"half")
            raise RuntimeError("disk gone")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trials.parquet"]
