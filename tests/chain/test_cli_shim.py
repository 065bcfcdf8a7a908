"""lnharness-bitcoin-cli run exactly as Core Lightning's bcli plugin runs bitcoin-cli.

lightningd runs `<cli> -regtest -datadir=D -rpcclienttimeout=60 -rpcconnect=H -rpcport=P
-rpcuser=U -stdinrpcpass -stdin METHOD` with the password and then one argument per line
on stdin, and reads stdout and stderr merged.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from lnharness.backend import FEATURE_SET_FEERATE, chain_backend_class
from lnharness.chain import Chain
from lnharness.p2wpkh import P2wpkhKey, Utxo
from lnharness.ports import release_port, reserve_port

from tests.chain.chain_fixture import chain_fixture  # noqa: F401  (the `chain` fixture)

SHIM = Path(sys.executable).parent / "lnharness-bitcoin-cli"
REGTEST_GENESIS = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"


def bcli(chain: Chain, method: str, *args: str, password: str | None = None,
         port: int | None = None, extra: tuple[str, ...] = ()) -> tuple[int, str]:
    backend = chain.backend
    cmd = [str(SHIM), "-regtest", f"-datadir={backend.datadir}", "-rpcclienttimeout=60",
           "-rpcconnect=127.0.0.1", f"-rpcport={port or backend.rpc_port}",
           f"-rpcuser={backend.rpcuser}", "-stdinrpcpass", *extra, "-stdin", method]
    stdin = (password if password is not None else backend.rpcpassword) + "\n"
    stdin += "".join(arg + "\n" for arg in args)
    proc = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=120)
    return proc.returncode, proc.stdout


def test_the_console_script_is_installed():
    assert SHIM.exists(), f"{SHIM} missing: pip install -e the project"


def test_startup_call_with_rpcwait(chain: Chain):
    status, out = bcli(chain, "getnetworkinfo", extra=("-rpcwait", "-rpcwaittimeout=30"))
    assert status == 0, out
    info = json.loads(out)
    assert info["version"] >= 220000 and info["localrelay"] is True


def test_rpcwait_times_out_with_exit_1_when_nothing_listens(chain: Chain):
    port = reserve_port()
    try:
        status, out = bcli(chain, "getnetworkinfo", port=port,
                           extra=("-rpcwait", "-rpcwaittimeout=1"))
    finally:
        release_port(port)
    assert status == 1
    assert out.startswith(f"error: timeout on transient error: Could not connect to the server "
                          f"127.0.0.1:{port}")


def test_no_server_without_rpcwait_is_exit_1(chain: Chain):
    port = reserve_port()
    try:
        status, out = bcli(chain, "getblockcount", port=port)
    finally:
        release_port(port)
    assert status == 1 and out.startswith("error: Could not connect to the server")


def test_getblockchaininfo_fields_bcli_reads(chain: Chain):
    status, out = bcli(chain, "getblockchaininfo")
    assert status == 0
    info = json.loads(out)
    assert info["chain"] == "regtest"
    assert (info["headers"], info["blocks"], info["initialblockdownload"]) == (101, 101, False)


def test_getblockhash_is_64_hex_and_missing_block_exits_8(chain: Chain):
    assert bcli(chain, "getblockhash", "0") == (0, REGTEST_GENESIS + "\n")
    status, out = bcli(chain, "getblockhash", "102")
    assert status == 8
    assert out == "error code: -8\nerror message:\nBlock height out of range\n"


def test_getblock_verbosity_0_is_the_raw_block(chain: Chain):
    block_hash = chain.rpc.getblockhash(7)
    status, out = bcli(chain, "getblock", block_hash, "0")
    assert status == 0 and re.fullmatch(r"[0-9a-f]+\n", out)
    assert out.strip() == chain.rpc.getblock(block_hash, 0)


def test_amounts_print_with_exactly_8_decimals(chain: Chain):
    status, out = bcli(chain, "getmempoolinfo")
    assert status == 0
    assert re.search(r'"minrelaytxfee": 0\.00001000,?\n', out), out
    assert re.search(r'"mempoolminfee": \d+\.\d{8},?\n', out), out


def test_estimatesmartfee_as_bcli_asks(chain: Chain):
    if not chain.supports(FEATURE_SET_FEERATE):
        pytest.skip(f"{chain.name} cannot set fee estimates")
    chain.set_feerate(sat_per_kvb=15_000)
    for target, mode in (("2", "CONSERVATIVE"), ("6", "ECONOMICAL"), ("12", "ECONOMICAL"),
                         ("100", "ECONOMICAL")):
        status, out = bcli(chain, "estimatesmartfee", target, mode)
        assert status == 0
        assert re.search(r'"feerate": 0\.00015000,?\n', out), out
        assert json.loads(out, parse_float=Decimal)["feerate"] == Decimal("0.00015000")


def test_sendrawtransaction_and_gettxout(chain: Chain):
    key = P2wpkhKey()
    block_hash = chain.generate_block(1, to_addr=key.address)[0]
    chain.generate_block(100)
    coinbase = chain.rpc.getblock(block_hash, 2)["tx"][0]
    amount_sat = int(coinbase["vout"][0]["value"] * 100_000_000)
    utxo = Utxo(coinbase["txid"], 0, amount_sat)
    dest = P2wpkhKey()
    tx = key.spend([utxo], [(dest.script_pubkey, amount_sat - 2_000)])

    status, out = bcli(chain, "gettxout", utxo.txid, "0")
    assert status == 0
    found = json.loads(out, parse_float=Decimal)
    assert found["value"] == Decimal(amount_sat) / 10**8
    assert re.search(r'"value": \d+\.\d{8},?\n', out), out
    assert found["scriptPubKey"]["hex"] == key.script_pubkey.hex()

    assert bcli(chain, "sendrawtransaction", tx.hex, "0") == (0, tx.txid + "\n")
    chain.generate_block(1, wait_for_mempool=tx.txid)
    assert bcli(chain, "gettxout", utxo.txid, "0") == (0, "")  # spent: empty, exit 0
    assert bcli(chain, "gettxout", "ab" * 32, "3") == (0, "")  # absent: empty, exit 0

    double = key.spend([utxo], [(P2wpkhKey().script_pubkey, amount_sat - 3_000)])
    status, out = bcli(chain, "sendrawtransaction", double.hex)
    assert status != 0 and out.startswith("error code: -")


def test_wrong_password_is_exit_1(chain: Chain):
    status, out = bcli(chain, "getblockcount", password="wrong")
    assert (status, out) == (1, "error: Authorization failed: Incorrect rpcuser or rpcpassword\n")


def test_datadir_alone_finds_the_rpc_settings(chain: Chain):
    proc = subprocess.run([str(SHIM), "-regtest", f"-datadir={chain.datadir}", "getblockcount"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    assert (proc.returncode, proc.stdout) == (0, "101\n")


def test_rpcwait_waits_for_a_chain_that_starts_later(directory: Path):
    backend = chain_backend_class("embedded")(directory)
    cmd = [str(SHIM), "-regtest", "-rpcclienttimeout=60", f"-rpcport={backend.rpc_port}",
           f"-rpcuser={backend.rpcuser}", "-stdinrpcpass", "-rpcwait", "-rpcwaittimeout=60",
           "-stdin", "getblockchaininfo"]
    waiting = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        waiting.stdin.write(backend.rpcpassword + "\n")  # type: ignore[union-attr]
        waiting.stdin.close()  # type: ignore[union-attr]
        backend.start()
        out = waiting.stdout.read()  # type: ignore[union-attr]  # the shim gives up after 60 s
        assert waiting.wait(timeout=60) == 0, out
        assert json.loads(out)["chain"] == "regtest"
        assert all(path.exists() for path in backend.log_files())
    finally:
        waiting.kill()
        backend.close()
