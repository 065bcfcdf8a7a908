"""Unit tests of regtestd's pure modules against the BIPs' own test vectors."""

from __future__ import annotations

import os
from decimal import Decimal

import coincurve
import pytest
from lnharness.node_impl.bitcoin.regtestd import amounts
from lnharness.node_impl.bitcoin.regtestd.address import (
    AddressError,
    address_to_script,
    decode_segwit,
    encode_segwit,
    script_to_address,
)
from lnharness.node_impl.bitcoin.regtestd.config import ConfigError, parse_args
from lnharness.node_impl.bitcoin.regtestd.descriptor import (
    DescriptorError,
    add_checksum,
    split_checksum,
)
from lnharness.node_impl.bitcoin.regtestd.keys import WalletKey, derive_key
from lnharness.node_impl.bitcoin.regtestd.policy import format_money
from lnharness.node_impl.bitcoin.regtestd.primitives import Tx, TxOut, tagged_hash
from lnharness.node_impl.bitcoin.regtestd.script import dust_threshold_sat, push_int, script_asm
from lnharness.node_impl.bitcoin.regtestd.sighash import (
    bip143_sighash,
    bip341_keypath_sighash,
    p2wpkh_script_code,
)

# BIP173 / BIP350 valid segwit addresses (mainnet hrp "bc") and their scriptPubKeys
SEGWIT_VECTORS = [
    ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "0014751e76e8199196d454941c45d1b3a323f1433bd6"),
    ("bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
     "5128751e76e8199196d454941c45d1b3a323f1433bd6751e76e8199196d454941c45d1b3a323f1433bd6"),
    ("BC1SW50QGDZ25J", "6002751e"),
    ("bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", "5210751e76e8199196d454941c45d1b3a323"),
    ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
     "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"),
]
# BIP350 invalid: wrong checksum variant for the witness version
INVALID_SEGWIT = [
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",
    "BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL",
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh",
]


@pytest.mark.parametrize(("address", "spk_hex"), SEGWIT_VECTORS)
def test_segwit_address_vectors(address, spk_hex):
    witver, program = decode_segwit(address, hrp="bc")
    op = 0 if witver == 0 else 0x50 + witver
    assert (bytes([op, len(program)]) + program).hex() == spk_hex
    assert encode_segwit(witver, program, hrp="bc") == address.lower()


@pytest.mark.parametrize("address", INVALID_SEGWIT)
def test_invalid_segwit_addresses(address):
    with pytest.raises(AddressError):
        decode_segwit(address, hrp="bc")


def test_regtest_address_roundtrip():
    for spk in (bytes.fromhex("0014") + os.urandom(20), bytes.fromhex("5120") + os.urandom(32),
                bytes.fromhex("76a914") + os.urandom(20) + bytes.fromhex("88ac"),
                bytes.fromhex("a914") + os.urandom(20) + bytes.fromhex("87")):
        address = script_to_address(spk)
        assert address is not None and address_to_script(address) == spk
    with pytest.raises(AddressError):
        address_to_script("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4")  # mainnet hrp


def test_descriptor_checksum_bip380():
    assert add_checksum("raw(deadbeef)") == "raw(deadbeef)#89f8spxm"
    assert split_checksum("raw(deadbeef)#89f8spxm") == ("raw(deadbeef)", "89f8spxm")
    with pytest.raises(DescriptorError):
        split_checksum("raw(deadbeef)#89f8spxn")


def test_bip143_native_p2wpkh_vector():
    unsigned = Tx.from_hex(
        "0100000002fff7f7881a8099afa6940d42d1e7f6362bec38171ea3edf433541db4e4ad969f0000000000eeffffff"
        "ef51e1b804cc89d182d279655c3aa89e815b1b309fe287d9b2b55d57b90ec68a0100000000ffffffff02202cb20600"
        "0000001976a9148280b37df378db99f66f85c95a783a76ac7a6d5988ac9093510d000000001976a9143bde42dbee7e"
        "4dbe6a21b2d50ce2f0167faa815988ac11000000")
    script_code = p2wpkh_script_code(bytes.fromhex("1d0f172a0ecb48aee1be1f2687d2963ae33f71a1"))
    digest = bip143_sighash(unsigned, 1, script_code, 600_000_000, 1)
    assert digest.hex() == "c37af31116d1b27caf68aae9e3ac82f1477929014d5b917657d0eb49478cb670"


def test_bip86_taproot_output_key_vector():
    internal = bytes.fromhex("cc8a4bc64d897bddc5fbc2f670f7a8ba0b386779106cf1223c6fc5d7cd6fc115")
    output = coincurve.PublicKeyXOnly(internal)
    output.tweak_add(tagged_hash("TapTweak", internal))  # in place
    assert output.format().hex() == "a60869f0dbcf1dc659c9cecbaf8050135ea9e8cdc487053f1dc6880949dc684c"
    assert encode_segwit(1, output.format(), hrp="bc") == \
        "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr"


