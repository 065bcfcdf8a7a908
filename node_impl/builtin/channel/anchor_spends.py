"""What our wallet pays for on anchor channels (BOLT 5): the child that spends our anchor to
bring our commitment up to the chain's fee rate (CPFP), and our zero-fee HTLC transactions
with a fee input and change added (their peer signature is SIGHASH_SINGLE|ANYONECANPAY).

Layer: channel. Imports chain (the wallet), tx and keys; channel.machine for the channel.
"""

from __future__ import annotations

from bitcoin.core import CTransaction

from ..chain.wallet import ForeignInput, Wallet
from ..tx import signing, sweeps
from ..tx import transactions as txs
from ..tx.htlc_txs import HtlcTx
from .machine import Channel, ChannelError
from .updates import LOCAL


def commitment_fee_sat(chan: Channel, commitment: CTransaction) -> int:
    """What a commitment of ``chan`` pays in fee: the funding amount less its outputs."""
    return chan.funding_sat - sum(out.nValue for out in commitment.vout)


def anchor_cpfp(chan: Channel, wallet: Wallet, commitment: CTransaction, feerate_per_kw: int) -> CTransaction | None:
    """A child spending our anchor of ``commitment`` (our signed latest commitment) and a
    wallet coin, paying enough that parent and child together pay ``feerate_per_kw``; None
    when the commitment pays that by itself or has no anchor of ours. Raises WalletError when
    the wallet cannot pay it."""
    if chan.log is None:
        raise ChannelError("channel is not funded yet")
    built = chan._commitment(LOCAL, chan.log.ctn[LOCAL]).built
    if built.txid != commitment.GetTxid():
        raise ChannelError("the commitment to bump is not our latest one")
    anchor = built.output_of(txs.OutputKind.LOCAL_ANCHOR)
    if anchor is None:
        return None
    parent_weight = txs.tx_weight(commitment)
    deficit_sat = -(-feerate_per_kw * parent_weight // 1000) - commitment_fee_sat(chan, commitment)
    if deficit_sat <= 0:
        return None
    spend = sweeps.anchor_spend(txs.Outpoint(built.txid, anchor.index), chan.keys.funding_privkey)
    funded = wallet.fund_with(
        [ForeignInput(built.txid, anchor.index, anchor.amount_sat, spend.sequence, spend.witness_weight)],
        [], feerate_per_kw, extra_fee_sat=deficit_sat)
    signature = signing.sign_input(funded.tx, 0, spend.script_code, spend.amount_sat, spend.privkey)
    return funded.signed([spend.witness(signature)])


def funded_htlc_tx(wallet: Wallet, htlc_tx: HtlcTx, local_privkey: bytes, remote_sig: bytes,
                   payment_preimage: bytes | None, feerate_per_kw: int) -> CTransaction:
    """Our zero-fee HTLC-timeout/success tx of an anchor channel with a wallet coin and change
    added to pay ``feerate_per_kw``: input 0 and output 0 stay the HTLC tx's, which is what
    the peer's SIGHASH_SINGLE|ANYONECANPAY ``remote_sig`` (DER) signs; ours is SIGHASH_ALL.
    Raises WalletError when the wallet cannot pay it."""
    longest_sig = b"\x30" * txs.MAX_SIG_LEN
    witness = [b"", longest_sig, longest_sig, bytes(32) if htlc_tx.is_success else b"", htlc_tx.witness_script]
    txin = htlc_tx.tx.vin[0]
    out = htlc_tx.tx.vout[0]
    funded = wallet.fund_with(
        [ForeignInput(txin.prevout.hash, txin.prevout.n, htlc_tx.amount_sat, txin.nSequence,
                      sweeps.stack_weight(witness))],
        [(bytes(out.scriptPubKey), out.nValue)], feerate_per_kw, locktime=htlc_tx.tx.nLockTime)
    local_sig = signing.sign_input(funded.tx, 0, htlc_tx.witness_script, htlc_tx.amount_sat, local_privkey)
    return funded.signed([signing.htlc_tx_witness(htlc_tx, local_sig, remote_sig, payment_preimage)])
