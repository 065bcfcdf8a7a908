"""BOLT 11 invoices against the spec's own examples (11-payment-encoding.md, "Examples").

All valid examples are signed with the spec's private key; since signatures are
deterministic (RFC 6979), re-encoding the stated fields must reproduce each
invoice byte for byte.
"""

from __future__ import annotations

import hashlib

import coincurve
import pytest
from lnharness.node_impl.builtin.wire.bech32 import CHARSET, bech32_encode
from lnharness.node_impl.builtin.wire.bolt11 import (
    Bolt11Error,
    Fallback,
    RouteHintHop,
    TaggedField,
    create_invoice,
    description_field,
    description_hash_field,
    encode_invoice,
    expiry_field,
    fallback_field,
    features_field,
    metadata_field,
    min_final_cltv_expiry_field,
    payment_hash_field,
    payment_secret_field,
    route_hint_field,
)
from lnharness.node_impl.builtin.wire.bolt11_decode import decode_invoice

PRIVATE_KEY = bytes.fromhex("e126f68f7eafcc8b74f54d269fe206be715000f94dac067d1c04a8ca3b2db734")
PAYEE = "03e7156ae33b0a208d0744199163177e909e80176e55d97a2f221ede0f934dd9ad"
PAYMENT_HASH = bytes.fromhex("0001020304050607080900010203040506070809000102030405060708090102")
PAYMENT_SECRET = bytes.fromhex("11" * 32)
TIMESTAMP = 1496314658
LONG_DESCRIPTION = (
    "One piece of chocolate cake, one icecream cone, one pickle, one slice of swiss cheese, "
    "one slice of salami, one lollypop, one piece of cherry pie, one sausage, one cupcake, "
    "and one slice of watermelon"
)
DESCRIPTION_HASH = bytes.fromhex("3925b6f67e2c340036ed12093dd44e0368df1b6ea26c53dbe4811f58fd5db8c1")
BASE_FEATURES = {8, 14}


def raw_field(letter: str, data: str) -> TaggedField:
    """A tagged field written as in the spec's breakdown: type letter and data characters."""
    return TaggedField(CHARSET.index(letter), tuple(CHARSET.index(char) for char in data))


p = payment_hash_field(PAYMENT_HASH)
s = payment_secret_field(PAYMENT_SECRET)
h = description_hash_field(DESCRIPTION_HASH)
f9 = features_field(BASE_FEATURES)

