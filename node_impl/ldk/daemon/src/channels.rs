//! Channel methods: fundchannel, listpeerchannels, listclosedchannels, close.
//!
//! Channels are described in Core Lightning's `listpeerchannels` shape. ldk-node forgets a
//! channel once it closed, so the event loop keeps its last description (state `ONCHAIN`).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::{ChannelDetails, LightningBalance};
use serde_json::{json, Value};

use crate::daemon::{lock, Daemon, OpenOutcome};
use crate::jsonrpc::{hex, Params, RpcError, RpcResult};
use crate::peers::parse_node_id;

/// Core Lightning's error code when the wallet cannot fund a channel.
const FUNDING_CANNOT_AFFORD: i64 = 301;
const OPEN_TIMEOUT: Duration = Duration::from_secs(60);
/// The reason a force close over RPC gives (and the peer is told).
const FORCE_CLOSE_REASON: &str = "force close requested over RPC";

/// A short channel id as BLOCKxTXxOUTPUT.
pub fn scid_text(scid: u64) -> String {
    format!(
        "{}x{}x{}",
        scid >> 40,
        (scid >> 16) & 0xFF_FFFF,
        scid & 0xFFFF
    )
}

/// The value of the two anchor outputs of an anchor channel, paid from the opener's side.
const ANCHORS_MSAT: u64 = 2 * 330 * 1000;
/// Below this our output is left out of our commitment transaction (LDK's dust limit).
const HOLDER_DUST_LIMIT_SAT: u64 = 354;

/// Weight of a commitment transaction without HTLC outputs (BOLT 3): anchor channels.
const ANCHOR_COMMITMENT_WEIGHT: u64 = 1124;

/// What the channel monitor says we would claim if the channel closed now: our commitment
/// output (0 when it is dust) and, as the opener, the commitment's fee.
#[derive(Clone, Copy, Default)]
struct Claimable {
    amount_sat: u64,
    fee_sat: u64,
}

/// Our balance in a channel, in msat (as Core Lightning's `to_us_msat`).
///
/// ldk-node reports what each side can send, not balances; ours follows from one side's
/// capacity and reserve: the peer's when it has more than its reserve (exact), else ours
/// (exact too, except for the opener's anchor outputs, which neither capacity counts). Where
/// the anchors' 660 sat must be told apart, the close-time claim decides: as the opener,
/// whether the commitment's fee is an anchor commitment's; as the acceptor, which amount
/// matches our commitment output (or is below the dust limit when we have none).
fn to_us_msat(channel: &ChannelDetails, claimable: Claimable) -> u64 {
    let ours =
        channel.outbound_capacity_msat + channel.unspendable_punishment_reserve.unwrap_or(0) * 1000;
    let value_less_theirs = (channel.channel_value_sats * 1000).saturating_sub(
        channel.inbound_capacity_msat + channel.counterparty_unspendable_punishment_reserve * 1000,
    );
    if channel.is_outbound {
        if channel.inbound_capacity_msat > 0 {
            return value_less_theirs;
        }
        let anchor_fee =
            u64::from(channel.feerate_sat_per_1000_weight) * ANCHOR_COMMITMENT_WEIGHT / 1000;
        let anchors = if claimable.fee_sat >= anchor_fee {
            ANCHORS_MSAT
        } else {
            0
        };
        return ours + anchors;
    }
    if channel.outbound_capacity_msat > 0 {
        return ours;
    }
    let fits = |msat: u64| {
        msat / 1000 == claimable.amount_sat
            || (claimable.amount_sat == 0 && msat / 1000 < HOLDER_DUST_LIMIT_SAT)
    };
    [
        value_less_theirs,
        value_less_theirs.saturating_sub(ANCHORS_MSAT),
    ]
    .into_iter()
    .find(|&msat| fits(msat))
    .unwrap_or(claimable.amount_sat * 1000)
}

fn state(channel: &ChannelDetails, connected: bool) -> &'static str {
    match (channel.funding_txo.is_some(), channel.is_channel_ready) {
        (false, _) => "OPENINGD",
        (true, false) => "CHANNELD_AWAITING_LOCKIN",
        // ready and connected but not usable: a shutdown is under way
        (true, true) if connected && !channel.is_usable => "CHANNELD_SHUTTING_DOWN",
        (true, true) => "CHANNELD_NORMAL",
    }
}

