"""BOLT 8 Appendix A test vectors: handshake (both roles, failure cases) and message encryption."""

from __future__ import annotations

import pytest
from lnharness.node_impl.builtin.net.noise import (
    HandshakeError,
    InitiatorHandshake,
    NoiseTransport,
    ResponderHandshake,
    TransportError,
)

INITIATOR_PRIV = bytes.fromhex("11" * 32)
INITIATOR_PUB = bytes.fromhex("034f355bdcb7cc0af728ef3cceb9615d90684bb5b2ca5f859ab0f0b704075871aa")
INITIATOR_EPHEMERAL = bytes.fromhex("12" * 32)
RESPONDER_PRIV = bytes.fromhex("21" * 32)
RESPONDER_PUB = bytes.fromhex("028d7500dd4c12685d1f568b4c2b5048e8534b873319f3a8daa612b469132ec7f7")
RESPONDER_EPHEMERAL = bytes.fromhex("22" * 32)

ACT_ONE = bytes.fromhex(
    "00036360e856310ce5d294e8be33fc807077dc56ac80d95d9cd4ddbd21325eff73f7"
    "0df6086551151f58b8afe6c195782c6a"
)
ACT_TWO = bytes.fromhex(
    "0002466d7fcae563e5cb09a0d1870bb580344804617879a14949cf22285f1bae3f27"
    "6e2470b93aac583c9ef6eafca3f730ae"
)
ACT_THREE = bytes.fromhex(
    "00b9e3a702e93e3a9948c2ed6e5fd7590a6e1c3a0344cfc9d5b57357049aa22355361aa02e55a8fc28fef5bd6d71ad0c3822"
    "8dc68b1c466263b47fdf31e560e139ba"
)
SK = bytes.fromhex("969ab31b4d288cedf6218839b27a3e2140827047f2c0f01bf5c04435d43511a9")
RK = bytes.fromhex("bb9020b8965f4df047e07f955f3c4b88418984aadc5cdb35096b9ea8fa5c3442")
CK = bytes.fromhex("919219dbb2920afa8db80f9a51787a840bcf111ed8d588caf9ab4be716e42b01")


def new_initiator() -> InitiatorHandshake:
    return InitiatorHandshake(INITIATOR_PRIV, RESPONDER_PUB, ephemeral_privkey=INITIATOR_EPHEMERAL)


def new_responder() -> ResponderHandshake:
    return ResponderHandshake(RESPONDER_PRIV, ephemeral_privkey=RESPONDER_EPHEMERAL)


def test_initiator_successful_handshake() -> None:
    initiator = new_initiator()
    assert initiator.act_one() == ACT_ONE
    assert initiator.process_act_two(ACT_TWO) == ACT_THREE
    transport = initiator.transport
    assert transport is not None
    assert transport.sending_key == SK
    assert transport.receiving_key == RK
    assert transport.remote_pubkey == RESPONDER_PUB


@pytest.mark.parametrize(
    ("name", "act_two", "error"),
    [
        ("act2 short read", ACT_TWO[:-1], "act two: expected 50 bytes, got 49"),
        ("act2 bad version", b"\x01" + ACT_TWO[1:], "act two: unknown handshake version 1"),
        ("act2 bad key serialization", ACT_TWO[:1] + b"\x04" + ACT_TWO[2:], "act two: bad public key"),
        ("act2 bad MAC", ACT_TWO[:-1] + b"\xaf", "act two: bad MAC"),
    ],
)
def test_initiator_failures(name: str, act_two: bytes, error: str) -> None:
    initiator = new_initiator()
    assert initiator.act_one() == ACT_ONE
    with pytest.raises(HandshakeError, match=error):
        initiator.process_act_two(act_two)
    assert initiator.transport is None


def test_responder_successful_handshake() -> None:
    responder = new_responder()
    assert responder.process_act_one(ACT_ONE) == ACT_TWO
    assert responder.process_act_three(ACT_THREE) == INITIATOR_PUB
    transport = responder.transport
    assert transport is not None
    assert transport.receiving_key == SK
    assert transport.sending_key == RK
    assert transport.remote_pubkey == INITIATOR_PUB


@pytest.mark.parametrize(
    ("name", "act_one", "error"),
    [
        ("act1 short read", ACT_ONE[:-1], "act one: expected 50 bytes, got 49"),
        ("act1 bad version", b"\x01" + ACT_ONE[1:], "act one: unknown handshake version 1"),
        ("act1 bad key serialization", ACT_ONE[:1] + b"\x04" + ACT_ONE[2:], "act one: bad public key"),
        ("act1 bad MAC", ACT_ONE[:-1] + b"\x6b", "act one: bad MAC"),
    ],
)
def test_responder_act_one_failures(name: str, act_one: bytes, error: str) -> None:
    responder = new_responder()
    with pytest.raises(HandshakeError, match=error):
        responder.process_act_one(act_one)


