//! Payment methods: pay, keysend, listpays.
//!
//! A payment's outcome comes from ldk-node's payment store (the event loop wakes waiters);
//! `pay` answers when the payment succeeded or failed, or with an error once `retry_for`
//! seconds passed while it is still pending (`listpays` tells the rest).

use std::time::Duration;

use ldk_node::bitcoin::hashes::Hash;
use ldk_node::lightning::ln::channelmanager::PaymentId;
use ldk_node::payment::{PaymentDetails, PaymentDirection, PaymentKind, PaymentStatus};
use ldk_node::NodeError;
use serde_json::{json, Value};

use crate::daemon::{lock, Daemon};
use crate::invoices::parse_invoice;
use crate::jsonrpc::{hex, Params, RpcError, RpcResult};
use crate::peers::parse_node_id;

// Core Lightning's pay error codes
const PAY_DESTINATION_PERM_FAIL: i64 = 203;
const PAY_ROUTE_NOT_FOUND: i64 = 205;
const PAY_INVOICE_EXPIRED: i64 = 207;
const PAY_STOPPED_RETRYING: i64 = 210;
const DEFAULT_RETRY_FOR: u64 = 60;

/// `pay bolt11 [amount_msat] [retry_for]`.
pub fn pay(daemon: &Daemon, params: &Params) -> RpcResult {
    let invoice = parse_invoice("pay", params.str("bolt11")?)?;
    let amount = params.amount_msat("amount_msat", None)?;
    let retry_for = params.opt_u64("retry_for")?.unwrap_or(DEFAULT_RETRY_FOR);
    let id = PaymentId(invoice.payment_hash().to_byte_array());
    if let Some(done) = daemon.node.payment(&id).filter(is_outbound) {
        if done.status != PaymentStatus::Failed {
            // paying again what was paid (or is in flight): report that payment
            return outcome(daemon, id, retry_for);
        }
    }
    let payments = daemon.node.bolt11_payment();
    let sent = match (invoice.amount_milli_satoshis(), amount) {
        (Some(_), Some(_)) => {
            return Err(RpcError::params(
                "pay: the invoice has an amount; do not give amount_msat",
            ))
        }
        (None, None) => {
            return Err(RpcError::params(
                "pay: the invoice has no amount; give amount_msat",
            ))
        }
        (Some(_), None) => payments.send(&invoice, None),
        (None, Some(msat)) => payments.send_using_amount(&invoice, msat, None),
    };
    match sent {
        Ok(_) => outcome(daemon, id, retry_for),
        Err(NodeError::InvalidInvoice) if invoice.is_expired() => Err(RpcError::new(
            PAY_INVOICE_EXPIRED,
            "pay: the invoice has expired",
        )),
        Err(e) => Err(RpcError::new(PAY_STOPPED_RETRYING, format!("pay: {e}"))),
    }
}

/// `keysend destination amount_msat [retry_for]`: a spontaneous payment.
pub fn keysend(daemon: &Daemon, params: &Params) -> RpcResult {
    let destination = parse_node_id(params.str("destination")?)?;
    let amount = params
        .amount_msat("amount_msat", None)?
        .ok_or_else(|| RpcError::params("keysend: parameter \"amount_msat\" is required"))?;
    let retry_for = params.opt_u64("retry_for")?.unwrap_or(DEFAULT_RETRY_FOR);
    let id = daemon
        .node
        .spontaneous_payment()
        .send(amount, destination, None)
        .map_err(|e| RpcError::new(PAY_STOPPED_RETRYING, format!("keysend: {e}")))?;
    outcome(daemon, id, retry_for)
}

fn is_outbound(payment: &PaymentDetails) -> bool {
    payment.direction == PaymentDirection::Outbound
}

/// Wait (at most `retry_for` seconds) for the payment's final status.
fn outcome(daemon: &Daemon, id: PaymentId, retry_for: u64) -> RpcResult {
    let hash = hex(&id.0);
    let settled = daemon.wait_until(Duration::from_secs(retry_for), || {
        Ok(daemon
            .node
            .payment(&id)
            .filter(|p| p.status != PaymentStatus::Pending))
    })?;
    match settled {
        Some(payment) if payment.status == PaymentStatus::Succeeded => Ok(pay_json(&payment)),
        Some(_) => {
            let reason = lock(&daemon.failures)
                .get(&hash)
                .cloned()
                .unwrap_or_default();
            let code = match reason.as_str() {
                "RouteNotFound" => PAY_ROUTE_NOT_FOUND,
                "RecipientRejected" => PAY_DESTINATION_PERM_FAIL,
                "PaymentExpired" => PAY_INVOICE_EXPIRED,
                _ => PAY_STOPPED_RETRYING,
            };
            Err(RpcError::new(
                code,
                format!("payment {hash} failed: {reason}"),
            ))
        }
        None => Err(RpcError::new(
            PAY_STOPPED_RETRYING,
            format!("payment {hash} is still pending after {retry_for}s"),
        )),
    }
}

/// A payment in the shape of Core Lightning's `pay` result and `listpays` entries.
fn pay_json(payment: &PaymentDetails) -> Value {
    let (hash, preimage) = match &payment.kind {
        PaymentKind::Bolt11 { hash, preimage, .. }
        | PaymentKind::Spontaneous { hash, preimage } => {
            (hex(&hash.0), preimage.map(|p| hex(&p.0)))
        }
        _ => (hex(&payment.id.0), None),
    };
    let status = match payment.status {
        PaymentStatus::Pending => "pending",
        PaymentStatus::Succeeded => "complete",
        PaymentStatus::Failed => "failed",
    };
    let amount = payment.amount_msat;
    json!({
        "payment_hash": hash,
        "status": status,
        "payment_preimage": preimage,
        "amount_msat": amount,
        "amount_sent_msat": amount.map(|a| a + payment.fee_paid_msat.unwrap_or(0)),
        "fee_msat": payment.fee_paid_msat,
        "updated_at": payment.latest_update_timestamp,
        "parts": 1,
    })
}

/// `listpays [payment_hash]`: our outgoing BOLT 11 and keysend payments.
pub fn listpays(daemon: &Daemon, params: &Params) -> RpcResult {
    let only = params.opt_hex("payment_hash", 32)?;
    let pays: Vec<Value> = daemon
        .node
        .list_payments_with_filter(|p| {
            is_outbound(p)
                && matches!(
                    p.kind,
                    PaymentKind::Bolt11 { .. } | PaymentKind::Spontaneous { .. }
                )
                && only.as_deref().is_none_or(|h| h == p.id.0)
        })
        .iter()
        .map(pay_json)
        .collect();
    Ok(json!({"pays": pays}))
}
