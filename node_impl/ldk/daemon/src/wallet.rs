//! Node and wallet methods: getinfo, newaddr, listfunds, withdraw, sync.

use std::str::FromStr;

use ldk_node::bitcoin::{Address, Network};
use serde_json::{json, Value};

use crate::channels;
use crate::daemon::Daemon;
use crate::jsonrpc::{Params, RpcError, RpcResult};

pub const VERSION: &str = concat!("lnh-ldkd ", env!("CARGO_PKG_VERSION"), " (ldk-node 0.7.0)");

/// `getinfo`: id, alias, height of the block the node has processed, peers and channels.
pub fn getinfo(daemon: &Daemon, _params: &Params) -> RpcResult {
    let node = &daemon.node;
    let status = node.status();
    let channels = node.list_channels();
    let binding: Vec<Value> = node
        .listening_addresses()
        .unwrap_or_default()
        .iter()
        .map(|a| {
            let text = a.to_string();
            let (address, port) = text.rsplit_once(':').unwrap_or((&text, "0"));
            json!({"type": "ipv4", "address": address, "port": port.parse::<u16>().unwrap_or(0)})
        })
        .collect();
    Ok(json!({
        "id": node.node_id().to_string(),
        "alias": node.node_alias().map(|a| a.to_string()),
        "network": "regtest",
        "version": VERSION,
        "blockheight": status.current_best_block.height,
        "num_peers": node.list_peers().iter().filter(|p| p.is_connected).count(),
        "num_active_channels": channels.iter().filter(|c| c.is_usable).count(),
        "num_pending_channels": channels.iter().filter(|c| !c.is_channel_ready).count(),
        "binding": binding,
    }))
}

/// `newaddr`: a fresh P2WPKH address of the on-chain wallet.
pub fn newaddr(daemon: &Daemon, params: &Params) -> RpcResult {
    match params.opt_str("addresstype")? {
        None | Some("bech32") | Some("all") => {}
        Some(other) => {
            return Err(RpcError::params(format!(
            "newaddr: addresstype {other:?} is not offered; the wallet gives bech32 (P2WPKH) only"
        )))
        }
    }
    let address = daemon
        .node
        .onchain_payment()
        .new_address()
        .map_err(|e| RpcError::node(format!("newaddr: {e}")))?;
    Ok(json!({"bech32": address.to_string()}))
}

/// `listfunds`: on-chain balances and our channels' funds. ldk-node does not list its
/// wallet's outputs, so `outputs` is absent and `onchain` gives the wallet's totals.
pub fn listfunds(daemon: &Daemon, _params: &Params) -> RpcResult {
    let balances = daemon.node.list_balances();
    let channels: Vec<Value> = channels::refresh_snapshot(daemon)
        .into_iter()
        .map(|c| {
            json!({
                "peer_id": c["peer_id"],
                "connected": c["peer_connected"],
                "state": c["state"],
                "channel_id": c["channel_id"],
                "short_channel_id": c["short_channel_id"],
                "our_amount_msat": c["to_us_msat"],
                "amount_msat": c["total_msat"],
                "funding_txid": c["funding_txid"],
                "funding_output": c["funding_outnum"],
            })
        })
        .collect();
    Ok(json!({
        "onchain": {
            "total_sat": balances.total_onchain_balance_sats,
            "spendable_sat": balances.spendable_onchain_balance_sats,
            "anchor_reserve_sat": balances.total_anchor_channels_reserve_sats,
        },
        "lightning_sat": balances.total_lightning_balance_sats,
        "channels": channels,
    }))
}

/// `withdraw destination satoshi`: send on-chain; `satoshi` "all" empties the wallet (less
/// the anchor reserve).
pub fn withdraw(daemon: &Daemon, params: &Params) -> RpcResult {
    let text = params.str("destination")?;
    let address = Address::from_str(text)
        .ok()
        .and_then(|a| a.require_network(Network::Regtest).ok())
        .ok_or_else(|| RpcError::params(format!("withdraw: {text:?} is not a regtest address")))?;
    let onchain = daemon.node.onchain_payment();
    let sent = if params.opt_str("satoshi")? == Some("all") {
        onchain.send_all_to_address(&address, true, None)
    } else {
        onchain.send_to_address(&address, params.u64("satoshi")?, None)
    };
    let txid = sent.map_err(|e| RpcError::node(format!("withdraw: {e}")))?;
    Ok(json!({"txid": txid.to_string()}))
}

/// `sync`: poll the chain now rather than at the next 2-second tick; answers the height.
pub fn sync(daemon: &Daemon, _params: &Params) -> RpcResult {
    daemon
        .node
        .sync_wallets()
        .map_err(|e| RpcError::node(format!("sync: {e}")))?;
    Ok(json!({"blockheight": daemon.node.status().current_best_block.height}))
}