@pytest.mark.parametrize(
    ("name", "act_three", "error"),
    [
        ("act3 bad version", b"\x01" + ACT_THREE[1:], "act three: unknown handshake version 1"),
        ("act3 short read", ACT_THREE[:-1], "act three: expected 66 bytes, got 65"),
        (
            "act3 bad MAC for ciphertext",
            b"\x00\xc9" + ACT_THREE[2:],
            "act three: bad MAC on the encrypted static key",
        ),
        (
            "act3 bad rs",
            bytes.fromhex(
                "00bfe3a702e93e3a9948c2ed6e5fd7590a6e1c3a0344cfc9d5b57357049aa2235536ad09a8ee35"
                "1870c2bb7f78b754a26c6cef79a98d25139c856d7efd252c2ae73c"
            ),
            "act three: bad public key",
        ),
        ("act3 bad MAC", ACT_THREE[:-1] + b"\xbb", "act three: bad final MAC"),
    ],
)
def test_responder_act_three_failures(name: str, act_three: bytes, error: str) -> None:
    responder = new_responder()
    assert responder.process_act_one(ACT_ONE) == ACT_TWO
    with pytest.raises(HandshakeError, match=error):
        responder.process_act_three(act_three)
    assert responder.transport is None


EXPECTED_MESSAGES = {
    0: "cf2b30ddf0cf3f80e7c35a6e6730b59fe802473180f396d88a8fb0db8cbcf25d2f214cf9ea1d95",
    1: "72887022101f0b6753e0c7de21657d35a4cb2a1f5cde2650528bbc8f837d0f0d7ad833b1a256a1",
    500: "178cb9d7387190fa34db9c2d50027d21793c9bc2d40b1e14dcf30ebeeeb220f48364f7a4c68bf8",
    501: "1b186c57d44eb6de4c057c49940d79bb838a145cb528d6e8fd26dbe50a60ca2c104b56b60e45bd",
    1000: "4a2f3cc3b5e78ddb83dcb426d9863d9d9a723b0337c89dd0b005d89f8d3c05c52b76b29b740f09",
    1001: "2ecd8c8a5629d0d02ab457a0fdd0f7b90a192cd46be5ecb6ca570bfc5e268338b1a16cf4ef2d36",
}


def test_message_encryption_with_key_rotation() -> None:
    sender = NoiseTransport(SK, RK, CK, RESPONDER_PUB)
    # The receiving side of the same session: its receiving key is the sender's sending key.
    receiver = NoiseTransport(RK, SK, CK, INITIATOR_PUB)
    for index in range(1002):
        wire = sender.encrypt_message(b"hello")
        if index in EXPECTED_MESSAGES:
            assert wire.hex() == EXPECTED_MESSAGES[index], f"message {index}"
        length = receiver.decrypt_length(wire[:18])
        assert length == 5
        assert receiver.decrypt_body(wire[18:]) == b"hello"


def test_full_handshake_both_sides_agree() -> None:
    initiator = InitiatorHandshake(INITIATOR_PRIV, RESPONDER_PUB)
    responder = ResponderHandshake(RESPONDER_PRIV)
    act_two = responder.process_act_one(initiator.act_one())
    assert responder.process_act_three(initiator.process_act_two(act_two)) == INITIATOR_PUB
    assert initiator.transport is not None and responder.transport is not None
    wire = responder.transport.encrypt_message(b"ping")
    assert initiator.transport.decrypt_length(wire[:18]) == 4
    assert initiator.transport.decrypt_body(wire[18:]) == b"ping"


def test_tampered_message_is_rejected() -> None:
    sender = NoiseTransport(SK, RK, CK, RESPONDER_PUB)
    receiver = NoiseTransport(RK, SK, CK, INITIATOR_PUB)
    wire = bytearray(sender.encrypt_message(b"hello"))
    assert receiver.decrypt_length(bytes(wire[:18])) == 5
    wire[20] ^= 1
    with pytest.raises(TransportError, match="bad MAC on message body"):
        receiver.decrypt_body(bytes(wire[18:]))


def test_tampered_length_is_rejected() -> None:
    sender = NoiseTransport(SK, RK, CK, RESPONDER_PUB)
    receiver = NoiseTransport(RK, SK, CK, INITIATOR_PUB)
    wire = bytearray(sender.encrypt_message(b"hello"))
    wire[0] ^= 1
    with pytest.raises(TransportError, match="bad MAC on message length"):
        receiver.decrypt_length(bytes(wire[:18]))


def test_oversized_message_is_refused() -> None:
    sender = NoiseTransport(SK, RK, CK, RESPONDER_PUB)
    sender.encrypt_message(b"\x00" * 65535)
    with pytest.raises(TransportError, match="65536 bytes exceeds"):
        sender.encrypt_message(b"\x00" * 65536)
