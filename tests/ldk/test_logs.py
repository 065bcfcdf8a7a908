"""The ldk daemon's benign log lines: exactly the lines listed, not their neighbours."""
from __future__ import annotations

from lnharness.node_impl.ldk.logs import is_benign

PREFIX = "2026-12-06T00:29:06.487Z ERROR lightning::ln::channelmanager: Got non-closing error: "


def test_core_lightnings_peer_storage_and_early_announcement_signatures_are_benign():
    assert is_benign(PREFIX + "Ignoring peer_storage message, as peer storage is currently "
                     "supported only for peers with an active funded channel.")
    assert is_benign(PREFIX + "Got an announcement_signatures before we were ready for it")


def test_other_non_closing_errors_still_fail_the_test():
    assert not is_benign(PREFIX + "Got an update_add_htlc before we were ready for it")
    assert not is_benign(PREFIX + "Ignoring peer_storage message, as the blob is too large")