# (title, invoice, network, amount_msat, timestamp, fields in the invoice's order, expected attributes)
VALID_EXAMPLES = [
    (
        "donation, any amount",
        "lnbc1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpl2pkx2ctnv5sxxmmwwd5kgetjypeh2ursdae8g6twvus8g6rfwvs8qun0dfjkxaq9qrsgq357wnc5r2ueh7ck6q93dj32dlqnls087fxdwk8qakdyafkq3yap9us6v52vjjsrvywa6rt52cm9r9zqt8r2t7mlcwspyetp5h2tztugp9lfyql",
        "bitcoin",
        None,
        TIMESTAMP,
        [s, p, description_field("Please consider supporting this project"), f9],
        {"description": "Please consider supporting this project", "expiry": 3600},
    ),
    (
        "$3 for a cup of coffee within one minute",
        "lnbc2500u1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5xysxxatsyp3k7enxv4jsxqzpu9qrsgquk0rl77nj30yxdy8j9vdx85fkpmdla2087ne0xh8nhedh8w27kyke0lp53ut353s06fv3qfegext0eh0ymjpf39tuven09sam30g4vgpfna3rh",
        "bitcoin",
        250_000_000,
        TIMESTAMP,
        [s, p, description_field("1 cup coffee"), expiry_field(60), f9],
        {"description": "1 cup coffee", "description_hash": None, "expiry": 60},
    ),
    (
        "a cup of nonsense, UTF-8 description",
        "lnbc2500u1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpquwpc4curk03c9wlrswe78q4eyqc7d8d0xqzpu9qrsgqhtjpauu9ur7fw2thcl4y9vfvh4m9wlfyz2gem29g5ghe2aak2pm3ps8fdhtceqsaagty2vph7utlgj48u0ged6a337aewvraedendscp573dxr",
        "bitcoin",
        250_000_000,
        TIMESTAMP,
        [s, p, description_field("ナンセンス 1杯"), expiry_field(60), f9],
        {"description": "ナンセンス 1杯", "expiry": 60},
    ),
    (
        "hashed description",
        "lnbc20m1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqhp58yjmdan79s6qqdhdzgynm4zwqd5d7xmw5fk98klysy043l2ahrqs9qrsgq7ea976txfraylvgzuxs8kgcw23ezlrszfnh8r6qtfpr6cxga50aj6txm9rxrydzd06dfeawfk6swupvz4erwnyutnjq7x39ymw6j38gp7ynn44",
        "bitcoin",
        2_000_000_000,
        TIMESTAMP,
        [s, p, h, f9],
        {"description": None, "description_hash": DESCRIPTION_HASH},
    ),
    (
        "testnet, P2PKH fallback mk2QpYatsKicvFVuTAQLBryyccRXMUaGHP",
        "lntb20m1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygshp58yjmdan79s6qqdhdzgynm4zwqd5d7xmw5fk98klysy043l2ahrqspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqfpp3x9et2e20v6pu37c5d9vax37wxq72un989qrsgqdj545axuxtnfemtpwkc45hx9d2ft7x04mt8q7y6t0k2dge9e7h8kpy9p34ytyslj3yu569aalz2xdk8xkd7ltxqld94u8h2esmsmacgpghe9k8",
        "testnet",
        2_000_000_000,
        TIMESTAMP,
        [
            s,
            h,
            p,
            fallback_field(Fallback(17, bytes.fromhex("3172b5654f6683c8fb146959d347ce303cae4ca7"))),
            f9,
        ],
        {
            "description_hash": DESCRIPTION_HASH,
            "description": None,
            "fallbacks": (Fallback(17, bytes.fromhex("3172b5654f6683c8fb146959d347ce303cae4ca7")),),
        },
    ),
    (
        "P2PKH fallback 1RustyRX2oai4EYYDpQGWvEL62BBGqN9T and a two-hop route hint",
        "lnbc20m1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqhp58yjmdan79s6qqdhdzgynm4zwqd5d7xmw5fk98klysy043l2ahrqsfpp3qjmp7lwpagxun9pygexvgpjdc4jdj85fr9yq20q82gphp2nflc7jtzrcazrra7wwgzxqc8u7754cdlpfrmccae92qgzqvzq2ps8pqqqqqqpqqqqq9qqqvpeuqafqxu92d8lr6fvg0r5gv0heeeqgcrqlnm6jhphu9y00rrhy4grqszsvpcgpy9qqqqqqgqqqqq7qqzq9qrsgqdfjcdk6w3ak5pca9hwfwfh63zrrz06wwfya0ydlzpgzxkn5xagsqz7x9j4jwe7yj7vaf2k9lqsdk45kts2fd0fkr28am0u4w95tt2nsq76cqw0",
        "bitcoin",
        2_000_000_000,
        TIMESTAMP,
        [
            s,
            p,
            h,
            fallback_field(Fallback(17, bytes.fromhex("04b61f7dc1ea0dc99424464cc4064dc564d91e89"))),
            route_hint_field(
                [
                    RouteHintHop(
                        "029e03a901b85534ff1e92c43c74431f7ce72046060fcf7a95c37e148f78c77255",
                        (66051 << 40) | (263430 << 16) | 1800,
                        1,
                        20,
                        3,
                    ),
                    RouteHintHop(
                        "039e03a901b85534ff1e92c43c74431f7ce72046060fcf7a95c37e148f78c77255",
                        (197637 << 40) | (395016 << 16) | 2314,
                        2,
                        30,
                        4,
                    ),
                ]
            ),
            f9,
        ],
        {
            "description_hash": DESCRIPTION_HASH,
            "description": None,
            "fallbacks": (Fallback(17, bytes.fromhex("04b61f7dc1ea0dc99424464cc4064dc564d91e89")),),
        },
    ),
    (
        "P2SH fallback 3EktnHQD7RiAE6uzMj2ZifT9YgRrkSgzQX",
        "lnbc20m1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygshp58yjmdan79s6qqdhdzgynm4zwqd5d7xmw5fk98klysy043l2ahrqspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqfppj3a24vwu6r8ejrss3axul8rxldph2q7z99qrsgqz6qsgww34xlatfj6e3sngrwfy3ytkt29d2qttr8qz2mnedfqysuqypgqex4haa2h8fx3wnypranf3pdwyluftwe680jjcfp438u82xqphf75ym",
        "bitcoin",
        2_000_000_000,
        TIMESTAMP,
        [
            s,
            h,
            p,
            fallback_field(Fallback(18, bytes.fromhex("8f55563b9a19f321c211e9b9f38cdf686ea07845"))),
            f9,
        ],
        {
            "description_hash": DESCRIPTION_HASH,
            "description": None,
            "fallbacks": (Fallback(18, bytes.fromhex("8f55563b9a19f321c211e9b9f38cdf686ea07845")),),
        },
    ),
    (
        "P2WPKH fallback bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        "lnbc20m1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygshp58yjmdan79s6qqdhdzgynm4zwqd5d7xmw5fk98klysy043l2ahrqspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqfppqw508d6qejxtdg4y5r3zarvary0c5xw7k9qrsgqt29a0wturnys2hhxpner2e3plp6jyj8qx7548zr2z7ptgjjc7hljm98xhjym0dg52sdrvqamxdezkmqg4gdrvwwnf0kv2jdfnl4xatsqmrnsse",
        "bitcoin",
        2_000_000_000,
        TIMESTAMP,
        [
            s,
            h,
            p,
            fallback_field(Fallback(0, bytes.fromhex("751e76e8199196d454941c45d1b3a323f1433bd6"))),
            f9,
        ],
        {
            "description_hash": DESCRIPTION_HASH,
            "description": None,
            "fallbacks": (Fallback(0, bytes.fromhex("751e76e8199196d454941c45d1b3a323f1433bd6")),),
        },
    ),
    (
        "P2WSH fallback bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
        "lnbc20m1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygshp58yjmdan79s6qqdhdzgynm4zwqd5d7xmw5fk98klysy043l2ahrqspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqfp4qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q9qrsgq9vlvyj8cqvq6ggvpwd53jncp9nwc47xlrsnenq2zp70fq83qlgesn4u3uyf4tesfkkwwfg3qs54qe426hp3tz7z6sweqdjg05axsrjqp9yrrwc",
        "bitcoin",
        2_000_000_000,
        TIMESTAMP,
        [
            s,
            h,
            p,
            fallback_field(
                Fallback(
                    0,
                    bytes.fromhex(
                        "1863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262"
                    ),
                )
            ),
            f9,
        ],
        {
            "description_hash": DESCRIPTION_HASH,
            "description": None,
            "fallbacks": (
                Fallback(
                    0,
                    bytes.fromhex(
                        "1863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262"
                    ),
                ),
            ),
        },
    ),
    (
        "P2TR fallback bc1pptdvg0d2nj99568qn6ssdy4cygnwuxgw2ukmnwgwz7jpqjz2kszse2s3lm",
        "lnbc20m1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqhp58yjmdan79s6qqdhdzgynm4zwqd5d7xmw5fk98klysy043l2ahrqsfp4pptdvg0d2nj99568qn6ssdy4cygnwuxgw2ukmnwgwz7jpqjz2kszs9qrsgqy606dznq28exnydt2r4c29y56xjtn3sk4mhgjtl4pg2y4ar3249rq4ajlmj9jy8zvlzw7cr8mggqzm842xfr0v72rswzq9xvr4hknfsqwmn6xd",
        "bitcoin",
        2_000_000_000,
        TIMESTAMP,
        [
            s,
            p,
            h,
            fallback_field(
                Fallback(
                    1,
                    bytes.fromhex(
                        "0adac43daa9c8a5a68e09ea10692b82226ee190e572db9b90e17a410484ab405"
                    ),
                )
            ),
            f9,
        ],
        {
            "description_hash": DESCRIPTION_HASH,
            "description": None,
            "fallbacks": (
                Fallback(
                    1,
                    bytes.fromhex(
                        "0adac43daa9c8a5a68e09ea10692b82226ee190e572db9b90e17a410484ab405"
                    ),
                ),
            ),
        },
    ),
    (
        "amount in pico-BTC, one week expiry, cltv delta 10, route hint",
        "lnbc9678785340p1pwmna7lpp5gc3xfm08u9qy06djf8dfflhugl6p7lgza6dsjxq454gxhj9t7a0sd8dgfkx7cmtwd68yetpd5s9xar0wfjn5gpc8qhrsdfq24f5ggrxdaezqsnvda3kkum5wfjkzmfqf3jkgem9wgsyuctwdus9xgrcyqcjcgpzgfskx6eqf9hzqnteypzxz7fzypfhg6trddjhygrcyqezcgpzfysywmm5ypxxjemgw3hxjmn8yptk7untd9hxwg3q2d6xjcmtv4ezq7pqxgsxzmnyyqcjqmt0wfjjq6t5v4khxsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygsxqyjw5qcqp2rzjq0gxwkzc8w6323m55m4jyxcjwmy7stt9hwkwe2qxmy8zpsgg7jcuwz87fcqqeuqqqyqqqqlgqqqqn3qq9q9qrsgqrvgkpnmps664wgkp43l22qsgdw4ve24aca4nymnxddlnp8vh9v2sdxlu5ywdxefsfvm0fq3sesf08uf6q9a2ke0hc9j6z6wlxg5z5kqpu2v9wz",
        "bitcoin",
        967_878_534,
        1572468703,
        [
            payment_hash_field(
                bytes.fromhex("462264ede7e14047e9b249da94fefc47f41f7d02ee9b091815a5506bc8abf75f")
            ),
            description_field(
                "Blockstream Store: 88.85 USD for Blockstream Ledger Nano S x 1, "
                '"Back In My Day" Sticker x 2, "I Got Lightning Working" Sticker x 2 and 1 more items'
            ),
            s,
            expiry_field(604800),
            min_final_cltv_expiry_field(10),
            route_hint_field(
                [
                    RouteHintHop(
                        "03d06758583bb5154774a6eb221b1276c9e82d65bbaceca806d90e20c108f4b1c7",
                        (589390 << 40) | (3312 << 16) | 1,
                        1000,
                        2500,
                        40,
                    ),
                ]
            ),
            f9,
        ],
        {
            "payment_hash": bytes.fromhex(
                "462264ede7e14047e9b249da94fefc47f41f7d02ee9b091815a5506bc8abf75f"
            ),
            "description": (
                "Blockstream Store: 88.85 USD for Blockstream Ledger Nano S x 1, "
                '"Back In My Day" Sticker x 2, "I Got Lightning Working" Sticker x 2 and 1 more items'
            ),
            "expiry": 604800,
            "min_final_cltv_expiry": 10,
        },
    ),
    (
        "coffee beans, features 8, 14 and 99",
        "lnbc25m1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5vdhkven9v5sxyetpdeessp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygs9q5sqqqqqqqqqqqqqqqqsgq2a25dxl5hrntdtn6zvydt7d66hyzsyhqs4wdynavys42xgl6sgx9c4g7me86a27t07mdtfry458rtjr0v92cnmswpsjscgt2vcse3sgpz3uapa",
        "bitcoin",
        2_500_000_000,
        TIMESTAMP,
        [p, description_field("coffee beans"), s, features_field({8, 14, 99})],
        {"description": "coffee beans", "features": frozenset({8, 14, 99})},
    ),
    (
        "coffee beans, with fields that must be ignored",
        "lnbc25m1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5vdhkven9v5sxyetpdeessp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygs9q5sqqqqqqqqqqqqqqqqsgq2qrqqqfppnqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqppnqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqpp4qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqhpnqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqhp4qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqspnqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqsp4qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqnp5qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqnpkqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqz599y53s3ujmcfjp5xrdap68qxymkqphwsexhmhr8wdz5usdzkzrse33chw6dlp3jhuhge9ley7j2ayx36kawe7kmgg8sv5ugdyusdcqzn8z9x",
        "bitcoin",
        2_500_000_000,
        TIMESTAMP,
        [
            p,
            description_field("coffee beans"),
            s,
            features_field({8, 14, 99}),
            raw_field("2", "qqq"),
            raw_field("f", "n" + "q" * 32),
            raw_field("p", "q" * 51),
            raw_field("p", "q" * 53),
            raw_field("h", "q" * 51),
            raw_field("h", "q" * 53),
            raw_field("s", "q" * 51),
            raw_field("s", "q" * 53),
            raw_field("n", "q" * 52),
            raw_field("n", "q" * 54),
        ],
        {
            "description": "coffee beans",
            "features": frozenset({8, 14, 99}),
            "fallbacks": (),
            "description_hash": None,
        },
    ),
    (
        "payment metadata 0x01fafaf0",
        "lnbc10m1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdp9wpshjmt9de6zqmt9w3skgct5vysxjmnnd9jx2mq8q8a04uqsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygs9q2gqqqqqqsgq7hf8he7ecf7n4ffphs6awl9t6676rrclv9ckg3d3ncn7fct63p6s365duk5wrk202cfy3aj5xnnp5gs3vrdvruverwwq7yzhkf5a3xqpd05wjc",
        "bitcoin",
        1_000_000_000,
        TIMESTAMP,
        [
            p,
            description_field("payment metadata inside"),
            metadata_field(bytes.fromhex("01fafaf0")),
            s,
            features_field({8, 14, 48}),
        ],
        {
            "description": "payment metadata inside",
            "metadata": bytes.fromhex("01fafaf0"),
            "features": frozenset({8, 14, 48}),
        },
    ),
]

