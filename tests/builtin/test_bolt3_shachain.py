"""BOLT 3 Appendix D: per-commitment secret generation and compact storage."""

import pytest
from lnharness.node_impl.builtin.keys.shachain import (
    START_INDEX,
    SecretStore,
    ShachainError,
    generate_from_seed,
    index_of_commitment,
)

GENERATION_CASES = [
    (
        "generate_from_seed 0 final node",
        "0000000000000000000000000000000000000000000000000000000000000000",
        281474976710655,
        "02a40c85b6f28da08dfdbe0926c53fab2de6d28c10301f8f7c4073d5e42e3148",
    ),
    (
        "generate_from_seed FF final node",
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        281474976710655,
        "7cc854b54e3e0dcdb010d7a3fee464a9687be6e8db3be6854c475621e007a5dc",
    ),
    (
        "generate_from_seed FF alternate bits 1",
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        0xAAAAAAAAAAA,
        "56f4008fb007ca9acf0e15b054d5c9fd12ee06cea347914ddbaed70d1c13a528",
    ),
    (
        "generate_from_seed FF alternate bits 2",
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        0x555555555555,
        "9015daaeb06dba4ccc05b91b2f73bd54405f2be9f217fbacd3c5ac2e62327d31",
    ),
    (
        "generate_from_seed 01 last nontrivial node",
        "0101010101010101010101010101010101010101010101010101010101010101",
        1,
        "915c75942a26bb3a433a8ce2cb0427c29ec6c1775cfc78328b57f6ba7bfeaa9c",
    ),
]

