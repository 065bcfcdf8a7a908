//! Peer methods: connect, disconnect, listpeers.

use std::str::FromStr;

use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::lightning::ln::msgs::SocketAddress;
use serde_json::{json, Value};

use crate::daemon::Daemon;
use crate::jsonrpc::{Params, RpcError, RpcResult};

/// A node id: 66 hex digits of a compressed public key.
pub fn parse_node_id(text: &str) -> Result<PublicKey, RpcError> {
    if text.len() != 66 {
        return Err(RpcError::params(format!(
            "{text:?} is not a node id (66 hex digits)"
        )));
    }
    PublicKey::from_str(text)
        .map_err(|_| RpcError::params(format!("{text:?} is not a valid public key")))
}

/// `connect id [host] [port]`, where `id` may be `ID@HOST:PORT`. The peer is remembered and
/// redialled (every 60 s, and at start) only when `persist` is true.
pub fn connect(daemon: &Daemon, params: &Params) -> RpcResult {
    let id = params.str("id")?;
    let (id, inline_address) = match id.split_once('@') {
        Some((id, address)) => (id, Some(address.to_string())),
        None => (id, None),
    };
    let node_id = parse_node_id(id)?;
    let address = match (inline_address, params.opt_str("host")?) {
        (Some(_), Some(_)) => {
            return Err(RpcError::params(
                "connect: give the address in id or in host, not both",
            ))
        }
        (Some(address), None) => address,
        (None, Some(host)) => format!("{host}:{}", params.opt_u64("port")?.unwrap_or(9735)),
        (None, None) => {
            return Err(RpcError::params(format!(
                "connect: no address known for {node_id}; give host and port"
            )))
        }
    };
    let socket = SocketAddress::from_str(&address)
        .map_err(|_| RpcError::params(format!("connect: {address:?} is not HOST:PORT")))?;
    let persist = params.opt_bool("persist")?.unwrap_or(false);
    daemon.node.connect(node_id, socket, persist).map_err(|e| {
        RpcError::new(
            400,
            format!("connect: cannot reach {node_id} at {address}: {e}"),
        )
    })?;
    Ok(json!({"id": node_id.to_string(), "address": address, "direction": "out"}))
}

/// `disconnect id`: drop the connection and forget the peer's address.
pub fn disconnect(daemon: &Daemon, params: &Params) -> RpcResult {
    let node_id = parse_node_id(params.str("id")?)?;
    if !daemon
        .node
        .list_peers()
        .iter()
        .any(|p| p.node_id == node_id)
    {
        return Err(RpcError::node(format!(
            "disconnect: {node_id} is not a peer"
        )));
    }
    daemon
        .node
        .disconnect(node_id)
        .map_err(|e| RpcError::node(format!("disconnect: {e}")))?;
    Ok(json!({}))
}

/// `listpeers [id]`: connected peers and those remembered for redialling.
pub fn listpeers(daemon: &Daemon, params: &Params) -> RpcResult {
    let only = params.opt_str("id")?.map(parse_node_id).transpose()?;
    let peers: Vec<Value> = daemon
        .node
        .list_peers()
        .into_iter()
        .filter(|p| only.is_none_or(|id| p.node_id == id))
        .map(|p| {
            json!({
                "id": p.node_id.to_string(),
                "connected": p.is_connected,
                "netaddr": [p.address.to_string()],
                "persisted": p.is_persisted,
            })
        })
        .collect();
    Ok(json!({"peers": peers}))
}