DEFAULTS = {
    "payment_hash": PAYMENT_HASH,
    "payment_secret": PAYMENT_SECRET,
    "payee": PAYEE,
    "expiry": 3600,
    "min_final_cltv_expiry": 18,
    "features": frozenset(BASE_FEATURES),
    "fallbacks": (),
    "metadata": None,
}


@pytest.mark.parametrize(
    ("invoice", "network", "amount_msat", "timestamp", "expected"),
    [pytest.param(*example[1:5], example[6], id=example[0]) for example in VALID_EXAMPLES],
)
def test_valid_example_decodes_to_stated_fields(invoice, network, amount_msat, timestamp, expected):
    decoded = decode_invoice(invoice, network=network)
    assert decoded.network == network
    assert decoded.amount_msat == amount_msat
    assert decoded.timestamp == timestamp
    for name, value in {**DEFAULTS, **expected}.items():
        assert getattr(decoded, name) == value, name


@pytest.mark.parametrize(
    ("invoice", "network", "amount_msat", "timestamp", "fields"),
    [pytest.param(*example[1:6], id=example[0]) for example in VALID_EXAMPLES],
)
def test_valid_example_reencodes_byte_identical(invoice, network, amount_msat, timestamp, fields):
    encoded = encode_invoice(
        network=network,
        amount_msat=amount_msat,
        timestamp=timestamp,
        fields=fields,
        private_key=PRIVATE_KEY,
    )
    assert encoded == invoice
    decoded = decode_invoice(invoice, network=network)
    assert decoded.tagged_fields == tuple(fields)


