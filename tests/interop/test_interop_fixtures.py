"""`impl_pair`, `impl_triple` and `@pytest.mark.interop` as a user's project sees them."""
from __future__ import annotations

import pytest
from lnharness.dirs import tool_dir
from lnharness.errors import UnavailableError
from lnharness.network import implementation

#: where `lnharness install` put lnd, read before pytester points HOME at a fresh directory
BIN_DIR = str(tool_dir())
NOT_HERE = {"LNH_LIGHTNINGD": "/nonexistent/lightningd", "LNH_LND": "/nonexistent/lnd"}


def run(pytester, monkeypatch, *args, env=NOT_HERE):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # a subprocess, so the plugin comes from the installed entry point
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v", *args)


def test_pairs_and_triples_of_the_available_implementations(pytester, monkeypatch):
    pytester.makepyfile("""
        def test_pair(impl_pair):
            assert impl_pair == ("builtin", "builtin")

        def test_triple(impl_triple):
            assert impl_triple == ("builtin", "builtin", "builtin")

        def test_plain():
            pass
    """)
    result = run(pytester, monkeypatch)
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*test_pair?builtin-builtin? PASSED*",
                                 "*test_triple?builtin-builtin-builtin? PASSED*"])
    result.stdout.fnmatch_lines(["interop: cln skipped: /nonexistent/lightningd (LNH_LIGHTNINGD) *",
                                 "interop: lnd skipped: *"])
    # tests on these fixtures carry the marker by themselves
    run(pytester, monkeypatch, "-m", "interop").assert_outcomes(passed=2, deselected=1)


def test_the_marker_narrows_the_implementations(pytester, monkeypatch):
    pytester.makepyfile("""
        import pytest

        @pytest.mark.interop("cln")
        def test_only_cln(impl_pair):
            raise AssertionError("cln is not available: never runs")

        @pytest.mark.interop("builtin", "cln")
        def test_builtin_and_cln(impl_pair):
            assert impl_pair == ("builtin", "builtin")
    """)
    result = run(pytester, monkeypatch, "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*test_only_cln?none? SKIPPED*",
                                 "*test_builtin_and_cln?builtin-builtin? PASSED*",
                                 "SKIPPED*no implementation available for an interop test "
                                 "(cln: /nonexistent/lightningd (LNH_LIGHTNINGD) is not executable)"])


@pytest.mark.parametrize("source, message", [
    ("@pytest.mark.interop('eclair')\ndef test_x(impl_pair): pass",
     "unknown implementation(s) ['eclair'] in @pytest.mark.interop"),
    ("def test_x(impl_pair, impl_triple): pass", "use impl_pair or impl_triple, not both"),
    ("@pytest.mark.interop(impls=['builtin'])\ndef test_x(impl_pair): pass", "with names only"),
])
def test_misuse_is_a_usage_error(pytester, monkeypatch, source, message):
    pytester.makepyfile("import pytest\n" + source)
    result = run(pytester, monkeypatch)
    assert result.ret != 0
    assert message in result.stdout.str() + result.stderr.str()


def test_every_available_implementation_joins(pytester, monkeypatch):
    """With lnd found (installed here by `lnharness install lnd`), the pairs include it."""
    monkeypatch.setenv("LNH_BIN_DIR", BIN_DIR)
    try:
        implementation("lnd")
    except UnavailableError as exc:
        pytest.skip(str(exc))
    pytester.makepyfile("def test_pair(impl_pair): pass")
    result = run(pytester, monkeypatch, "--collect-only",
                 env={"LNH_LIGHTNINGD": "/nonexistent/lightningd"})
    result.stdout.fnmatch_lines(["*<Function test_pair?builtin-builtin?>",
                                 "*<Function test_pair?builtin-lnd?>",
                                 "*<Function test_pair?lnd-builtin?>",
                                 "*<Function test_pair?lnd-lnd?>"])
