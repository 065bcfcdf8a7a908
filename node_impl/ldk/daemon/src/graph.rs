//! Network-graph methods: listchannels, getroute.
//!
//! ldk-node routes internally and does not expose its router, so `getroute` answers whether
//! our gossip graph holds a path that can carry the amount: a breadth-first search over our
//! usable channels, then announced channel directions that are enabled and whose HTLC
//! limits admit the amount (fees ignored). Hops carry Core Lightning's fields, with the fee
//! and delay each forwarding node asks for.

use std::collections::{HashMap, VecDeque};

use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::lightning::routing::gossip::{ChannelUpdateInfo, NodeId};
use serde_json::{json, Value};

use crate::channels::scid_text;
use crate::daemon::Daemon;
use crate::jsonrpc::{Params, RpcError, RpcResult};
use crate::peers::parse_node_id;

const PAY_ROUTE_NOT_FOUND: i64 = 205;
/// The final hop's CLTV delta when the caller gives none (Core Lightning's default).
const DEFAULT_FINAL_CLTV: u64 = 18;

/// One usable direction of a channel: to whom, over which channel, at what price.
#[derive(Clone, Copy)]
struct Edge {
    to: NodeId,
    scid: u64,
    base_msat: u64,
    ppm: u64,
    cltv_delta: u64,
}

fn admits(update: &ChannelUpdateInfo, amount_msat: u64) -> bool {
    update.enabled
        && update.htlc_minimum_msat <= amount_msat
        && amount_msat <= update.htlc_maximum_msat
}

/// Every usable direction of every channel, by the node it leaves.
fn edges(daemon: &Daemon, amount_msat: u64) -> HashMap<NodeId, Vec<Edge>> {
    let mut out: HashMap<NodeId, Vec<Edge>> = HashMap::new();
    let us = NodeId::from_pubkey(&daemon.node.node_id());
    for channel in daemon.node.list_channels() {
        let scid = channel.short_channel_id.or(channel.outbound_scid_alias);
        if let (true, Some(scid)) = (
            channel.is_usable && channel.next_outbound_htlc_limit_msat >= amount_msat,
            scid,
        ) {
            let to = NodeId::from_pubkey(&channel.counterparty_node_id);
            out.entry(us).or_default().push(Edge {
                to,
                scid,
                base_msat: 0,
                ppm: 0,
                cltv_delta: 0,
            });
        }
    }
    let graph = daemon.node.network_graph();
    for scid in graph.list_channels() {
        let Some(info) = graph.channel(scid) else {
            continue;
        };
        for (from, to, update) in [
            (info.node_one, info.node_two, &info.one_to_two),
            (info.node_two, info.node_one, &info.two_to_one),
        ] {
            if from == us {
                continue; // our own channels are taken from the channel manager above
            }
            if let Some(update) = update.as_ref().filter(|u| admits(u, amount_msat)) {
                out.entry(from).or_default().push(Edge {
                    to,
                    scid,
                    base_msat: u64::from(update.fees.base_msat),
                    ppm: u64::from(update.fees.proportional_millionths),
                    cltv_delta: u64::from(update.cltv_expiry_delta),
                });
            }
        }
    }
    out
}

/// The fewest-hop path from `from` to `to`, as the edges taken.
fn shortest_path(
    edges: &HashMap<NodeId, Vec<Edge>>,
    from: NodeId,
    to: NodeId,
) -> Option<Vec<Edge>> {
    let mut came_by: HashMap<NodeId, (NodeId, Edge)> = HashMap::new();
    let mut queue = VecDeque::from([from]);
    while let Some(node) = queue.pop_front() {
        if node == to {
            let mut path = Vec::new();
            let mut at = to;
            while at != from {
                let (prev, edge) = came_by[&at];
                path.push(edge);
                at = prev;
            }
            path.reverse();
            return Some(path);
        }
        for edge in edges.get(&node).into_iter().flatten() {
            if edge.to != from && !came_by.contains_key(&edge.to) {
                came_by.insert(edge.to, (node, *edge));
                queue.push_back(edge.to);
            }
        }
    }
    None
}

/// `getroute id amount_msat [riskfactor] [cltv]`.
pub fn getroute(daemon: &Daemon, params: &Params) -> RpcResult {
    let destination: PublicKey = parse_node_id(params.str("id")?)?;
    let amount = params
        .amount_msat("amount_msat", None)?
        .ok_or_else(|| RpcError::params("getroute: parameter \"amount_msat\" is required"))?;
    let final_cltv = params.opt_u64("cltv")?.unwrap_or(DEFAULT_FINAL_CLTV);
    let us = NodeId::from_pubkey(&daemon.node.node_id());
    let path = shortest_path(
        &edges(daemon, amount),
        us,
        NodeId::from_pubkey(&destination),
    )
    .ok_or_else(|| {
        RpcError::new(
            PAY_ROUTE_NOT_FOUND,
            format!("getroute: no route to {destination} for {amount} msat"),
        )
    })?;
    // amounts and delays from the destination back: hop i pays hop i+1's forwarding fee
    let (mut amount_msat, mut delay) = (amount, final_cltv);
    let mut hops = Vec::with_capacity(path.len());
    for (i, edge) in path.iter().enumerate().rev() {
        hops.push(json!({
            "id": edge.to.as_pubkey().map(|k| k.to_string()).unwrap_or_default(),
            "channel": scid_text(edge.scid),
            "amount_msat": amount_msat,
            "delay": delay,
            "style": "tlv",
        }));
        if i > 0 {
            // the node this edge leaves forwards over it and charges for that
            amount_msat += edge.base_msat + amount_msat * edge.ppm / 1_000_000;
            delay += edge.cltv_delta;
        }
    }
    hops.reverse();
    Ok(json!({"route": hops}))
}

/// `listchannels [short_channel_id]`: both directions of every channel in our graph.
pub fn listchannels(daemon: &Daemon, params: &Params) -> RpcResult {
    let only = params.opt_str("short_channel_id")?;
    let graph = daemon.node.network_graph();
    let mut channels: Vec<Value> = Vec::new();
    for scid in graph.list_channels() {
        if only.is_some_and(|want| want != scid_text(scid)) {
            continue;
        }
        let Some(info) = graph.channel(scid) else {
            continue;
        };
        for (from, to, update) in [
            (info.node_one, info.node_two, &info.one_to_two),
            (info.node_two, info.node_one, &info.two_to_one),
        ] {
            let Some(update) = update else { continue };
            channels.push(json!({
                "source": from.as_pubkey().map(|k| k.to_string()).unwrap_or_default(),
                "destination": to.as_pubkey().map(|k| k.to_string()).unwrap_or_default(),
                "short_channel_id": scid_text(scid),
                "public": info.announcement_message.is_some(),
                "amount_msat": info.capacity_sats.map(|s| s * 1000),
                "active": update.enabled,
                "last_update": update.last_update,
                "base_fee_millisatoshi": update.fees.base_msat,
                "fee_per_millionth": update.fees.proportional_millionths,
                "delay": update.cltv_expiry_delta,
                "htlc_minimum_msat": update.htlc_minimum_msat,
                "htlc_maximum_msat": update.htlc_maximum_msat,
            }));
        }
    }
    Ok(json!({"channels": channels}))
}
