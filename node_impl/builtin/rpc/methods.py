"""RPC methods of the daemon shell (Core Lightning's names and result shapes).

getinfo, newaddr, listfunds, withdraw, connect, disconnect, listpeers, invoice, listinvoices,
waitinvoice, decodepay, stop, help. Channel, payment and gossip methods are registered by their
own subsystems on `node.rpc`.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import TYPE_CHECKING, Any

from coincurve import PublicKey

from ..chain.wallet import WalletError, address_to_script
from ..chain.watcher import ChainRpcError, ChainUnavailable
from ..channel.machine import CLOSED, OPENING
from ..core.jsonrpc import INVALID_PARAMS, RpcError, param_error
from ..net import transport
from ..net.peer import PeerRefused
from ..payments.invoices import DEFAULT_EXPIRY_S, InvoiceError
from ..wire import bolt11

if TYPE_CHECKING:
    from ..node import Node

# Core Lightning's error codes
LIGHTNINGD = -1
CONNECT_FAILED = 401
WITHDRAW_FAILED = 301
INVOICE_LABEL_EXISTS = 900
INVOICE_EXPIRED_DURING_WAIT = 903
DEFAULT_PEER_PORT = 9735
WITHDRAW_FALLBACK_PERKW = 1000


def parse_node_id(value: Any, name: str = "id") -> bytes:
    """A 33-byte compressed public key given as hex."""
    if not isinstance(value, str):
        raise param_error(name, f"expected a hex node id, got {type(value).__name__}")
    try:
        raw = bytes.fromhex(value)
        PublicKey(raw)
    except ValueError:
        raise param_error(name, f"not a valid node id: {value!r}") from None
    if len(raw) != 33:
        raise param_error(name, f"node id must be 33 bytes, got {len(raw)}")
    return raw


def parse_msat(value: Any, name: str, *, allow_any: bool = False) -> int | None:
    """An msat amount: int, 'Nmsat' or 'Nsat' ('any' -> None when allowed)."""
    if allow_any and value == "any":
        return None
    if isinstance(value, bool):
        raise param_error(name, "expected an amount in msat")
    if isinstance(value, int):
        amount = value
    elif isinstance(value, str) and value.endswith("msat") and value[:-4].isdigit():
        amount = int(value[:-4])
    elif isinstance(value, str) and value.endswith("sat") and value[:-3].isdigit():
        amount = int(value[:-3]) * 1000
    elif isinstance(value, str) and value.isdigit():
        amount = int(value)
    else:
        expected = "an amount in msat or 'any'" if allow_any else "an amount in msat"
        raise param_error(name, f"expected {expected}, got {value!r}")
    if amount < 0:
        raise param_error(name, f"must not be negative, got {amount}")
    return amount


def parse_sat(value: Any, name: str) -> int:
    """An on-chain amount in sat: int, 'N', 'Nsat' or 'Nmsat' (whole sat)."""
    if isinstance(value, str) and value.endswith("sat") and not value.endswith("msat"):
        value = value[:-3]
    if isinstance(value, str) and value.endswith("msat") and value[:-4].isdigit():
        msat = int(value[:-4])
        if msat % 1000:
            raise param_error(name, f"{value} is not a whole number of satoshi")
        return msat // 1000
    return parse_int(value, name, minimum=1)


def parse_int(value: Any, name: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        else:
            raise param_error(name, f"expected an integer, got {value!r}")
    if value < minimum:
        raise param_error(name, f"must be at least {minimum}, got {value}")
    return value


def parse_str(value: Any, name: str) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # Core Lightning accepts numeric labels
    if not isinstance(value, str):
        raise param_error(name, f"expected a string, got {type(value).__name__}")
    return value


async def parse_feerate_perkw(node: Node, value: Any, name: str = "feerate") -> int:
    """'slow'|'normal'|'urgent', 'Nperkw', 'Nperkb' or an int (sat per kvB) -> sat per kw."""
    targets = {"urgent": 2, "normal": 6, "slow": 12}
    if value is None or value in targets:
        blocks = targets.get(value or "normal", 6)
        return await node.chain.estimate_feerate_perkw(blocks, WITHDRAW_FALLBACK_PERKW)
    if isinstance(value, str) and value.endswith("perkw") and value[:-5].isdigit():
        perkw = int(value[:-5])
    elif isinstance(value, str) and value.endswith("perkb") and value[:-5].isdigit():
        perkw = int(value[:-5]) // 4
    elif isinstance(value, int) and not isinstance(value, bool):
        perkw = value // 4
    else:
        raise param_error(name, f"expected slow|normal|urgent, NNNperkw, NNNperkb or an integer, got {value!r}")
    if perkw < 253:
        raise param_error(name, f"{perkw} sat/kw is below the 253 sat/kw minimum")
    return perkw


def channel_counts(node: Node) -> dict[bytes, int]:
    """Per peer, the channels that keep it listed by listpeers: all but failed opens and
    channels closed and fully resolved on chain (which Core Lightning forgets)."""
    counts: dict[bytes, int] = {}
    for chan in getattr(node.channels, "channels", {}).values():
        if chan.state not in (OPENING, CLOSED):
            counts[chan.peer_id] = counts.get(chan.peer_id, 0) + 1
    return counts


def listed_peer_ids(node: Node) -> set[bytes]:
    """The peers listpeers shows: connected ones and those we have a channel with."""
    return {p.node_id for p in node.peers.peers.values() if p.connected} | set(channel_counts(node))


def register_daemon_methods(node: Node) -> None:
    """Register this module's handlers on `node.rpc`."""

    async def getinfo() -> dict[str, Any]:
        """Summary of this node."""
        info: dict[str, Any] = {
            "id": node.node_id.hex(), "alias": node.alias, "color": node.color,
            "num_peers": len(listed_peer_ids(node)),  # as Core Lightning: connected or with channels
            "num_active_channels": node.channels.num_active_channels(),
            "blockheight": node.blockheight, "network": node.network,
            "address": [], "binding": [],
            "version": "lnharness-builtin-0.1", "lightning-dir": str(node.config.lightning_dir),
            "our_features": {"init": node.peers.our_features.to_bytes().hex(),
                             "invoice": _feature_hex(bolt11.DEFAULT_INVOICE_FEATURES)},
        }
        if node.listen_address:
            host, port = node.listen_address
            info["binding"].append({"type": "ipv4", "address": host, "port": port})
            info["address"].append({"type": "ipv4", "address": host, "port": port})
        if not node.chain.configured:
            info["warning_bitcoind_sync"] = "No chain backend configured."
        elif not node.watcher.synced:
            info["warning_lightningd_sync"] = "Still loading latest blocks from bitcoind."
        return info

    async def newaddr(addresstype: str = "bech32") -> dict[str, Any]:
        """A fresh on-chain address of the wallet (P2WPKH)."""
        if addresstype not in ("bech32", "all"):
            raise param_error("addresstype", f"only bech32 is supported, got {addresstype!r}")
        address, _ = node.wallet.new_address()
        return {"bech32": address}

    async def listfunds(spent: Any = False) -> dict[str, Any]:
        """Wallet outputs (spent ones too with spent=true) and channel funds."""
        if not isinstance(spent, bool):
            raise param_error("spent", f"expected true or false, got {spent!r}")
        return {"outputs": node.wallet.listfunds_outputs(include_spent=spent),
                "channels": node.channels.listfunds_channels()}

    async def withdraw(destination: Any, satoshi: Any, feerate: Any = None, minconf: Any = 1) -> dict[str, Any]:
        """Send on-chain funds to an address ('all' sends everything)."""
        dest = parse_str(destination, "destination")
        try:
            script = address_to_script(dest, node.network)
        except WalletError as exc:
            raise param_error("destination", str(exc)) from None
        send_all = satoshi == "all"
        amount_sat = 0 if send_all else parse_sat(satoshi, "satoshi")
        perkw = await parse_feerate_perkw(node, feerate)
        try:
            tx = node.wallet.fund_tx([(script, amount_sat)], perkw, minconf=parse_int(minconf, "minconf"),
                                     send_all=send_all)
        except WalletError as exc:
            raise RpcError(WITHDRAW_FAILED, str(exc)) from None
        tx_hex = tx.serialize().hex()
        try:
            txid = await node.chain.sendrawtransaction(tx_hex)
        except (ChainRpcError, ChainUnavailable) as exc:
            node.wallet.release(tx)
            raise RpcError(WITHDRAW_FAILED, f"broadcast failed: {exc}") from None
        node.wallet.note_broadcast(tx)
        return {"tx": tx_hex, "txid": txid}

    async def connect(id: Any, host: Any = None, port: Any = None) -> dict[str, Any]:
        """Connect to a peer: id[@host[:port]] or id with host and port."""
        text = parse_str(id, "id")
        node_hex, _, where = text.partition("@")
        if where:
            if host is not None:
                raise param_error("host", "given twice (in id and as host)")
            host_part, sep, port_part = where.rpartition(":")
            if sep and port_part.isdigit():
                host, port = host_part, int(port_part)
            else:
                host = where
        node_id = parse_node_id(node_hex)
        if node_id == node.node_id:
            raise param_error("id", "cannot connect to ourselves")
        if host is None:
            known = node.peers.known_address(node_id)
            if known is None and node.peers.get(node_id) is None:
                raise RpcError(CONNECT_FAILED, f"no address known for {node_hex}: give host and port")
            host, port = known or (None, None)
        port_num = DEFAULT_PEER_PORT if port is None else parse_int(port, "port", minimum=1)
        try:
            peer = node.peers.get(node_id) or await node.peers.connect(node_id, parse_str(host, "host"), port_num)
        except (transport.ConnectionFailed, transport.HandshakeError, PeerRefused,
                asyncio.TimeoutError) as exc:
            raise RpcError(CONNECT_FAILED, f"connecting to {node_hex}@{host}:{port_num}: {exc}") from None
        address: dict[str, Any] = {"type": "ipv4"}
        if peer.address:
            address.update(address=peer.address[0], port=peer.address[1])
        return {"id": peer.id_hex, "features": peer.features.to_bytes().hex(), "direction": peer.direction,
                "address": address}

    async def disconnect(id: Any, force: Any = False) -> dict[str, Any]:
        """Disconnect a connected peer; as Core Lightning, refused while a channel needs the
        peer unless `force`.

        A forced disconnect does not release such a peer: the node dials it again on its own
        (about a second later, then with growing pauses) unless it runs with --no-reconnect
        (Core Lightning's --dev-no-reconnect). Only the side that dialled knows the peer's
        address, so the peer may be the one that reconnects."""
        node_id = parse_node_id(id)
        if not isinstance(force, bool):
            raise param_error("force", "expected true or false")
        busy = node.channels.states_needing_peer(node_id)
        if busy and not force and node.peers.get(node_id) is not None:
            raise RpcError(LIGHTNINGD, f"Peer has (at least one) channel in state {busy[0]}")
        if not await node.peers.disconnect(node_id, "disconnect requested over RPC"):
            raise RpcError(LIGHTNINGD, f"Peer not connected: {id}")
        return {}

    async def listpeers(id: Any = None) -> dict[str, Any]:
        """Connected peers and, like Core Lightning, disconnected ones we have a channel with
        (`connected: false`, no netaddr); or only the one with `id`."""
        wanted = parse_node_id(id) if id is not None else None
        counts = channel_counts(node)
        entries: dict[bytes, dict[str, Any]] = {}
        for peer in node.peers.peers.values():
            if peer.connected:
                entries[peer.node_id] = peer.info() | {"num_channels": counts.get(peer.node_id, 0)}
        for peer_id, count in counts.items():
            entries.setdefault(peer_id, {"id": peer_id.hex(), "connected": False, "num_channels": count})
        return {"peers": [entries[k] for k in sorted(entries) if wanted is None or k == wanted]}

    async def invoice(amount_msat: Any, label: Any, description: Any, expiry: Any = None,
                      fallbacks: Any = None, preimage: Any = None) -> dict[str, Any]:
        """Create an invoice ('any' for no amount)."""
        amount = parse_msat(amount_msat, "amount_msat", allow_any=True)
        if amount == 0:
            raise param_error("amount_msat", "must be positive or 'any'")
        preimage_bytes = None
        if preimage is not None:
            try:
                preimage_bytes = bytes.fromhex(parse_str(preimage, "preimage"))
            except ValueError:
                raise param_error("preimage", "expected 64 hex characters") from None
            if len(preimage_bytes) != 32:
                raise param_error("preimage", f"must be 32 bytes, got {len(preimage_bytes)}")
        if fallbacks is not None:
            raise param_error("fallbacks", "not supported by this node")
        try:
            record = node.invoices.create(
                amount_msat=amount, label=parse_str(label, "label"),
                description=parse_str(description, "description"),
                expiry_s=parse_int(expiry, "expiry", minimum=1) if expiry is not None
                else DEFAULT_EXPIRY_S,
                preimage=preimage_bytes)
        except InvoiceError as exc:
            code = INVOICE_LABEL_EXISTS if "Duplicate label" in str(exc) else LIGHTNINGD
            raise RpcError(code, str(exc)) from None
        except bolt11.Bolt11Error as exc:
            raise RpcError(INVALID_PARAMS, f"invoice: {exc}") from None
        return {"payment_hash": record.payment_hash.hex(), "expires_at": record.expires_at,
                "bolt11": record.bolt11, "payment_secret": record.payment_secret.hex(),
                "created_index": record.created_index}

    async def listinvoices(label: Any = None, invstring: Any = None,
                           payment_hash: Any = None) -> dict[str, Any]:
        """Invoices, optionally filtered by label, bolt11 string or payment hash."""
        records = node.invoices.list()
        if label is not None:
            records = [r for r in records if r.label == parse_str(label, "label")]
        if invstring is not None:
            records = [r for r in records if r.bolt11 == invstring]
        if payment_hash is not None:
            records = [r for r in records if r.payment_hash.hex() == str(payment_hash).lower()]
        return {"invoices": [r.to_rpc() for r in records]}

    async def waitinvoice(label: Any) -> dict[str, Any]:
        """Wait until the invoice is paid; error 903 if it expires first."""
        try:
            record = await node.invoices.wait_settled(parse_str(label, "label"))
        except InvoiceError as exc:
            raise RpcError(LIGHTNINGD, str(exc)) from None
        if record.status() == "expired":
            raise RpcError(INVOICE_EXPIRED_DURING_WAIT, "invoice expired during wait",
                           data=record.to_rpc())
        return record.to_rpc()

    async def stop() -> str:
        """Shut the node down gracefully."""
        asyncio.get_running_loop().call_soon(node.request_stop)
        return "Shutdown complete"

    async def help(command: Any = None) -> dict[str, Any]:
        """Commands this node offers."""
        names = node.rpc.names()
        if command is not None:
            if command not in names:
                raise RpcError(-32601, f"Unknown command '{command}'")
            names = [command]
        return {"help": [{"command": node.rpc.usage(n), "description": node.rpc.description(n)}
                         for n in names]}

    for handler in (getinfo, newaddr, listfunds, withdraw, connect, disconnect, listpeers,
                    invoice, listinvoices, waitinvoice, stop, help):
        node.rpc.register(handler.__name__, handler)
    node.rpc.register("decodepay", _make_decodepay(node))


