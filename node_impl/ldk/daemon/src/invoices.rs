//! Invoice methods: invoice, listinvoices, waitinvoice, decodepay.
//!
//! ldk-node keys invoices by payment hash; labels (Core Lightning's handle on an invoice)
//! live in our durable map, written before `invoice` answers.

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ldk_node::bitcoin::hashes::Hash;
use ldk_node::lightning::ln::channelmanager::PaymentId;
use ldk_node::lightning_invoice::{
    Bolt11Invoice, Bolt11InvoiceDescription, Bolt11InvoiceDescriptionRef, Description,
};
use ldk_node::payment::{PaymentDirection, PaymentKind, PaymentStatus};
use serde_json::{json, Value};

use crate::daemon::{lock, Daemon};
use crate::jsonrpc::{decode_hex, hex, Params, RpcError, RpcResult};

/// Core Lightning's code for a label already in use.
const INVOICE_LABEL_ALREADY_EXISTS: i64 = 900;
const DEFAULT_EXPIRY_SECS: u64 = 604_800;
/// How long one `waitinvoice` call waits at most.
const WAIT_LIMIT: Duration = Duration::from_secs(3600);

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Parse a BOLT 11 invoice, naming what is wrong with a bad one.
pub fn parse_invoice(method: &str, text: &str) -> Result<Bolt11Invoice, RpcError> {
    Bolt11Invoice::from_str(text.trim())
        .map_err(|e| RpcError::params(format!("{method}: not a valid bolt11 invoice: {e}")))
}

/// `invoice amount_msat label description [expiry]`; `amount_msat` may be "any".
pub fn invoice(daemon: &Daemon, params: &Params) -> RpcResult {
    let amount = params.amount_msat("amount_msat", Some("any"))?;
    if !params.has("amount_msat") {
        return Err(RpcError::params(
            "invoice: parameter \"amount_msat\" is required",
        ));
    }
    let label = params.str("label")?.to_string();
    let description = params.opt_str("description")?.unwrap_or("").to_string();
    let expiry = params.opt_u64("expiry")?.unwrap_or(DEFAULT_EXPIRY_SECS);
    let expiry = u32::try_from(expiry)
        .map_err(|_| RpcError::params("invoice: parameter \"expiry\" is too large"))?;
    let mut labels = lock(&daemon.invoices);
    if labels.get(&label).is_some() {
        return Err(RpcError::new(
            INVOICE_LABEL_ALREADY_EXISTS,
            format!("Duplicate label {label:?}"),
        ));
    }
    let description = Description::new(description)
        .map_err(|e| RpcError::params(format!("invoice: description: {e}")))?;
    let description = Bolt11InvoiceDescription::Direct(description);
    let payments = daemon.node.bolt11_payment();
    let made = match amount {
        Some(msat) => payments.receive(msat, &description, expiry),
        None => payments.receive_variable_amount(&description, expiry),
    }
    .map_err(|e| RpcError::node(format!("invoice: {e}")))?;
    let hash = hex(made.payment_hash().as_byte_array());
    let expires_at = made.duration_since_epoch().as_secs() + u64::from(expiry);
    let entry = json!({
        "label": label,
        "bolt11": made.to_string(),
        "payment_hash": hash,
        "amount_msat": amount,
        "description": made_description(&made),
        "expires_at": expires_at,
    });
    labels
        .insert(label, entry)
        .map_err(|e| RpcError::node(format!("invoice: could not record its label: {e}")))?;
    Ok(json!({
        "bolt11": made.to_string(),
        "payment_hash": hash,
        "payment_secret": hex(&made.payment_secret().0),
        "expires_at": expires_at,
    }))
}

fn made_description(invoice: &Bolt11Invoice) -> Option<String> {
    match invoice.description() {
        Bolt11InvoiceDescriptionRef::Direct(text) => Some(text.to_string()),
        Bolt11InvoiceDescriptionRef::Hash(_) => None,
    }
}