def test_wallet_taproot_key_signs_for_its_output_key():
    seed = os.urandom(32)
    for index in range(8):  # covers both parities of the internal key
        key = derive_key(seed, "bech32m", False, index)
        public = coincurve.PublicKeyXOnly(key.xonly_internal)
        public.tweak_add(key.taproot_tweak())
        assert key.output_key() == public.format()
        assert key.script_pubkey == b"\x51\x20" + public.format()
        digest = os.urandom(32)
        assert public.verify(key.sign_schnorr_keypath(digest, os.urandom(32)), digest)
    assert derive_key(seed, "bech32", False, 3) == derive_key(seed, "bech32", False, 3)


def test_amount_parsing_and_printing():
    assert amounts.btc_to_sat(Decimal("0.00001")) == 1000
    assert amounts.btc_to_sat("1.5") == 150_000_000
    assert amounts.btc_to_sat(1) == 100_000_000
    for bad in (Decimal("0.000000001"), "abc", True, None, Decimal("-1"), 21_000_001):
        with pytest.raises(amounts.RpcError):
            amounts.btc_to_sat(bad)
    assert amounts.dumps({"a": amounts.sat_to_btc(1000), "b": [1, None, True, "x"]}) == \
        '{"a":0.00001000,"b":[1,null,true,"x"]}'
    assert format_money(150_000_000) == "1.50" and format_money(1234) == "0.00001234"


def test_script_helpers():
    assert push_int(1) == b"\x51" and push_int(17) == b"\x01\x11" and push_int(128) == b"\x02\x80\x00"
    assert script_asm(bytes.fromhex("0014") + b"\x11" * 20) == "0 " + "11" * 20
    assert dust_threshold_sat(bytes.fromhex("0014") + b"\x00" * 20) == 294
    assert dust_threshold_sat(bytes.fromhex("5120") + b"\x00" * 32) == 330
    assert dust_threshold_sat(bytes.fromhex("76a914") + b"\x00" * 20 + bytes.fromhex("88ac")) == 546


def test_config_parsing(tmp_path):
    config = parse_args([f"-datadir={tmp_path}", "-rpcport=1234", "-fallbackfee=0.0002", "-foo=bar",
                         "-printtoconsole", "-nopersistmempool"])
    assert config.rpcport == 1234 and config.fallbackfee_sat_per_kvb == 20_000
    assert config.printtoconsole is True and config.persistmempool is False
    assert any("-foo" in w for w in config.warnings)
    (tmp_path / "bitcoin.conf").write_text("rpcport=999\n[main]\nrpcport=1\n[regtest]\nrpcuser=u\n")
    config = parse_args([f"-datadir={tmp_path}"])
    assert config.rpcport == 999 and config.rpcuser == "u"
    config = parse_args([f"-datadir={tmp_path}", "-rpcport=5"])
    assert config.rpcport == 5  # command line wins
    for bad, name in (("-rpcport=x", "rpcport"), ("-minrelaytxfee=-1", "minrelaytxfee"),
                      ("-chain=main", "chain"), ("stray", "stray")):
        with pytest.raises(ConfigError, match=name):
            parse_args([f"-datadir={tmp_path}", bad])
    (tmp_path / "bitcoin.conf").write_text("printtoconsole\n")
    with pytest.raises(ConfigError, match="line 1"):
        parse_args([f"-datadir={tmp_path}"])


def test_logtimemicros_adds_microseconds_to_log_timestamps(tmp_path):
    import logging
    import re

    from lnharness.node_impl.bitcoin.regtestd.__main__ import _UtcFormatter

    assert parse_args([f"-datadir={tmp_path}"]).logtimemicros is False
    assert parse_args([f"-datadir={tmp_path}", "-logtimemicros"]).logtimemicros is True
    record = logging.LogRecord("regtestd", logging.INFO, "x", 1, "hello", None, None)
    record.created = 1_780_000_000.123456
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.123456Z hello",
                        _UtcFormatter("%(asctime)s %(message)s", micros=True).format(record))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ hello",
                        _UtcFormatter("%(asctime)s %(message)s").format(record))


