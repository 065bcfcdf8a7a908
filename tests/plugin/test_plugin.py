"""The plugin as a user's project sees it: loaded through its entry point only."""
import pytest

USER_TEST = """
def test_uses_directory(directory, test_name, executor):
    (directory / "f").write_text("x")
    assert directory.is_dir()
    assert test_name == "test_uses_directory"
    assert executor.submit(lambda: 2 + 2).result() == 4
"""


def run(pytester, *args):
    # A subprocess, so the plugin comes from the installed entry point, not from this repo.
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def test_directory_fixture_in_unrelated_project(pytester, tmp_path):
    pytester.makepyfile(USER_TEST)
    base = tmp_path / "base"
    result = run(pytester, f"--lnh-test-dir={base}")
    result.assert_outcomes(passed=1)
    assert list(base.iterdir()) == [], "a passing test's directory must be removed"


def test_failed_test_keeps_directory_and_says_where(pytester, tmp_path):
    pytester.makepyfile("""
        import pytest
        @pytest.mark.parametrize("impl", ["cln"])
        def test_fails(directory, impl):
            (directory / "evidence").write_text("x")
            assert False
    """)
    base = tmp_path / "base"
    result = run(pytester, f"--lnh-test-dir={base}")
    result.assert_outcomes(failed=1)
    kept = list(base.iterdir())
    assert [path.name for path in kept] == ["test_fails[cln]"]
    assert (kept[0] / "evidence").exists()
    assert f"test directory kept: {kept[0]}" in result.stdout.str()


def test_keep_dirs_option_keeps_passing_dirs(pytester, tmp_path):
    pytester.makepyfile(USER_TEST)
    base = tmp_path / "base"
    run(pytester, f"--lnh-test-dir={base}", "--lnh-keep-dirs").assert_outcomes(passed=1)
    assert len(list(base.iterdir())) == 1


def test_env_equivalent_of_test_dir(pytester, tmp_path, monkeypatch):
    pytester.makepyfile(USER_TEST)
    base = tmp_path / "from-env"
    monkeypatch.setenv("LNH_TEST_DIR", str(base))
    monkeypatch.setenv("LNH_KEEP_DIRS", "1")
    run(pytester).assert_outcomes(passed=1)
    assert len(list(base.iterdir())) == 1


def test_teardown_failures_are_reported_together(pytester, tmp_path):
    pytester.makepyfile("""
        def test_checks(teardown_checks):
            def broken_one():
                raise RuntimeError("node l1 crashed")
            def broken_two():
                raise RuntimeError("node l2 logged BROKEN")
            teardown_checks.add("l1 alive", broken_one)
            teardown_checks.add("l2 log clean", broken_two)
            teardown_checks.add("l3 fine", lambda: None)
    """)
    result = run(pytester, f"--lnh-test-dir={tmp_path / 'base'}")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*2 teardown check(s) failed*", "*l1 alive*node l1 crashed*",
                                 "*l2 log clean*node l2 logged BROKEN*"])


@pytest.mark.parametrize("args, complaint", [
    (["--lnh-chain=bitcoin-core"], "--lnh-chain=bitcoin-core: unknown chain backend 'bitcoin-core'; "
                                   "valid: auto, bitcoind, docker, embedded"),
    (["--lnh-impl=lnd9"], "--lnh-impl/LNH_IMPL='lnd9': unknown implementation; registered: builtin, cln"),
    (["--lnh-timeout=-1"], "--lnh-timeout='-1': must be positive"),
    (["--lnh-timeout=abc"], "--lnh-timeout='abc'*"),
])
def test_bad_option_values_are_named(pytester, args, complaint):
    pytester.makepyfile(USER_TEST)
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{complaint}*"])


def test_bad_env_value_is_named(pytester, monkeypatch):
    pytester.makepyfile(USER_TEST)
    monkeypatch.setenv("LNH_KEEP_DIRS", "maybe")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*LNH_KEEP_DIRS='maybe'*"])


def test_options_are_documented_in_help(pytester):
    result = run(pytester, "--help")
    result.stdout.fnmatch_lines(["*lnharness*", "*--lnh-test-dir*LNH_TEST_DIR*", "*--lnh-timeout*"])