/// Every open channel in Core Lightning's shape; also refreshes the daemon's snapshot.
pub fn refresh_snapshot(daemon: &Daemon) -> Vec<Value> {
    let node = &daemon.node;
    let connected: HashSet<PublicKey> = node
        .list_peers()
        .into_iter()
        .filter(|p| p.is_connected)
        .map(|p| p.node_id)
        .collect();
    let claimable: HashMap<[u8; 32], Claimable> = node
        .list_balances()
        .lightning_balances
        .into_iter()
        .filter_map(|balance| match balance {
            LightningBalance::ClaimableOnChannelClose {
                channel_id,
                amount_satoshis,
                transaction_fee_satoshis,
                ..
            } => Some((
                channel_id.0,
                Claimable {
                    amount_sat: amount_satoshis,
                    fee_sat: transaction_fee_satoshis,
                },
            )),
            _ => None,
        })
        .collect();
    let entries: Vec<Value> = node
        .list_channels()
        .iter()
        .map(|c| {
            let peer_connected = connected.contains(&c.counterparty_node_id);
            json!({
                "peer_id": c.counterparty_node_id.to_string(),
                "peer_connected": peer_connected,
                "state": state(c, peer_connected),
                "channel_id": hex(&c.channel_id.0),
                "user_channel_id": c.user_channel_id.0.to_string(),
                "short_channel_id": c.short_channel_id.map(scid_text),
                "funding_txid": c.funding_txo.map(|o| o.txid.to_string()),
                "funding_outnum": c.funding_txo.map(|o| o.vout),
                "opener": if c.is_outbound { "local" } else { "remote" },
                "private": !c.is_announced,
                "total_msat": c.channel_value_sats * 1000,
                "to_us_msat": to_us_msat(c, claimable.get(&c.channel_id.0).copied().unwrap_or_default()),
                "spendable_msat": c.next_outbound_htlc_limit_msat,
                "receivable_msat": c.inbound_capacity_msat,
                "our_reserve_msat": c.unspendable_punishment_reserve.map(|r| r * 1000),
                "their_reserve_msat": c.counterparty_unspendable_punishment_reserve * 1000,
                "feerate": {"perkw": c.feerate_sat_per_1000_weight},
                "minimum_depth": c.confirmations_required,
                "confirmations": c.confirmations,
                "usable": c.is_usable,
            })
        })
        .collect();
    let mut snapshot = lock(&daemon.open_channels);
    for entry in &entries {
        if let Some(id) = entry["channel_id"].as_str() {
            snapshot.insert(id.to_string(), entry.clone());
        }
    }
    entries
}

/// `listpeerchannels [id]`: open channels, then closed ones the node still remembers.
pub fn listpeerchannels(daemon: &Daemon, params: &Params) -> RpcResult {
    let peer = params
        .opt_str("id")?
        .map(parse_node_id)
        .transpose()?
        .map(|id| id.to_string());
    let mut channels = refresh_snapshot(daemon);
    channels.extend(
        lock(&daemon.closed)
            .values()
            .map(|(_, entry)| entry.clone()),
    );
    channels.retain(|c| peer.as_deref().is_none_or(|p| c["peer_id"] == p));
    Ok(json!({"channels": channels}))
}

/// `listclosedchannels`: the channels that closed, as last seen open.
pub fn listclosedchannels(daemon: &Daemon, _params: &Params) -> RpcResult {
    let closed: Vec<Value> = lock(&daemon.closed)
        .values()
        .map(|(_, e)| e.clone())
        .collect();
    Ok(json!({"closedchannels": closed}))
}

