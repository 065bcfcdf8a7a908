import os
import stat
import tempfile

import pytest
from lnharness.dirs import base_dir, make_test_dir, safe_name
from lnharness.errors import UnsafeDirectoryError


def test_name_keeps_parametrize_id():
    assert safe_name("test_pay[cln-2]") == "test_pay[cln-2]"
    assert "/" not in safe_name("a/b c")


def test_dirs_are_unique(tmp_path):
    first = make_test_dir("test_x[1]", tmp_path)
    second = make_test_dir("test_x[1]", tmp_path)
    assert first != second and first.is_dir() and second.is_dir()
    assert first.name.startswith("test_x[1]")


def test_base_dir_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("LNH_TEST_DIR", str(tmp_path / "base"))
    assert base_dir() == tmp_path / "base"
    assert base_dir().is_dir()


def test_dirs_the_harness_makes_are_0700(tmp_path, monkeypatch):
    monkeypatch.setenv("LNH_TEST_DIR", str(tmp_path / "base"))
    assert stat.S_IMODE(base_dir().stat().st_mode) == 0o700
    made = make_test_dir("test_x")
    assert made.parent == tmp_path / "base"
    assert stat.S_IMODE(made.stat().st_mode) == 0o700
    assert stat.S_IMODE(make_test_dir("test_y", tmp_path / "other").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "other").stat().st_mode) == 0o700


def test_default_base_dir_is_per_user_and_tightened_to_0700(tmp_path, monkeypatch):
    monkeypatch.delenv("LNH_TEST_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    default = tmp_path / f"lnharness-{os.getuid()}"
    default.mkdir(mode=0o755)
    os.chmod(default, 0o755)
    assert base_dir() == default
    assert stat.S_IMODE(default.stat().st_mode) == 0o700


def test_default_base_dir_that_is_a_link_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("LNH_TEST_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / f"lnharness-{os.getuid()}").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafeDirectoryError, match="symbolic link.*LNH_TEST_DIR"):
        base_dir()


@pytest.mark.skipif(os.getuid() != 0, reason="making a directory owned by another user needs root")
@pytest.mark.parametrize("configured", [True, False])
def test_base_dir_owned_by_another_user_is_refused(tmp_path, monkeypatch, configured):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    path = tmp_path / "theirs" if configured else tmp_path / f"lnharness-{os.getuid()}"
    path.mkdir(mode=0o777)
    os.chown(path, 65534, 65534)
    if configured:
        monkeypatch.setenv("LNH_TEST_DIR", str(path))
    else:
        monkeypatch.delenv("LNH_TEST_DIR", raising=False)
    with pytest.raises(UnsafeDirectoryError) as err:
        make_test_dir("test_x")
    assert str(path) in str(err.value) and "uid 65534" in str(err.value)
    assert "LNH_TEST_DIR" in str(err.value)
    assert list(path.iterdir()) == []
    with pytest.raises(UnsafeDirectoryError):
        make_test_dir("test_x", path)