def test_route_hints_decode_to_stated_hops():
    decoded = decode_invoice(VALID_EXAMPLES[5][1], network="bitcoin")
    assert decoded.route_hints == (
        (
            RouteHintHop(
                "029e03a901b85534ff1e92c43c74431f7ce72046060fcf7a95c37e148f78c77255",
                (66051 << 40) | (263430 << 16) | 1800,
                1,
                20,
                3,
            ),
            RouteHintHop(
                "039e03a901b85534ff1e92c43c74431f7ce72046060fcf7a95c37e148f78c77255",
                (197637 << 40) | (395016 << 16) | 2314,
                2,
                30,
                4,
            ),
        ),
    )
    assert decoded.route_hints[0][0].short_channel_id_str == "66051x263430x1800"
    pico = decode_invoice(VALID_EXAMPLES[10][1], network="bitcoin")
    assert [hop.short_channel_id_str for route in pico.route_hints for hop in route] == [
        "589390x3312x1"
    ]
    assert pico.route_hints[0][0].fee_base_msat == 1000
    assert pico.route_hints[0][0].fee_proportional_millionths == 2500
    assert pico.route_hints[0][0].cltv_expiry_delta == 40


def test_uppercase_example_decodes_like_lowercase():
    upper = "LNBC25M1PVJLUEZPP5QQQSYQCYQ5RQWZQFQQQSYQCYQ5RQWZQFQQQSYQCYQ5RQWZQFQYPQDQ5VDHKVEN9V5SXYETPDEESSP5ZYG3ZYG3ZYG3ZYG3ZYG3ZYG3ZYG3ZYG3ZYG3ZYG3ZYG3ZYG3ZYGS9Q5SQQQQQQQQQQQQQQQQSGQ2A25DXL5HRNTDTN6ZVYDT7D66HYZSYHQS4WDYNAVYS42XGL6SGX9C4G7ME86A27T07MDTFRY458RTJR0V92CNMSWPSJSCGT2VCSE3SGPZ3UAPA"
    assert decode_invoice(upper, network="bitcoin") == decode_invoice(
        upper.lower(), network="bitcoin"
    )
    assert upper.lower() == VALID_EXAMPLES[11][1]