def _make_decodepay(node: Node) -> Any:
    # a closure so the RPC parameter can be called `bolt11` like Core Lightning's
    async def decodepay(bolt11: Any, description: Any = None) -> dict[str, Any]:
        """Decode a BOLT 11 invoice (must be for this node's network); `description` is checked
        against the invoice's description hash."""
        decoded = decode_invoice_for_rpc(parse_str(bolt11, "bolt11"), node.network)
        if description is not None:
            digest = hashlib.sha256(parse_str(description, "description").encode()).hexdigest()
            if decoded.get("description_hash") != digest:
                raise param_error("description", "does not match the invoice's description hash")
            decoded["description"] = description
        return decoded
    return decodepay


def decode_invoice_for_rpc(text: str, network: str) -> dict[str, Any]:
    """Core Lightning's decodepay fields for an invoice; -32602 naming what is wrong."""
    try:
        inv = bolt11.decode_invoice(text, network=network)
    except bolt11.Bolt11Error as exc:
        raise RpcError(INVALID_PARAMS, f"Invalid bolt11: {exc}") from None
    result: dict[str, Any] = {
        "currency": bolt11.NETWORK_PREFIXES[inv.network], "created_at": inv.timestamp,
        "expiry": inv.expiry, "payee": inv.payee, "payment_hash": inv.payment_hash.hex(),
        "payment_secret": inv.payment_secret.hex(), "min_final_cltv_expiry": inv.min_final_cltv_expiry,
        "signature": inv.signature[:64].hex(),
        "features": _feature_hex(inv.features),
    }
    if inv.amount_msat is not None:
        result["amount_msat"] = inv.amount_msat
    if inv.description is not None:
        result["description"] = inv.description
    if inv.description_hash is not None:
        result["description_hash"] = inv.description_hash.hex()
    if inv.route_hints:
        result["routes"] = [[{"pubkey": hop.pubkey, "short_channel_id": hop.short_channel_id_str,
                              "fee_base_msat": hop.fee_base_msat,
                              "fee_proportional_millionths": hop.fee_proportional_millionths,
                              "cltv_expiry_delta": hop.cltv_expiry_delta} for hop in route]
                            for route in inv.route_hints]
    witness_fallbacks = [f for f in inv.fallbacks if f.version <= 16]
    if witness_fallbacks:
        result["fallbacks"] = [
            {"type": f"witness v{f.version}",
             "hex": (bytes([0x50 + f.version if f.version else 0, len(f.program)]) + f.program).hex()}
            for f in witness_fallbacks]
    if inv.metadata is not None:
        result["payment_metadata"] = inv.metadata.hex()
    return result


def _feature_hex(bits: frozenset[int]) -> str:
    value = 0
    for bit in bits:
        value |= 1 << bit
    return value.to_bytes((value.bit_length() + 7) // 8, "big").hex()
