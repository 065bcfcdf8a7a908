"""BOLT 3 Appendix E key derivation vectors, and our seed-based key derivation."""

import pytest
from lnharness.node_impl.builtin.keys.derivation import (
    Basepoints,
    channel_keys,
    derive_commitment_keys,
    derive_privkey,
    derive_pubkey,
    derive_revocation_privkey,
    derive_revocation_pubkey,
    node_id,
    node_privkey,
    per_commitment_point,
    pubkey_of,
    wallet_privkey,
    wallet_pubkey,
)
from lnharness.node_impl.builtin.keys.shachain import START_INDEX, generate_from_seed

# Appendix E
BASE_SECRET = bytes.fromhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
PER_COMMITMENT_SECRET = bytes.fromhex(
    "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100"
)
BASE_POINT = bytes.fromhex("036d6caac248af96f6afa7f904f550253a0f3ef3f5aa2fe6838a95b216691468e2")
PER_COMMITMENT_POINT = bytes.fromhex(
    "025f7117a78150fe2ef97db7cfc83bd57b2e2c0d0dd25eaf467a4a1c2a45ce1486"
)


def test_points_of_appendix_e_secrets():
    assert pubkey_of(BASE_SECRET) == BASE_POINT
    assert per_commitment_point(PER_COMMITMENT_SECRET) == PER_COMMITMENT_POINT


def test_derivation_of_pubkey_from_basepoint_and_per_commitment_point():
    assert (
        derive_pubkey(BASE_POINT, PER_COMMITMENT_POINT).hex()
        == "0235f2dbfaa89b57ec7b055afe29849ef7ddfeb1cefdb9ebdc43f5494984db29e5"
    )


def test_derivation_of_privkey_from_basepoint_secret_and_per_commitment_point():
    privkey = derive_privkey(BASE_SECRET, PER_COMMITMENT_POINT)
    assert privkey.hex() == "cbced912d3b21bf196a766651e436aff192362621ce317704ea2f75d87e7be0f"
    assert pubkey_of(privkey) == derive_pubkey(BASE_POINT, PER_COMMITMENT_POINT)


def test_derivation_of_revocation_pubkey():
    assert (
        derive_revocation_pubkey(BASE_POINT, PER_COMMITMENT_POINT).hex()
        == "02916e326636d19c33f13e8c0c3a03dd157f332f3e99c317c141dd865eb01f8ff0"
    )


def test_derivation_of_revocation_privkey():
    privkey = derive_revocation_privkey(BASE_SECRET, PER_COMMITMENT_SECRET)
    assert privkey.hex() == "d09ffff62ddb2297ab000cc85bcb4283fdeb6aa052affbc9dddcf33b61078110"
    assert pubkey_of(privkey) == derive_revocation_pubkey(BASE_POINT, PER_COMMITMENT_POINT)


def test_commitment_keys_of_appendix_c():
    """Appendix C: local keys derived from the (internal) basepoint secrets."""
    local_payment_secret = bytes.fromhex("11" * 32)
    remote_revocation_secret = bytes.fromhex("22" * 32)
    local_delayed_secret = bytes.fromhex("33" * 32)
    remote_payment_secret = bytes.fromhex("44" * 32)
    point = per_commitment_point(
        bytes.fromhex("1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100")
    )
    local = Basepoints(
        funding_pubkey=bytes.fromhex(
            "023da092f6980e58d2c037173180e9a465476026ee50f96695963e8efe436f54eb"
        ),
        revocation_basepoint=pubkey_of(bytes.fromhex("55" * 32)),
        payment_basepoint=pubkey_of(local_payment_secret),
        delayed_payment_basepoint=pubkey_of(local_delayed_secret),
        htlc_basepoint=pubkey_of(local_payment_secret),
    )
    remote = Basepoints(
        funding_pubkey=bytes.fromhex(
            "030e9f7b623d2ccc7c9bd44d66d5ce21ce504c0acf6385a132cec6d3c39fa711c1"
        ),
        revocation_basepoint=pubkey_of(remote_revocation_secret),
        payment_basepoint=pubkey_of(remote_payment_secret),
        delayed_payment_basepoint=pubkey_of(bytes.fromhex("66" * 32)),
        htlc_basepoint=pubkey_of(remote_payment_secret),
    )
    assert point.hex() == "025f7117a78150fe2ef97db7cfc83bd57b2e2c0d0dd25eaf467a4a1c2a45ce1486"
    assert (
        local.payment_basepoint.hex()
        == "034f355bdcb7cc0af728ef3cceb9615d90684bb5b2ca5f859ab0f0b704075871aa"
    )
    assert (
        remote.payment_basepoint.hex()
        == "032c0b7cf95324a07d05398b240174dc0c2be444d96b159aa6c7f7b1e668680991"
    )
    keys = derive_commitment_keys(local, remote, point)
    assert (
        keys.local_htlc_pubkey.hex()
        == "030d417a46946384f88d5f3337267c5e579765875dc4daca813e21734b140639e7"
    )
    assert (
        keys.remote_htlc_pubkey.hex()
        == "0394854aa6eab5b2a8122cc726e9dded053a2184d88256816826d6231c068d4a5b"
    )
    assert (
        keys.local_delayed_pubkey.hex()
        == "03fd5960528dc152014952efdb702a88f71e3c1653b2314431701ec77e57fde83c"
    )
    assert (
        keys.revocation_pubkey.hex()
        == "0212a140cd0c6539d07cd08dfe09984dec3251ea808b892efeac3ede9402bf2b19"
    )
    assert keys.remote_payment_pubkey == remote.payment_basepoint
    assert (
        derive_privkey(local_payment_secret, point).hex()
        == "bb13b121cdc357cd2e608b0aea294afca36e2b34cf958e2e6451a2f274694491"
    )
    assert (
        derive_privkey(local_delayed_secret, point).hex()
        == "adf3464ce9c2f230fd2582fda4c6965e4993ca5524e8c9580e3df0cf226981ad"
    )
    assert (
        derive_privkey(remote_payment_secret, point).hex()
        == "8deba327a7cc6d638ab0eb025770400a6184afcba6713c210d8d10e199ff2fda"
    )