STORAGE_CASES = [
    (
        "insert_secret correct sequence",
        [
            (
                281474976710655,
                "7cc854b54e3e0dcdb010d7a3fee464a9687be6e8db3be6854c475621e007a5dc",
                True,
            ),
            (
                281474976710654,
                "c7518c8ae4660ed02894df8976fa1a3659c1a8b4b5bec0c4b872abeba4cb8964",
                True,
            ),
            (
                281474976710653,
                "2273e227a5b7449b6e70f1fb4652864038b1cbf9cd7c043a7d6456b7fc275ad8",
                True,
            ),
            (
                281474976710652,
                "27cddaa5624534cb6cb9d7da077cf2b22ab21e9b506fd4998a51d54502e99116",
                True,
            ),
            (
                281474976710651,
                "c65716add7aa98ba7acb236352d665cab17345fe45b55fb879ff80e6bd0c41dd",
                True,
            ),
            (
                281474976710650,
                "969660042a28f32d9be17344e09374b379962d03db1574df5a8a5a47e19ce3f2",
                True,
            ),
            (
                281474976710649,
                "a5a64476122ca0925fb344bdc1854c1c0a59fc614298e50a33e331980a220f32",
                True,
            ),
            (
                281474976710648,
                "05cde6323d949933f7f7b78776bcc1ea6d9b31447732e3802e1f7ac44b650e17",
                True,
            ),
        ],
    ),
    (
        "insert_secret #1 incorrect",
        [
            (
                281474976710655,
                "02a40c85b6f28da08dfdbe0926c53fab2de6d28c10301f8f7c4073d5e42e3148",
                True,
            ),
            (
                281474976710654,
                "c7518c8ae4660ed02894df8976fa1a3659c1a8b4b5bec0c4b872abeba4cb8964",
                False,
            ),
        ],
    ),
    (
        "insert_secret #2 incorrect (#1 derived from incorrect)",
        [
            (
                281474976710655,
                "02a40c85b6f28da08dfdbe0926c53fab2de6d28c10301f8f7c4073d5e42e3148",
                True,
            ),
            (
                281474976710654,
                "dddc3a8d14fddf2b68fa8c7fbad2748274937479dd0f8930d5ebb4ab6bd866a3",
                True,
            ),
            (
                281474976710653,
                "2273e227a5b7449b6e70f1fb4652864038b1cbf9cd7c043a7d6456b7fc275ad8",
                True,
            ),
            (
                281474976710652,
                "27cddaa5624534cb6cb9d7da077cf2b22ab21e9b506fd4998a51d54502e99116",
                False,
            ),
        ],
    ),
    (
        "insert_secret #3 incorrect",
        [
            (
                281474976710655,
                "7cc854b54e3e0dcdb010d7a3fee464a9687be6e8db3be6854c475621e007a5dc",
                True,
            ),
            (
                281474976710654,
                "c7518c8ae4660ed02894df8976fa1a3659c1a8b4b5bec0c4b872abeba4cb8964",
                True,
            ),
            (
                281474976710653,
                "c51a18b13e8527e579ec56365482c62f180b7d5760b46e9477dae59e87ed423a",
                True,
            ),
            (
                281474976710652,
                "27cddaa5624534cb6cb9d7da077cf2b22ab21e9b506fd4998a51d54502e99116",
                False,
            ),
        ],
    ),
    (
        "insert_secret #4 incorrect (1,2,3 derived from incorrect)",
        [
            (
                281474976710655,
                "02a40c85b6f28da08dfdbe0926c53fab2de6d28c10301f8f7c4073d5e42e3148",
                True,
            ),
            (
                281474976710654,
                "dddc3a8d14fddf2b68fa8c7fbad2748274937479dd0f8930d5ebb4ab6bd866a3",
                True,
            ),
            (
                281474976710653,
                "c51a18b13e8527e579ec56365482c62f180b7d5760b46e9477dae59e87ed423a",
                True,
            ),
            (
                281474976710652,
                "ba65d7b0ef55a3ba300d4e87af29868f394f8f138d78a7011669c79b37b936f4",
                True,
            ),
            (
                281474976710651,
                "c65716add7aa98ba7acb236352d665cab17345fe45b55fb879ff80e6bd0c41dd",
                True,
            ),
            (
                281474976710650,
                "969660042a28f32d9be17344e09374b379962d03db1574df5a8a5a47e19ce3f2",
                True,
            ),
            (
                281474976710649,
                "a5a64476122ca0925fb344bdc1854c1c0a59fc614298e50a33e331980a220f32",
                True,
            ),
            (
                281474976710648,
                "05cde6323d949933f7f7b78776bcc1ea6d9b31447732e3802e1f7ac44b650e17",
                False,
            ),
        ],
    ),
    (
        "insert_secret #5 incorrect",
        [
            (
                281474976710655,
                "7cc854b54e3e0dcdb010d7a3fee464a9687be6e8db3be6854c475621e007a5dc",
                True,
            ),
            (
                281474976710654,
                "c7518c8ae4660ed02894df8976fa1a3659c1a8b4b5bec0c4b872abeba4cb8964",
                True,
            ),
            (
                281474976710653,
                "2273e227a5b7449b6e70f1fb4652864038b1cbf9cd7c043a7d6456b7fc275ad8",
                True,
            ),
            (
                281474976710652,
                "27cddaa5624534cb6cb9d7da077cf2b22ab21e9b506fd4998a51d54502e99116",
                True,
            ),
            (
                281474976710651,
                "631373ad5f9ef654bb3dade742d09504c567edd24320d2fcd68e3cc47e2ff6a6",
                True,
            ),
            (
                281474976710650,
                "969660042a28f32d9be17344e09374b379962d03db1574df5a8a5a47e19ce3f2",
                False,
            ),
        ],
    ),
    (
        "insert_secret #6 incorrect (5 derived from incorrect)",
        [
            (
                281474976710655,
                "7cc854b54e3e0dcdb010d7a3fee464a9687be6e8db3be6854c475621e007a5dc",
                True,
            ),
            (
                281474976710654,
                "c7518c8ae4660ed02894df8976fa1a3659c1a8b4b5bec0c4b872abeba4cb8964",
                True,
            ),
            (
                281474976710653,
                "2273e227a5b7449b6e70f1fb4652864038b1cbf9cd7c043a7d6456b7fc275ad8",
                True,
            ),
            (
                281474976710652,
                "27cddaa5624534cb6cb9d7da077cf2b22ab21e9b506fd4998a51d54502e99116",
                True,
            ),
            (
                281474976710651,
                "631373ad5f9ef654bb3dade742d09504c567edd24320d2fcd68e3cc47e2ff6a6",
                True,
            ),
            (
                281474976710650,
                "b7e76a83668bde38b373970155c868a653304308f9896692f904a23731224bb1",
                True,
            ),
            (
                281474976710649,
                "a5a64476122ca0925fb344bdc1854c1c0a59fc614298e50a33e331980a220f32",
                True,
            ),
            (
                281474976710648,
                "05cde6323d949933f7f7b78776bcc1ea6d9b31447732e3802e1f7ac44b650e17",
                False,
            ),
        ],
    ),
    (
        "insert_secret #7 incorrect",
        [
            (
                281474976710655,
                "7cc854b54e3e0dcdb010d7a3fee464a9687be6e8db3be6854c475621e007a5dc",
                True,
            ),
            (
                281474976710654,
                "c7518c8ae4660ed02894df8976fa1a3659c1a8b4b5bec0c4b872abeba4cb8964",
                True,
            ),
            (
                281474976710653,
                "2273e227a5b7449b6e70f1fb4652864038b1cbf9cd7c043a7d6456b7fc275ad8",
                True,
            ),
            (
                281474976710652,
                "27cddaa5624534cb6cb9d7da077cf2b22ab21e9b506fd4998a51d54502e99116",
                True,
            ),
            (
                281474976710651,
                "c65716add7aa98ba7acb236352d665cab17345fe45b55fb879ff80e6bd0c41dd",
                True,
            ),
            (
                281474976710650,
                "969660042a28f32d9be17344e09374b379962d03db1574df5a8a5a47e19ce3f2",
                True,
            ),
            (
                281474976710649,
                "e7971de736e01da8ed58b94c2fc216cb1dca9e326f3a96e7194fe8ea8af6c0a3",
                True,
            ),
            (
                281474976710648,
                "05cde6323d949933f7f7b78776bcc1ea6d9b31447732e3802e1f7ac44b650e17",
                False,
            ),
        ],
    ),
    (
        "insert_secret #8 incorrect",
        [
            (
                281474976710655,
                "7cc854b54e3e0dcdb010d7a3fee464a9687be6e8db3be6854c475621e007a5dc",
                True,
            ),
            (
                281474976710654,
                "c7518c8ae4660ed02894df8976fa1a3659c1a8b4b5bec0c4b872abeba4cb8964",
                True,
            ),
            (
                281474976710653,
                "2273e227a5b7449b6e70f1fb4652864038b1cbf9cd7c043a7d6456b7fc275ad8",
                True,
            ),
            (
                281474976710652,
                "27cddaa5624534cb6cb9d7da077cf2b22ab21e9b506fd4998a51d54502e99116",
                True,
            ),
            (
                281474976710651,
                "c65716add7aa98ba7acb236352d665cab17345fe45b55fb879ff80e6bd0c41dd",
                True,
            ),
            (
                281474976710650,
                "969660042a28f32d9be17344e09374b379962d03db1574df5a8a5a47e19ce3f2",
                True,
            ),
            (
                281474976710649,
                "a5a64476122ca0925fb344bdc1854c1c0a59fc614298e50a33e331980a220f32",
                True,
            ),
            (
                281474976710648,
                "a7efbc61aac46d34f77778bac22c8a20c6a46ca460addc49009bda875ec88fa4",
                False,
            ),
        ],
    ),
]