def test_signature_breakdown_of_first_example():
    decoded = decode_invoice(VALID_EXAMPLES[0][1], network="bitcoin")
    assert decoded.signature == bytes.fromhex(
        "8d3ce9e28357337f62da0162d9454df827f83cfe499aeb1c1db349d4d8112742"
        "5e434ca29929406c23bba1ae8ac6ca32880b38d4bf6ff874024cac34ba9625f1"
    ) + bytes([1])


def test_high_s_signature_is_accepted_for_public_key_recovery():
    high_s = "lnbc1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpl2pkx2ctnv5sxxmmwwd5kgetjypeh2ursdae8g6twvus8g6rfwvs8qun0dfjkxaq9qrsgq357wnc5r2ueh7ck6q93dj32dlqnls087fxdwk8qakdyafkq3yap2r09nt4ndd0unm3z9u5t48y6ucv4r5sg7lk98c77ctvjczkspk5qprc90gx"
    decoded = decode_invoice(high_s, network="bitcoin")
    assert decoded.signature[32:64] == bytes.fromhex(
        "a1bcb35d66d6bf93dc445e51753935cc32a3a411efd8a7c7bd85b25815a01b50"
    )
    # Negating s without flipping the recovery id recovers a different key (Eclair's
    # test of this vector expects the same one).
    assert decoded.payee == "02d0139ce7427d6dfffd26a326c18be754ef1e64672b42694ba5b23ef6e6e7803d"
    assert decoded.description == "Please consider supporting this project"
    # Our signer always produces low-S: the same fields give the spec's first example.
    reencoded = encode_invoice(
        network="bitcoin",
        amount_msat=None,
        timestamp=decoded.timestamp,
        fields=decoded.tagged_fields,
        private_key=PRIVATE_KEY,
    )
    assert reencoded == VALID_EXAMPLES[0][1]


