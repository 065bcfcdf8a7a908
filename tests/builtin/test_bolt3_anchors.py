"""BOLT 3 Appendix F (option_anchors commitment and HTLC transactions) test vectors, from
tests/builtin/vectors/bolt03_anchors.json, and the spends anchors add, checked by Bitcoin
Core's script interpreter: our anchor, the to_remote output after one block, an HTLC
transaction that still verifies once fee inputs and outputs are added to it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bitcoin.core import COutPoint, CTransaction, CTxIn, CTxOut
from bitcoin.core.script import SIGHASH_ALL, CScript
from lnharness.node_impl.builtin.keys.derivation import pubkey_of
from lnharness.node_impl.builtin.tx.htlc_txs import ANCHORS_REMOTE_SIGHASH, build_htlc_txs
from lnharness.node_impl.builtin.tx.scripts import (
    anchor_script,
    p2pkh,
    p2wpkh,
    p2wsh,
    to_remote_anchors_script,
)
from lnharness.node_impl.builtin.tx.signing import (
    finalize_commitment_tx,
    finalize_htlc_tx,
    htlc_tx_witness,
    sign_input,
    sign_remote_htlc_tx,
    sign_tx,
    verify_remote_htlc_sig,
    with_witnesses,
)
from lnharness.node_impl.builtin.tx.sweeps import (
    anchor_spend,
    build_sweep_tx,
    to_remote_anchors_spend,
)
from lnharness.node_impl.builtin.tx.transactions import (
    CommitmentParams,
    Outpoint,
    OutputKind,
    build_commitment_tx,
    commitment_fee_sat,
)

from tests.builtin.test_bolt3_transactions import (
    APPENDIX_C_KEYS,
    COMMITMENT_NUMBER,
    FUNDING_AMOUNT_SAT,
    LOCAL_FUNDING_PRIVKEY,
    LOCAL_FUNDING_PUBKEY,
    LOCAL_HTLC_PRIVKEY,
    REMOTE_FUNDING_PRIVKEY,
    REMOTE_HTLC_PRIVKEY,
    REMOTE_PAYMENT_BASEPOINT_SECRET,
    appendix_c_htlc,
    appendix_c_params,
    appendix_c_preimage,
    assert_spends,
    htlcs_of_case,
)

VECTORS = json.loads((Path(__file__).parent / "vectors" / "bolt03_anchors.json").read_text())["cases"]


class _Named:
    """Just what htlcs_of_case reads of an Appendix C case: its name."""

    def __init__(self, name: str) -> None:
        self.name = name


def anchors_htlc_numbers(case: dict) -> list[int]:
    """Appendix F reuses Appendix C's HTLCs ("UseTestHtlcs"): 1, 5 and 6 in the case named
    after them, 0..4 elsewhere."""
    if not case["UseTestHtlcs"]:
        return []
    return htlcs_of_case(_Named(case["Name"]))


def anchors_params(dust_limit_sat: int) -> CommitmentParams:
    base = appendix_c_params()
    return CommitmentParams(funding=base.funding, obscuring_factor=base.obscuring_factor,
                            to_self_delay=base.to_self_delay, dust_limit_sat=dust_limit_sat,
                            local_is_opener=True, anchors=True)


def anchors_commitment(case: dict):
    numbers = anchors_htlc_numbers(case)
    return numbers, build_commitment_tx(
        anchors_params(case["DustLimitSatoshis"]), APPENDIX_C_KEYS,
        commitment_number=COMMITMENT_NUMBER, to_local_msat=case["LocalBalance"],
        to_remote_msat=case["RemoteBalance"], feerate_per_kw=case["FeePerKw"],
        htlcs=[appendix_c_htlc(n) for n in numbers])


@pytest.mark.parametrize("case", VECTORS, ids=[c["Name"] for c in VECTORS])
def test_commitment_and_htlc_txs_of_appendix_f(case: dict):
    numbers, commitment = anchors_commitment(case)
    remote_sig = sign_tx(commitment, REMOTE_FUNDING_PRIVKEY)
    assert remote_sig.hex() == case["RemoteSigHex"]
    signed = finalize_commitment_tx(commitment, sign_tx(commitment, LOCAL_FUNDING_PRIVKEY), remote_sig)
    assert signed.serialize().hex() == case["ExpectedCommitmentTxHex"]
    assert_spends(signed, 0, commitment.params.funding.script_pubkey, FUNDING_AMOUNT_SAT)

    htlc_txs = build_htlc_txs(commitment)
    assert len(htlc_txs) == len(case["HtlcDescs"])
    for htlc_tx, expected in zip(htlc_txs, case["HtlcDescs"], strict=True):
        assert htlc_tx.tx.vout[0].nValue == htlc_tx.amount_sat  # zero fee
        assert htlc_tx.tx.vin[0].nSequence == 1
        remote_htlc_sig = sign_remote_htlc_tx(htlc_tx, REMOTE_HTLC_PRIVKEY)
        assert remote_htlc_sig.hex() == expected["RemoteSigHex"]
        assert verify_remote_htlc_sig(htlc_tx, APPENDIX_C_KEYS.remote_htlc_pubkey, remote_htlc_sig)
        preimage = appendix_c_preimage(numbers[htlc_tx.htlc_index]) if htlc_tx.is_success else None
        final = finalize_htlc_tx(htlc_tx, sign_tx(htlc_tx, LOCAL_HTLC_PRIVKEY), remote_htlc_sig, preimage)
        assert final.serialize().hex() == expected["ResolutionTxHex"]
        output = commitment.outputs[htlc_tx.commitment_output_index]
        assert_spends(final, 0, output.script_pubkey, output.amount_sat)


def test_anchor_commitment_pays_fee_and_anchors_from_the_opener():
    case = next(c for c in VECTORS if c["Name"] == "commitment tx with seven outputs untrimmed")
    _, commitment = anchors_commitment(case)
    fee = commitment_fee_sat(case["FeePerKw"], 5, anchors=True)
    assert fee == case["FeePerKw"] * (1124 + 5 * 172) // 1000
    assert commitment.output_of(OutputKind.TO_LOCAL).amount_sat == case["LocalBalance"] // 1000 - fee - 660
    assert commitment.output_of(OutputKind.TO_REMOTE).amount_sat == case["RemoteBalance"] // 1000
    for kind, pubkey in ((OutputKind.LOCAL_ANCHOR, LOCAL_FUNDING_PUBKEY),
                         (OutputKind.REMOTE_ANCHOR, pubkey_of(REMOTE_FUNDING_PRIVKEY))):
        anchor = commitment.output_of(kind)
        assert anchor.amount_sat == 330 and anchor.witness_script == anchor_script(pubkey)


def _signed_anchor_commitment():
    case = VECTORS[0]  # no HTLCs, both anchors
    _, commitment = anchors_commitment(case)
    return commitment, bytes.fromhex(case["ExpectedCommitmentTxHex"])


def test_our_anchor_is_spent_with_our_funding_key():
    commitment, signed_hex = _signed_anchor_commitment()
    anchor = commitment.output_of(OutputKind.LOCAL_ANCHOR)
    spend = anchor_spend(Outpoint(commitment.txid, anchor.index), LOCAL_FUNDING_PRIVKEY)
    assert spend.witness_script == anchor.witness_script
    # a wallet coin pays the child's fee: the anchor's 330 sat alone would not
    coin_key = b"\x07" * 32
    coin = CTxOut(100_000, p2wpkh(pubkey_of(coin_key)))
    coin_outpoint = COutPoint(b"\x01" * 32, 0)
    child = CTransaction([CTxIn(spend.outpoint.to_coutpoint(), nSequence=spend.sequence),
                          CTxIn(coin_outpoint, nSequence=0xFFFFFFFD)],
                         [CTxOut(100_330 - 1_000, p2wpkh(pubkey_of(coin_key)))], nVersion=2)
    anchor_sig = sign_input(child, 0, spend.script_code, anchor.amount_sat, LOCAL_FUNDING_PRIVKEY)
    coin_sig = sign_input(child, 1, spend_code(coin_key), coin.nValue, coin_key)
    final = with_witnesses(child, [spend.witness(anchor_sig),
                                   [coin_sig + bytes([SIGHASH_ALL]), pubkey_of(coin_key)]])
    assert_spends(final, 0, anchor.script_pubkey, anchor.amount_sat)
    assert_spends(final, 1, coin.scriptPubKey, coin.nValue)
    assert CTransaction.deserialize(signed_hex).GetTxid() == commitment.txid


def spend_code(privkey: bytes) -> bytes:
    """The BIP143 script code of a P2WPKH coin of ``privkey``."""
    return p2pkh(pubkey_of(privkey))


def test_to_remote_of_an_anchor_commitment_waits_one_block():
    commitment, _ = _signed_anchor_commitment()
    out = commitment.output_of(OutputKind.TO_REMOTE)
    assert out.witness_script == to_remote_anchors_script(APPENDIX_C_KEYS.remote_payment_pubkey)
    assert out.script_pubkey == p2wsh(out.witness_script)
    spend = to_remote_anchors_spend(Outpoint(commitment.txid, out.index), out.amount_sat,
                                    REMOTE_PAYMENT_BASEPOINT_SECRET)
    sweep = build_sweep_tx([spend], p2wpkh(pubkey_of(b"\x09" * 32)), 253)
    assert sweep.vin[0].nSequence == 1
    assert_spends(sweep, 0, out.script_pubkey, out.amount_sat)
    no_wait = CTransaction([CTxIn(sweep.vin[0].prevout, nSequence=0)], sweep.vout, nVersion=2,
                           witness=sweep.wit)
    with pytest.raises(AssertionError):
        assert_spends(no_wait, 0, out.script_pubkey, out.amount_sat)


def test_htlc_tx_signed_single_anyonecanpay_takes_a_fee_input_and_change():
    case = next(c for c in VECTORS if c["Name"] == "commitment tx with seven outputs untrimmed")
    numbers, commitment = anchors_commitment(case)
    htlc_tx = next(t for t in build_htlc_txs(commitment) if not t.is_success)
    remote_sig = sign_remote_htlc_tx(htlc_tx, REMOTE_HTLC_PRIVKEY)
    assert htlc_tx.remote_sighash == ANCHORS_REMOTE_SIGHASH
    coin_key = b"\x05" * 32
    coin = CTxOut(50_000, p2wpkh(pubkey_of(coin_key)))
    funded = CTransaction(
        [htlc_tx.tx.vin[0], CTxIn(COutPoint(b"\x02" * 32, 1), nSequence=0xFFFFFFFD)],
        [htlc_tx.tx.vout[0], CTxOut(49_000, CScript(coin.scriptPubKey))],
        nLockTime=htlc_tx.tx.nLockTime, nVersion=2)
    local_sig = sign_input(funded, 0, htlc_tx.witness_script, htlc_tx.amount_sat, LOCAL_HTLC_PRIVKEY)
    coin_sig = sign_input(funded, 1, spend_code(coin_key), coin.nValue, coin_key)
    final = with_witnesses(funded, [htlc_tx_witness(htlc_tx, local_sig, remote_sig),
                                    [coin_sig + bytes([SIGHASH_ALL]), pubkey_of(coin_key)]])
    output = commitment.outputs[htlc_tx.commitment_output_index]
    assert_spends(final, 0, output.script_pubkey, output.amount_sat)
    assert_spends(final, 1, coin.scriptPubKey, coin.nValue)
    assert numbers[htlc_tx.htlc_index] in (2, 3)  # an offered HTLC: HTLC-timeout
