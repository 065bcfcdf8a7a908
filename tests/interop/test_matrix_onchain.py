"""Reading BOLT 3 closes on chain: commitments, mutual closes, the to_local delayed sweep."""
from __future__ import annotations

import pytest
from bitcoin.core.script import (
    OP_1,
    OP_CHECKSEQUENCEVERIFY,
    OP_CHECKSIG,
    OP_CHECKSIGVERIFY,
    OP_DROP,
    OP_ELSE,
    OP_ENDIF,
    OP_IF,
    CScript,
)
from lnharness.matrix.onchain import (
    NotReached,
    delayed_sweep_in,
    is_commitment,
    is_mutual_close,
    mine_until,
    to_local_delay,
)

REVOCATION, DELAYED = b"\x02" * 33, b"\x03" * 33
FUNDING = "aa" * 32
COMMITMENT = "bb" * 32


def to_local(delay: int) -> bytes:
    return bytes(CScript([OP_IF, REVOCATION, OP_ELSE, delay, OP_CHECKSEQUENCEVERIFY, OP_DROP,
                          DELAYED, OP_ENDIF, OP_CHECKSIG]))


@pytest.mark.parametrize("delay", [4, 6, 16, 17, 144, 2016])
def test_the_delay_of_a_to_local_script(delay):
    assert to_local_delay(to_local(delay)) == delay


def test_other_scripts_have_no_to_local_delay():
    anchors_to_remote = bytes(CScript([DELAYED, OP_CHECKSIGVERIFY, OP_1, OP_CHECKSEQUENCEVERIFY]))
    assert to_local_delay(anchors_to_remote) is None
    assert to_local_delay(bytes.fromhex("0014" + "11" * 20)) is None
    assert to_local_delay(b"\x4c") is None  # a truncated push


def test_commitment_and_mutual_close_are_told_apart():
    commitment = {"vin": [{"txid": FUNDING, "sequence": 0x80_12_34_56}], "locktime": 0x20_65_43_21}
    closing = {"vin": [{"txid": FUNDING, "sequence": 0xFFFF_FFFF}], "locktime": 0}
    assert is_commitment(commitment, FUNDING) and not is_mutual_close(commitment, FUNDING)
    assert is_mutual_close(closing, FUNDING) and not is_commitment(closing, FUNDING)
    assert not is_commitment(commitment, "cc" * 32) and not is_mutual_close(closing, "cc" * 32)


def test_the_delayed_sweep_is_found_and_the_revocation_path_is_not():
    script = to_local(6).hex()
    delayed = {"txid": "dd" * 32, "vout": [{"value": 0.0075}, {"value": 0.0000033}],
               "vin": [{"txid": COMMITMENT, "txinwitness": ["30" * 71, "", script]}]}
    penalty = {"txid": "ee" * 32, "vout": [{"value": 0.0075}],
               "vin": [{"txid": COMMITMENT, "txinwitness": ["30" * 71, "01", script]}]}
    other = {"txid": "ff" * 32, "vout": [{"value": 1}], "vin": [{"txid": "12" * 32}]}
    sweep = delayed_sweep_in({"tx": [other, delayed]}, 120, COMMITMENT)
    assert sweep is not None
    assert (sweep.txid, sweep.height, sweep.delay, sweep.amount_sat) == ("dd" * 32, 120, 6, 750_330)
    assert delayed_sweep_in({"tx": [other, penalty]}, 120, COMMITMENT) is None


class FakeChain:
    def __init__(self) -> None:
        self.tip = 100

    def generate_block(self, n: int) -> None:
        self.tip += n

    def height(self) -> int:
        return self.tip


class FakeNode:
    def __init__(self, chain: FakeChain) -> None:
        self.chain = chain
        self.asked: list[int] = []

    def wait_for_blockheight(self, height: int) -> int:
        self.asked.append(height)
        return height


def test_mine_until_mines_block_by_block_and_gives_up_at_its_limit():
    chain = FakeChain()
    node = FakeNode(chain)
    assert mine_until(chain, [node], lambda: chain.tip >= 103 and chain.tip, "tip 103") == 103
    assert node.asked == [101, 102, 103]
    with pytest.raises(NotReached, match="never: not reached after mining 5 blocks .tip 108."):
        mine_until(chain, [node], lambda: None, "never", max_blocks=5)
