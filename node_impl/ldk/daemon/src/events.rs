//! The event loop: takes each ldk-node event, records what RPC methods wait for, marks it
//! handled, and wakes the waiters.
//!
//! ldk-node persists its event queue and hands an event out until it is marked handled, so
//! whatever is recorded here durably (closed channels) is recorded at least once.

use std::sync::Arc;

use ldk_node::Event;
use serde_json::{json, Value};

use crate::channels;
use crate::daemon::{lock, Daemon, OpenOutcome};
use crate::jsonrpc::hex;

/// Run until the process exits; `wait_next_event` blocks between events.
pub fn run(daemon: Arc<Daemon>) {
    loop {
        let event = daemon.node.wait_next_event();
        log::info!("event: {event:?}");
        record(&daemon, &event);
        if let Err(e) = daemon.node.event_handled() {
            log::error!("could not mark an event handled: {e}");
        }
        daemon.notify();
    }
}

fn record(daemon: &Daemon, event: &Event) {
    // every event may change a channel: keep the snapshot of open channels current
    channels::refresh_snapshot(daemon);
    match event {
        Event::ChannelPending {
            channel_id,
            user_channel_id,
            funding_txo,
            ..
        } => {
            lock(&daemon.opens).insert(
                user_channel_id.0,
                OpenOutcome::Pending {
                    txid: funding_txo.txid.to_string(),
                    outnum: funding_txo.vout,
                    channel_id: hex(&channel_id.0),
                },
            );
        }
        Event::ChannelClosed {
            channel_id,
            user_channel_id,
            reason,
            ..
        } => {
            let reason = reason
                .as_ref()
                .map_or("unknown".to_string(), |r| r.to_string());
            let mut opens = lock(&daemon.opens);
            if !matches!(
                opens.get(&user_channel_id.0),
                Some(OpenOutcome::Pending { .. })
            ) {
                opens.insert(user_channel_id.0, OpenOutcome::Failed(reason.clone()));
            }
            drop(opens);
            let id = hex(&channel_id.0);
            let last = lock(&daemon.open_channels).remove(&id);
            if let Some(mut entry) = last {
                entry["state"] = json!("ONCHAIN");
                entry["peer_connected"] = Value::Bool(false);
                entry["closed_reason"] = json!(reason);
                if let Err(e) = lock(&daemon.closed).insert(id.clone(), entry) {
                    log::error!("could not record closed channel {id}: {e}");
                }
            }
        }
        Event::PaymentFailed {
            payment_hash: Some(hash),
            reason,
            ..
        } => {
            let why = reason.map_or("unknown".to_string(), |r| format!("{r:?}"));
            lock(&daemon.failures).insert(hex(&hash.0), why);
        }
        _ => {}
    }
}