INVALID_EXAMPLES = [
    (
        "unknown required feature 100",
        "lnbc25m1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5vdhkven9v5sxyetpdeessp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygs9q4psqqqqqqqqqqqqqqqqsgqtqyx5vggfcsll4wu246hz02kp85x4katwsk9639we5n5yngc3yhqkm35jnjw4len8vrnqnf5ejh0mzj9n3vz2px97evektfm2l6wqccp3y7372",
        "unknown feature bit.*100",
    ),
    (
        "bech32 checksum is invalid",
        "lnbc2500u1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpquwpc4curk03c9wlrswe78q4eyqc7d8d0xqzpuyk0sg5g70me25alkluzd2x62aysf2pyy8edtjeevuv4p2d5p76r4zkmneet7uvyakky2zr4cusd45tftc9c5fh0nnqpnl2jfll544esqchsrnt",
        "checksum",
    ),
    (
        "malformed bech32 string (no 1)",
        "pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpquwpc4curk03c9wlrswe78q4eyqc7d8d0xqzpuyk0sg5g70me25alkluzd2x62aysf2pyy8edtjeevuv4p2d5p76r4zkmneet7uvyakky2zr4cusd45tftc9c5fh0nnqpnl2jfll544esqchsrny",
        "separator",
    ),
    (
        "malformed bech32 string (mixed case)",
        "LNBC2500u1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpquwpc4curk03c9wlrswe78q4eyqc7d8d0xqzpuyk0sg5g70me25alkluzd2x62aysf2pyy8edtjeevuv4p2d5p76r4zkmneet7uvyakky2zr4cusd45tftc9c5fh0nnqpnl2jfll544esqchsrny",
        "mixes upper and lower case",
    ),
    (
        "signature is not recoverable",
        "lnbc2500u1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5xysxxatsyp3k7enxv4jsxqzpusp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygs9qrsgqwgt7mcn5yqw3yx0w94pswkpq6j9uh6xfqqqtsk4tnarugeektd4hg5975x9am52rz4qskukxdmjemg92vvqz8nvmsye63r5ykel43pgz7zq0g2",
        "not recoverable",
    ),
    (
        "string is too short",
        "lnbc1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpl2pkx2ctnv5sxxmmwwd5kgetjypeh2ursdae8g6na6hlh",
        "too short",
    ),
    (
        "invalid multiplier",
        "lnbc2500x1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5xysxxatsyp3k7enxv4jsxqzpusp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygs9qrsgqrrzc4cvfue4zp3hggxp47ag7xnrlr8vgcmkjxk3j5jqethnumgkpqp23z9jclu3v0a7e0aruz366e9wqdykw6dxhdzcjjhldxq0w6wgqcnu43j",
        "multiplier 'x'",
    ),
    (
        "invalid sub-millisatoshi precision",
        "lnbc2500000001p1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5xysxxatsyp3k7enxv4jsxqzpusp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygs9qrsgq0lzc236j96a95uv0m3umg28gclm5lqxtqqwk32uuk4k6673k6n5kfvx3d2h8s295fad45fdhmusm8sjudfhlf6dcsxmfvkeywmjdkxcp99202x",
        "whole number of millisatoshi",
    ),
    (
        "missing required s field",
        "lnbc20m1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqhp58yjmdan79s6qqdhdzgynm4zwqd5d7xmw5fk98klysy043l2ahrqs9qrsgq7ea976txfraylvgzuxs8kgcw23ezlrszfnh8r6qtfpr6cxga50aj6txm9rxrydzd06dfeawfk6swupvz4erwnyutnjq7x39ymw6j38gp49qdkj",
        "payment_secret",
    ),
    (
        "high-S signature with n field",
        "lnbc25m1p70xwfzpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpl2pkx2ctnv5sxxmmwwd5kgetjypeh2ursdae8g6twvus8g6rfwvs8qun0dfjkxaqnp4q0n326hr8v9zprg8gsvezcch06gfaqqhde2aj730yg0durunfhv66sp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygs9qrsgqsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygsp5cfzp9ugllvk03rltd6hvndxj26ux6gcxc5azyxk060rj9tzghct5zvjlps76gx8wpq5yuu79688k8gnm2c0al6v608s96l0xzrrlqqwnzxmu",
        "low-S",
    ),
]