SEED_FF = bytes.fromhex("ff" * 32)


@pytest.mark.parametrize(
    "seed_hex, index, expected_hex",
    [c[1:] for c in GENERATION_CASES],
    ids=[c[0] for c in GENERATION_CASES],
)
def test_generate_from_seed_matches_appendix_d(seed_hex, index, expected_hex):
    assert generate_from_seed(bytes.fromhex(seed_hex), index).hex() == expected_hex


@pytest.mark.parametrize("steps", [c[1] for c in STORAGE_CASES], ids=[c[0] for c in STORAGE_CASES])
def test_insert_secret_matches_appendix_d(steps):
    store = SecretStore()
    for index, secret_hex, ok in steps:
        if ok:
            store.insert(bytes.fromhex(secret_hex), index)
        else:
            with pytest.raises(ShachainError, match="not from the same seed"):
                store.insert(bytes.fromhex(secret_hex), index)


def test_store_derives_every_received_secret_and_survives_serialization():
    store = SecretStore()
    count = 1000
    for number in range(count):
        store.insert_for_commitment(
            generate_from_seed(SEED_FF, index_of_commitment(number)), number
        )
    restored = SecretStore.from_bytes(store.to_bytes())
    for number in range(count):
        expected = generate_from_seed(SEED_FF, index_of_commitment(number))
        assert store.get_for_commitment(number) == expected
        assert restored.get_for_commitment(number) == expected
    assert restored.next_index == START_INDEX - count
    assert restored.count == count


def test_store_refuses_unreceived_and_out_of_order_secrets():
    store = SecretStore()
    store.insert(generate_from_seed(SEED_FF, START_INDEX), START_INDEX)
    with pytest.raises(ShachainError, match="has not been received"):
        store.get(START_INDEX - 1)
    with pytest.raises(ShachainError, match="out of order"):
        store.insert(generate_from_seed(SEED_FF, START_INDEX - 2), START_INDEX - 2)