/// `fundchannel id amount [push_msat] [announce]`: open a channel to a connected peer and
/// answer once the funding transaction is broadcast.
pub fn fundchannel(daemon: &Daemon, params: &Params) -> RpcResult {
    let node_id = parse_node_id(params.str("id")?)?;
    let amount_sat = params.u64("amount")?;
    if amount_sat == 0 {
        return Err(RpcError::params(
            "fundchannel: parameter \"amount\" must be positive",
        ));
    }
    let push_msat = params.amount_msat("push_msat", None)?.unwrap_or(0);
    if push_msat > amount_sat * 1000 {
        return Err(RpcError::params(
            "fundchannel: push_msat exceeds the channel's amount",
        ));
    }
    let announce = params.opt_bool("announce")?.unwrap_or(true);
    let node = &daemon.node;
    let address = node
        .list_peers()
        .into_iter()
        .find(|p| p.node_id == node_id && p.is_connected)
        .map(|p| p.address)
        .ok_or_else(|| RpcError::node(format!("fundchannel: peer {node_id} is not connected")))?;
    let push = (push_msat > 0).then_some(push_msat);
    let opened = if announce {
        node.open_announced_channel(node_id, address, amount_sat, push, None)
    } else {
        node.open_channel(node_id, address, amount_sat, push, None)
    };
    let user_channel_id = opened.map_err(|e| match e {
        ldk_node::NodeError::InsufficientFunds => RpcError::new(
            FUNDING_CANNOT_AFFORD,
            format!("fundchannel: the wallet cannot fund {amount_sat} sat: {e}"),
        ),
        other => RpcError::node(format!("fundchannel: {other}")),
    })?;
    let outcome = daemon.wait_until(OPEN_TIMEOUT, || {
        Ok(lock(&daemon.opens).get(&user_channel_id.0).cloned())
    })?;
    match outcome {
        Some(OpenOutcome::Pending {
            txid,
            outnum,
            channel_id,
        }) => Ok(json!({"txid": txid, "outnum": outnum, "channel_id": channel_id})),
        Some(OpenOutcome::Failed(reason)) => Err(RpcError::node(format!(
            "fundchannel: the peer did not open the channel: {reason}"
        ))),
        None => Err(RpcError::node(format!(
            "fundchannel: no funding transaction within {}s (user channel id {})",
            OPEN_TIMEOUT.as_secs(),
            user_channel_id.0
        ))),
    }
}

/// `close id [unilateraltimeout]`: close the channel `id` (a channel id or a peer's node id
/// with exactly one channel) mutually, or at once unilaterally when `unilateraltimeout` is
/// given and not 0. The closing transaction goes out afterwards; ldk-node does not say which.
pub fn close(daemon: &Daemon, params: &Params) -> RpcResult {
    let id = params.str("id")?;
    let force = params.opt_u64("unilateraltimeout")?.is_some_and(|t| t > 0);
    let channels = daemon.node.list_channels();
    let matching: Vec<&ChannelDetails> = channels
        .iter()
        .filter(|c| hex(&c.channel_id.0) == id || c.counterparty_node_id.to_string() == id)
        .collect();
    let channel = match matching.as_slice() {
        [one] => *one,
        [] => {
            return Err(RpcError::node(format!(
                "close: no open channel with id {id}"
            )))
        }
        _ => {
            return Err(RpcError::node(format!(
                "close: peer {id} has {} channels; give a channel id",
                matching.len()
            )))
        }
    };
    let (user_id, peer) = (&channel.user_channel_id, channel.counterparty_node_id);
    let closed = if force {
        daemon
            .node
            .force_close_channel(user_id, peer, Some(FORCE_CLOSE_REASON.to_string()))
    } else {
        daemon.node.close_channel(user_id, peer)
    };
    closed.map_err(|e| RpcError::node(format!("close: {e}")))?;
    Ok(json!({
        "type": if force { "unilateral" } else { "mutual" },
        "channel_id": hex(&channel.channel_id.0),
        "funding_txid": channel.funding_txo.map(|o| o.txid.to_string()),
        "funding_outnum": channel.funding_txo.map(|o| o.vout),
    }))
}

#[cfg(test)]
mod tests {
    use super::scid_text;

    #[test]
    fn short_channel_ids_read_block_tx_output() {
        assert_eq!(scid_text((103 << 40) | (1 << 16)), "103x1x0");
        assert_eq!(
            scid_text((700_000 << 40) | (2_345 << 16) | 7),
            "700000x2345x7"
        );
    }
}