SEED_A = bytes.fromhex("01" * 32)
SEED_B = bytes.fromhex("02" * 32)


def test_same_seed_gives_same_node_id_and_channel_keys():
    assert node_id(SEED_A) == node_id(bytes(SEED_A))
    assert node_id(SEED_A) == pubkey_of(node_privkey(SEED_A))
    assert node_id(SEED_A) != node_id(SEED_B)
    assert channel_keys(SEED_A, 3) == channel_keys(SEED_A, 3)
    assert channel_keys(SEED_A, 3) != channel_keys(SEED_A, 4)
    assert channel_keys(SEED_A, 3) != channel_keys(SEED_B, 3)
    assert wallet_pubkey(SEED_A, 7) == pubkey_of(wallet_privkey(SEED_A, 7))
    assert wallet_privkey(SEED_A, 7) != wallet_privkey(SEED_A, 8)


def test_all_derived_secrets_of_a_channel_are_distinct():
    keys = channel_keys(SEED_A, 0)
    secrets = {
        node_privkey(SEED_A),
        wallet_privkey(SEED_A, 0),
        keys.funding_privkey,
        keys.revocation_basepoint_secret,
        keys.payment_basepoint_secret,
        keys.delayed_payment_basepoint_secret,
        keys.htlc_basepoint_secret,
        keys.per_commitment_seed,
    }
    assert len(secrets) == 8


def test_channel_per_commitment_secrets_follow_the_bolt3_index_scheme():
    keys = channel_keys(SEED_A, 0)
    assert keys.per_commitment_secret(0) == generate_from_seed(
        keys.per_commitment_seed, START_INDEX
    )
    assert keys.per_commitment_secret(5) == generate_from_seed(
        keys.per_commitment_seed, START_INDEX - 5
    )
    assert keys.per_commitment_point(5) == pubkey_of(keys.per_commitment_secret(5))


def test_seed_must_be_32_bytes():
    with pytest.raises(ValueError, match="node seed must be 32 bytes"):
        node_id(b"\x01" * 31)


def test_derive_pubkey_rejects_malformed_points():
    with pytest.raises(ValueError, match="basepoint"):
        derive_pubkey(b"\x02" * 32, PER_COMMITMENT_POINT)


def test_channel_keys_helpers_derive_the_commitment_private_keys():
    ours = channel_keys(SEED_A, 0)
    theirs = channel_keys(SEED_B, 0)
    our_point = ours.per_commitment_point(3)
    our_commitment = derive_commitment_keys(ours.basepoints, theirs.basepoints, our_point)
    assert pubkey_of(ours.htlc_privkey(our_point)) == our_commitment.local_htlc_pubkey
    assert pubkey_of(theirs.htlc_privkey(our_point)) == our_commitment.remote_htlc_pubkey
    assert pubkey_of(ours.delayed_payment_privkey(our_point)) == our_commitment.local_delayed_pubkey
    # Once we revoke commitment 3 by revealing its secret, they hold the revocation key.
    revealed = ours.per_commitment_secret(3)
    assert pubkey_of(theirs.revocation_privkey(revealed)) == our_commitment.revocation_pubkey
    assert our_commitment.remote_payment_pubkey == theirs.basepoints.payment_basepoint