@pytest.mark.parametrize(
    ("invoice", "message"),
    [pytest.param(*example[1:], id=example[0]) for example in INVALID_EXAMPLES],
)
def test_invalid_example_is_rejected(invoice, message):
    with pytest.raises(Bolt11Error, match=message):
        decode_invoice(invoice, network="bitcoin")


# --- our own behaviour beyond the spec examples --------------------------------

NODE_KEY = bytes.fromhex("11" * 32)


def test_wrong_network_is_rejected_naming_the_invoice_network():
    with pytest.raises(Bolt11Error, match=r"network 'bitcoin' \(prefix lnbc\), expected 'regtest'"):
        decode_invoice(VALID_EXAMPLES[1][1], network="regtest")
    with pytest.raises(Bolt11Error, match="unknown network 'mainnet'"):
        decode_invoice(VALID_EXAMPLES[1][1], network="mainnet")


def test_unknown_currency_prefix_is_rejected():
    with pytest.raises(Bolt11Error, match="unknown invoice currency prefix 'lnxy'"):
        decode_invoice(bech32_encode("lnxy", [0] * 111), network=None)


def test_wrong_signature_is_rejected():
    invoice = create_invoice(
        private_key=NODE_KEY,
        network="regtest",
        payment_hash=PAYMENT_HASH,
        payment_secret=PAYMENT_SECRET,
        amount_msat=100_000,
        description="cat",
        include_payee=True,
        timestamp=TIMESTAMP,
    )
    decoded = decode_invoice(invoice, network="regtest")
    other_key = bytes.fromhex("22" * 32)
    forged = encode_invoice(
        network="regtest",
        amount_msat=100_000,
        timestamp=TIMESTAMP,
        fields=decoded.tagged_fields,
        private_key=other_key,
    )
    with pytest.raises(Bolt11Error, match="does not verify against payee"):
        decode_invoice(forged, network="regtest")


