from lnharness.dirs import base_dir, make_test_dir, safe_name


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
