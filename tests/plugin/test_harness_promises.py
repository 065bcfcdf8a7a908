"""Promises of the harness that a user relies on without seeing them, guarded end to end."""
from __future__ import annotations

from tests.plugin.test_plugin import run

DIES_MID_TEST = """
import os
import signal

from lnharness.wait import wait_for


def test_node_dies(node_factory):
    node = node_factory.get_node()
    os.kill(node.daemon.pid, signal.SIGKILL)   # behind the harness's back: a crash
    wait_for(lambda: not node.daemon.is_running(), what="the node to be gone")
"""


def test_a_node_that_dies_during_a_test_fails_it_with_its_log_tail(pytester, tmp_path):
    pytester.makepyfile(DIES_MID_TEST)
    result = run(pytester, f"--lnh-test-dir={tmp_path / 'base'}", "--lnh-impl=builtin")
    result.assert_outcomes(passed=1, errors=1)  # the body passed; teardown fails the test
    result.stdout.fnmatch_lines([
        "*ERROR at teardown of test_node_dies*",
        "*l1 (builtin) died during the test with code -9; log */l1/log:*",
        "*Server started with public key*",   # the node's log tail is in the report
    ])
    assert "test directory kept" in result.stdout.str()
