"""BOLT 9 feature vectors and the BOLT 1 `init` feature checks."""

from __future__ import annotations

import pytest
from lnharness.node_impl.builtin.wire.features import (
    CHANNEL_TYPE_ANCHORS,
    CHANNEL_TYPE_STATIC_REMOTEKEY,
    DEFAULT_KNOWN_FEATURES,
    DEFAULT_NODE_FEATURES,
    Feature,
    FeatureError,
    Features,
    check_remote_features,
    is_negotiated,
    node_features,
)

# The init features Core Lightning v26.06 sends (INTEROP-CLN.md).
CLN_FEATURES = Features.from_bits(
    0, 8, 12, 14, 44, 5, 7, 11, 17, 19, 23, 25, 27, 35, 39, 43, 47, 51, 63
)


def test_bytes_are_big_endian_from_bit_zero_and_minimal() -> None:
    assert Features.from_bits(0).to_bytes() == b"\x01"
    assert Features.from_bits(8).to_bytes() == b"\x01\x00"
    assert Features.from_bits(9, 1).to_bytes() == b"\x02\x02"
    assert Features().to_bytes() == b""
    assert Features.from_bytes(b"\x00\x00\x02\x02") == Features.from_bits(1, 9)
    assert Features.from_bytes(b"") == Features()


def test_default_node_features() -> None:
    assert sorted(DEFAULT_NODE_FEATURES.bits) == [0, 7, 8, 12, 14, 17, 23, 44, 55]
    assert DEFAULT_NODE_FEATURES.to_bytes().hex() == "80100000825181"
    for feature in (
        Feature.OPTION_DATA_LOSS_PROTECT,
        Feature.VAR_ONION_OPTIN,
        Feature.OPTION_STATIC_REMOTEKEY,
        Feature.PAYMENT_SECRET,
        Feature.OPTION_CHANNEL_TYPE,
    ):
        assert DEFAULT_NODE_FEATURES.requires(feature)
        assert feature in DEFAULT_KNOWN_FEATURES
    assert DEFAULT_NODE_FEATURES.supports(Feature.GOSSIP_QUERIES)
    assert not DEFAULT_NODE_FEATURES.requires(Feature.GOSSIP_QUERIES)
    # multi-part payments are received (optional: a payer may still send one part)
    assert DEFAULT_NODE_FEATURES.supports(Feature.BASIC_MPP)
    assert not DEFAULT_NODE_FEATURES.requires(Feature.BASIC_MPP)
    assert Feature.BASIC_MPP in DEFAULT_KNOWN_FEATURES
    # anchor channels are offered (optional: a peer without them gets static_remotekey)
    assert DEFAULT_NODE_FEATURES.supports(Feature.OPTION_ANCHORS)
    assert not DEFAULT_NODE_FEATURES.requires(Feature.OPTION_ANCHORS)
    assert Feature.OPTION_ANCHORS in DEFAULT_KNOWN_FEATURES
    assert not node_features(anchors=False).supports(Feature.OPTION_ANCHORS)
    assert node_features(anchors=False).with_bits(23) == DEFAULT_NODE_FEATURES
    # We must never offer dual funding before implementing it.
    assert not DEFAULT_NODE_FEATURES.supports(Feature.OPTION_DUAL_FUND)
    check_remote_features(DEFAULT_NODE_FEATURES, DEFAULT_KNOWN_FEATURES)


def test_core_lightning_features_are_accepted() -> None:
    check_remote_features(CLN_FEATURES, DEFAULT_KNOWN_FEATURES)


def test_global_and_local_init_features_are_combined() -> None:
    combined = Features.from_init(b"\x01", b"\x01\x00")
    assert combined == Features.from_bits(0, 8)


def test_unknown_even_bit_is_refused_with_its_name() -> None:
    with pytest.raises(FeatureError, match=r"bit 28 \(option_dual_fund\)"):
        check_remote_features(DEFAULT_NODE_FEATURES.with_bits(28), DEFAULT_KNOWN_FEATURES)
    check_remote_features(DEFAULT_NODE_FEATURES.with_bits(22), DEFAULT_KNOWN_FEATURES)  # anchors: known
    with pytest.raises(FeatureError, match=r"bit 100$"):
        check_remote_features(Features.from_bits(100), DEFAULT_KNOWN_FEATURES)


def test_unknown_odd_bits_are_ignored() -> None:
    check_remote_features(Features.from_bits(101, 23, 29), DEFAULT_KNOWN_FEATURES)


@pytest.mark.parametrize(
    ("bits", "message"),
    [
        ((17,), "basic_mpp without its dependency payment_secret"),
        ((51, 27), "option_zeroconf without its dependency option_scid_alias"),
        ((61,), "option_simple_close without its dependency option_shutdown_anysegwit"),
    ],
)
def test_missing_dependencies_are_refused(bits: tuple[int, ...], message: str) -> None:
    with pytest.raises(FeatureError, match=message):
        check_remote_features(Features.from_bits(*bits), Feature)


def test_dependencies_satisfied_by_either_bit() -> None:
    check_remote_features(Features.from_bits(17, 15), Feature)
    check_remote_features(Features.from_bits(16, 14), Feature)


def test_negotiation_rule() -> None:
    ours = DEFAULT_NODE_FEATURES
    assert is_negotiated(ours, Features(), Feature.OPTION_STATIC_REMOTEKEY)  # ours is even
    assert is_negotiated(ours, CLN_FEATURES, Feature.GOSSIP_QUERIES)  # both offered
    assert not is_negotiated(ours, Features(), Feature.GOSSIP_QUERIES)
    assert is_negotiated(ours, CLN_FEATURES, Feature.OPTION_ANCHORS)  # both offered
    assert not is_negotiated(node_features(anchors=False), CLN_FEATURES, Feature.OPTION_ANCHORS)


def test_channel_type_and_names() -> None:
    assert CHANNEL_TYPE_STATIC_REMOTEKEY.to_bytes().hex() == "1000"
    assert CHANNEL_TYPE_ANCHORS.to_bytes().hex() == "401000"  # bits 22 and 12
    assert Feature.for_bit(45) is Feature.OPTION_CHANNEL_TYPE
    assert Feature.for_bit(2) is None
    assert Feature.BASIC_MPP.optional == 17
    assert str(Features.from_bits(14, 3)) == "bit 3, bit 14 (payment_secret)"
