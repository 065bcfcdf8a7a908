"""The bitcoind dialect regtestd speaks: which Bitcoin Core release it answers as, and the
constants and defaults of that release its RPC results and limits are built from.

One place on purpose: a client (lnd's btcd rpcclient, Core Lightning, LDK) picks features
from `version`/`subversion`, so every field that depends on the release lives here.
"""

from __future__ import annotations

# -- identity (getnetworkinfo) ------------------------------------------------------------
# btcd's rpcclient compares the subversion as a *string* against "0.19.0", "22.0.0",
# "24.0.0" and "25.0.0"; a two-digit major from 25 to 99 is read as "25.0.0 and above".
CLIENT_VERSION = 300000
SUBVERSION = "/Satoshi:30.0.0/"
PROTOCOL_VERSION = 70016
LOCAL_SERVICES = "0000000000000c09"  # NETWORK | WITNESS | NETWORK_LIMITED | P2P_V2
LOCAL_SERVICES_NAMES = ["NETWORK", "WITNESS", "NETWORK_LIMITED", "P2P_V2"]

# -- chain state --------------------------------------------------------------------------
MAX_TIP_AGE_SECONDS = 24 * 3600  # -maxtipage: older tip = initial block download

# Regtest deployments as getdeploymentinfo reports them on v30 (taproot is still a bip9
# deployment there, "always active" from genesis; v31 buries it).
BURIED_DEPLOYMENT_HEIGHTS = {"bip34": 1, "bip66": 1, "bip65": 1, "csv": 1, "segwit": 0}
BIP9_NO_TIMEOUT = 9223372036854775807
BIP9_ALWAYS_ACTIVE = -1

# -- fees and mempool ---------------------------------------------------------------------
DEFAULT_MAX_FEERATE_SAT_PER_KVB = 10_000_000  # sendrawtransaction/testmempoolaccept: 0.10 BTC/kvB
MAX_FEERATE_ARG_SAT_PER_KVB = 100_000_000  # a maxfeerate of 1 BTC/kvB or more is refused
MAX_MEMPOOL_BYTES = 300_000_000
MAX_DATACARRIER_BYTES = 100_000  # -datacarriersize default since v30
PERMIT_BARE_MULTISIG = True

# -- JSON-RPC transport -------------------------------------------------------------------
MAX_BODY_BYTES = 32 * 1024 * 1024  # Core's MAX_SIZE for an HTTP request body
MAX_JSON_DEPTH = 512  # UniValue's MAX_JSON_DEPTH: deeper is a parse error
# Our own bound (Core has none besides the body size): lnd's btcwallet sends at most 1000
# calls per batch; a bigger batch is answered with one -32600 error, none of it executed.
MAX_BATCH_REQUESTS = 5000