def test_created_regtest_invoice_round_trips():
    invoice = create_invoice(
        private_key=NODE_KEY,
        network="regtest",
        payment_hash=PAYMENT_HASH,
        payment_secret=PAYMENT_SECRET,
        amount_msat=100_000,
        description="a cat",
        expiry=600,
        min_final_cltv_expiry=9,
        features={8, 14, 17},
        metadata=b"\x01\x02",
        timestamp=TIMESTAMP,
        route_hints=[[RouteHintHop(PAYEE, 123 << 40 | 4 << 16 | 5, 1000, 10, 40)]],
        fallbacks=[Fallback(0, bytes(20))],
    )
    assert invoice.startswith("lnbcrt1u1")
    decoded = decode_invoice(invoice, network="regtest")
    assert decoded.amount_msat == 100_000
    assert decoded.payee == coincurve.PrivateKey(NODE_KEY).public_key.format().hex()
    assert (decoded.description, decoded.expiry, decoded.min_final_cltv_expiry) == ("a cat", 600, 9)
    assert decoded.features == frozenset({8, 14, 17})
    assert decoded.metadata == b"\x01\x02"
    assert decoded.route_hints[0][0].short_channel_id_str == "123x4x5"
    assert decoded.fallbacks == (Fallback(0, bytes(20)),)
    assert not decoded.is_expired(TIMESTAMP + 600)
    assert decoded.is_expired(TIMESTAMP + 601)


@pytest.mark.parametrize(
    ("amount_msat", "hrp"),
    [
        (1, "lnbcrt10p"),
        (100, "lnbcrt1n"),
        (100_000, "lnbcrt1u"),
        (100_000_000, "lnbcrt1m"),
        (100_000_000_000, "lnbcrt1"),
        (123_456_789, "lnbcrt1234567890p"),
        (250_000_000, "lnbcrt2500u"),
    ],
)
def test_amount_uses_the_largest_exact_multiplier(amount_msat, hrp):
    invoice = create_invoice(
        private_key=NODE_KEY,
        network="regtest",
        payment_hash=PAYMENT_HASH,
        payment_secret=PAYMENT_SECRET,
        amount_msat=amount_msat,
        description_hash=hashlib.sha256(b"x").digest(),
        timestamp=TIMESTAMP,
    )
    assert invoice.startswith(hrp + "1")
    assert decode_invoice(invoice, network="regtest").amount_msat == amount_msat


def test_both_description_and_hash_is_rejected():
    fields = [p, s, description_field("x"), h]
    invoice = encode_invoice(
        network="regtest",
        amount_msat=None,
        timestamp=TIMESTAMP,
        fields=fields,
        private_key=NODE_KEY,
    )
    with pytest.raises(Bolt11Error, match="exactly one description"):
        decode_invoice(invoice, network="regtest")
    with pytest.raises(Bolt11Error, match="exactly one of description or description_hash"):
        create_invoice(
            private_key=NODE_KEY,
            network="regtest",
            payment_hash=PAYMENT_HASH,
            payment_secret=PAYMENT_SECRET,
        )


def test_non_minimal_expiry_is_rejected():
    fields = [p, s, description_field("x"), raw_field("x", "qpu")]
    invoice = encode_invoice(
        network="regtest",
        amount_msat=None,
        timestamp=TIMESTAMP,
        fields=fields,
        private_key=NODE_KEY,
    )
    with pytest.raises(Bolt11Error, match="non-minimal"):
        decode_invoice(invoice, network="regtest")


def test_basic_mpp_without_payment_secret_feature_is_rejected():
    fields = [p, s, description_field("x"), features_field({8, 16})]
    invoice = encode_invoice(
        network="regtest",
        amount_msat=None,
        timestamp=TIMESTAMP,
        fields=fields,
        private_key=NODE_KEY,
    )
    with pytest.raises(Bolt11Error, match="dependency 14/15"):
        decode_invoice(invoice, network="regtest")


def test_lightning_uri_prefix_is_accepted():
    assert decode_invoice("lightning:" + VALID_EXAMPLES[0][1], network="bitcoin").payee == PAYEE
