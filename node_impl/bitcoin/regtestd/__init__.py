"""regtestd: an embedded Bitcoin regtest node speaking bitcoind's JSON-RPC.

Run it like bitcoind::

    python -m lnharness.node_impl.bitcoin.regtestd -regtest -datadir=DIR -rpcport=PORT
        [-rpcuser=U -rpcpassword=P] [-fallbackfee=0.0002] [-minrelaytxfee=0.00001] [-printtoconsole]

Blocks are validated and connected by libbitcoinkernel (py-bitcoinkernel); the mempool, UTXO and
transaction index (sqlite), wallet, miner and RPC server are ours. Files live in DIR/regtest/:
debug.log, .cookie (``__cookie__:<hex>`` when no -rpcpassword is given), index.sqlite (block log,
txindex, UTXO set), blocks/ and chainstate/ (the kernel's), wallets/, mempool.json.
The line ``init message: Done loading`` is logged once RPC is being served.

Test-only RPCs (not in bitcoind):

``setfeeestimate feerate``
    feerate in BTC/kvB; from then on estimatesmartfee returns it for every target (and the
    wallet uses it). Before the first call estimatesmartfee answers like a fresh bitcoind:
    ``{"errors": ["Insufficient data or no feerate found"], "blocks": 0}``.
``generateblockfrom parenthash address [transactions]``
    mines one block on top of any known block (transactions: raw hex or mempool txids) and
    submits it through the kernel like any other block; a branch with more work becomes the
    active chain (a reorg). Returns ``{"hash": ...}``.
"""