# BIP341 wallet test vectors, keyPathSpending (transcribed from bip341_wallet_vectors.json)
BIP341_UNSIGNED_TX = (
    "02000000097de20cbff686da83a54981d2b9bab3586f4ca7e48f57f5b55963115f3b334e9c010000000000000000d7b7cab5"
    "7b1393ace2d064f4d4a2cb8af6def61273e127517d44759b6dafdd990000000000fffffffff8e1f583384333689228c5d28e"
    "ac13366be082dc57441760d957275419a418420000000000fffffffff0689180aa63b30cb162a73c6d2a38b7eeda2a83ece7"
    "4310fda0843ad604853b0100000000feffffffaa5202bdf6d8ccd2ee0f0202afbbb7461d9264a25e5bfd3c5a52ee1239e0ba"
    "6c0000000000feffffff956149bdc66faa968eb2be2d2faa29718acbfe3941215893a2a3446d32acd05000000000000000000"
    "0e664b9773b88c09c32cb70a2a3e4da0ced63b7ba3b22f848531bbb1d5d5f4c94010000000000000000e9aa6b8e6c9de6761"
    "9e6a3924ae25696bb7b694bb677a632a74ef7eadfd4eabf0000000000ffffffffa778eb6a263dc090464cd125c466b5a99667"
    "720b1c110468831d058aa1b82af10100000000ffffffff0200ca9a3b000000001976a91406afd46bcdfd22ef94ac122aa11f2"
    "41244a37ecc88ac807840cb0000000020ac9a87f5594be208f8532db38cff670c450ed2fea8fcdefcc9a663f78bab962b0065"
    "cd1d")
BIP341_UTXOS = [
    ("512053a1f6e454df1aa2776a2814a721372d6258050de330b3c6d10ee8f4e0dda343", 420000000),
    ("5120147c9c57132f6e7ecddba9800bb0c4449251c92a1e60371ee77557b6620f3ea3", 462000000),
    ("76a914751e76e8199196d454941c45d1b3a323f1433bd688ac", 294000000),
    ("5120e4d810fd50586274face62b8a807eb9719cef49c04177cc6b76a9a4251d5450e", 504000000),
    ("512091b64d5324723a985170e4dc5a0f84c041804f2cd12660fa5dec09fc21783605", 630000000),
    ("00147dd65592d0ab2fe0d0257d571abf032cd9db93dc", 378000000),
    ("512075169f4001aa68f15bbed28b218df1d0a62cbbcf1188c6665110c293c907b831", 672000000),
    ("5120712447206d7a5238acc7ff53fbe94a3b64539ad291c7cdbc490b7577e4b17df5", 546000000),
    ("512077e30a5522dd9f894c3f8b8bd4c4b2cf82ca7da8a3ea6a239655c39c050ab220", 588000000),
]
BIP341_SIGHASHES = [  # (input index, hash type, sigHash)
    (0, 3, "2514a6272f85cfa0f45eb907fcb0d121b808ed37c6ea160a5a9046ed5526d555"),
    (1, 131, "325a644af47e8a5a2591cda0ab0723978537318f10e6a63d4eed783b96a71a4d"),
    (3, 1, "bf013ea93474aa67815b1b6cc441d23b64fa310911d991e713cd34c7f5d46669"),
    (4, 0, "4f900a0bae3f1446fd48490c2958b5a023228f01661cda3496a11da502a7f7ef"),
    (6, 2, "15f25c298eb5cdc7eb1d638dd2d45c97c4c59dcaec6679cfc16ad84f30876b85"),
    (7, 130, "cd292de50313804dabe4685e83f923d2969577191a3e1d2882220dca88cbeb10"),
    (8, 129, "cccb739eca6c13a8a89e6e5cd317ffe55669bbda23f2fd37b0f18755e008edd2"),
]


@pytest.mark.parametrize(("index", "hash_type", "expected"), BIP341_SIGHASHES)
def test_bip341_keypath_sighash_vectors(index, hash_type, expected):
    tx = Tx.from_hex(BIP341_UNSIGNED_TX)
    spent = [TxOut(amount, bytes.fromhex(spk)) for spk, amount in BIP341_UTXOS]
    assert bip341_keypath_sighash(tx, index, spent, hash_type).hex() == expected


def test_bip341_tweaked_private_key_vector():
    key = WalletKey("bech32m", False, 0, bytes.fromhex(
        "6b973d88838f27366ed61c9ad6367663045cb456e28335c109e30717ae0c6baa"))
    assert key.xonly_internal.hex() == "d6889cb081036e0faefa3a35157ad71086b123b2b144b649798b494c300a961d"
    assert key.taproot_tweak().hex() == "b86e7be8f39bab32a6f2c0443abbc210f0edac0e2c53d501b36b64437d9c6c70"
    assert key.tweaked_secret().hex() == "2405b971772ad26915c8dcdf10f238753a9b837e5f8e6a86fd7c0cce5b7296d9"
    assert key.script_pubkey.hex() == "512053a1f6e454df1aa2776a2814a721372d6258050de330b3c6d10ee8f4e0dda343"