/// One of our invoices with its current status (paid, unpaid or expired).
fn with_status(daemon: &Daemon, entry: &Value) -> Value {
    let mut entry = entry.clone();
    let hash = entry["payment_hash"]
        .as_str()
        .and_then(decode_hex)
        .unwrap_or_default();
    let id = PaymentId(hash.try_into().unwrap_or([0; 32]));
    let received = daemon.node.payment(&id).filter(|p| {
        p.direction == PaymentDirection::Inbound && p.status == PaymentStatus::Succeeded
    });
    let status = match &received {
        Some(payment) => {
            entry["amount_received_msat"] = json!(payment.amount_msat);
            entry["paid_at"] = json!(payment.latest_update_timestamp);
            if let PaymentKind::Bolt11 {
                preimage: Some(preimage),
                ..
            } = &payment.kind
            {
                entry["payment_preimage"] = json!(hex(&preimage.0));
            }
            "paid"
        }
        None if entry["expires_at"]
            .as_u64()
            .is_some_and(|t| now_secs() >= t) =>
        {
            "expired"
        }
        None => "unpaid",
    };
    entry["status"] = json!(status);
    entry
}

/// `listinvoices [label] [invstring] [payment_hash]`.
pub fn listinvoices(daemon: &Daemon, params: &Params) -> RpcResult {
    let label = params.opt_str("label")?;
    let bolt11 = params.opt_str("invstring")?;
    let hash = params.opt_hex("payment_hash", 32)?.map(|h| hex(&h));
    let entries: Vec<Value> = lock(&daemon.invoices)
        .values()
        .filter(|(l, e)| {
            label.is_none_or(|want| want == l.as_str())
                && bolt11.is_none_or(|want| e["bolt11"] == want)
                && hash.as_deref().is_none_or(|want| e["payment_hash"] == want)
        })
        .map(|(_, e)| e.clone())
        .collect();
    let invoices: Vec<Value> = entries.iter().map(|e| with_status(daemon, e)).collect();
    Ok(json!({"invoices": invoices}))
}

/// `waitinvoice label`: answer once the invoice is paid; an error once it expired.
pub fn waitinvoice(daemon: &Daemon, params: &Params) -> RpcResult {
    let label = params.str("label")?;
    let entry = lock(&daemon.invoices)
        .get(label)
        .cloned()
        .ok_or_else(|| RpcError::node(format!("waitinvoice: unknown invoice label {label:?}")))?;
    let done = daemon.wait_until(WAIT_LIMIT, || {
        let current = with_status(daemon, &entry);
        Ok((current["status"] != "unpaid").then_some(current))
    })?;
    match done {
        Some(current) if current["status"] == "paid" => Ok(current),
        Some(_) => Err(RpcError::new(
            903,
            format!("waitinvoice: invoice {label:?} expired"),
        )),
        None => Err(RpcError::node(format!(
            "waitinvoice: invoice {label:?} still unpaid"
        ))),
    }
}

/// `decodepay bolt11`: the invoice's fields, Core Lightning's names.
pub fn decodepay(_daemon: &Daemon, params: &Params) -> RpcResult {
    let invoice = parse_invoice("decodepay", params.str("bolt11")?)?;
    let created = invoice.duration_since_epoch().as_secs();
    let mut decoded = json!({
        "currency": invoice.currency().to_string(),
        "created_at": created,
        "expiry": invoice.expiry_time().as_secs(),
        "payee": invoice.get_payee_pub_key().to_string(),
        "payment_hash": hex(invoice.payment_hash().as_byte_array()),
        "payment_secret": hex(&invoice.payment_secret().0),
        "min_final_cltv_expiry": invoice.min_final_cltv_expiry_delta(),
        "amount_msat": invoice.amount_milli_satoshis(),
    });
    match invoice.description() {
        Bolt11InvoiceDescriptionRef::Direct(text) => {
            decoded["description"] = json!(text.to_string())
        }
        Bolt11InvoiceDescriptionRef::Hash(hash) => {
            decoded["description_hash"] = json!(hex(hash.0.as_byte_array()))
        }
    }
    if let Some(features) = invoice.features() {
        decoded["features"] = json!(hex(&features
            .le_flags()
            .iter()
            .rev()
            .copied()
            .collect::<Vec<u8>>()));
    }
    Ok(decoded)
}
